"""Canonical JSON (RFC 8785, "JCS") and SHA-256 digests of plain JSON values.

The server's ``core.canonical`` does the same for Django values (dates, UUIDs, decimals), after reducing them to
plain JSON; for a value that already is plain JSON (dicts with string keys, lists, strings, booleans, None, integers
within +-(2**53 - 1), finite floats) both produce the same bytes. A test holds them to it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

from assay_trust.errors import TrustError


def canonical_bytes(value: Any) -> bytes:
    """RFC 8785 bytes of ``value``. Raises ``TrustError`` for what JCS cannot represent: non-string keys, NaN and
    the infinities, integers beyond +-(2**53 - 1), unpaired surrogates, and any type that is not JSON."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as error:
        raise TrustError(f"not canonicalisable JSON: {error}") from None


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def canonical_digest(value: Any) -> str:
    """Lower-case hex SHA-256 of the canonical JSON of ``value``: how a manifest digest is computed."""
    return sha256_hex(canonical_bytes(value))
