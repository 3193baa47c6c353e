"""Canonical JSON (RFC 8785, through the ``rfc8785`` package) and the hashes taken over it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785
from django.core.serializers.json import DjangoJSONEncoder


def to_json_value(value: Any) -> Any:
    """Reduce ``value`` to plain JSON types (dates, UUIDs and decimals become strings), as it will be stored."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def canonical_bytes(value: Any) -> bytes:
    return rfc8785.dumps(to_json_value(value))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_digest(value: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``value``."""
    return sha256_hex(canonical_bytes(value))
