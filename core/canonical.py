"""Canonical JSON (RFC 8785, through the ``rfc8785`` package) and the hashes taken over it.

Two steps, kept apart on purpose:

- ``canonical_bytes`` is RFC 8785 exactly: what a signature or a digest covers, and what any other JCS
  implementation reproduces from the same JSON value.
- ``to_stored_json`` prepares a value for a JSON column whose hash is checked later against what the database gives
  back. PostgreSQL's ``jsonb`` keeps numbers as ``numeric`` and prints them back in plain decimal, so a float such as
  ``1e16`` returns as the integer ``10000000000000000``, which RFC 8785 (I-JSON) refuses: the row could be written
  but never verified. It also refuses NaN and NUL characters, which SQLite would accept. ``to_stored_json`` turns every
  such value into one that both databases return unchanged, so the hash of the value read back equals the hash
  computed before the insert.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
from decimal import Decimal
from typing import Any

import rfc8785
from django.core.serializers.json import DjangoJSONEncoder

# The integers an IEEE 754 double holds exactly: RFC 8785 (through I-JSON, RFC 7493) allows no others.
MAX_SAFE_INTEGER = 2**53 - 1

_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


class JSONEncoder(DjangoJSONEncoder):
    """Django's encoder, but datetimes and times keep their microseconds (Django's cuts them to milliseconds,
    which would make an audit record of a change less precise than the change)."""

    def default(self, o: object) -> Any:
        if isinstance(o, datetime.datetime | datetime.time):
            text = o.isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text
        return super().default(o)


def to_json_value(value: object) -> Any:
    """Reduce ``value`` to plain JSON types: dates, UUIDs and decimals become strings, keys become strings."""
    return json.loads(json.dumps(value, cls=JSONEncoder))


def _stable(value: object, path: str) -> Any:
    if isinstance(value, dict):
        return {key: _stable(item, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_stable(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{path}: NUL characters cannot be stored (PostgreSQL refuses them)")
        return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if abs(value) <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return _NON_FINITE[value]
        if value.is_integer() and abs(value) > MAX_SAFE_INTEGER:
            # The decimal the float prints as (1e+16 -> "10000000000000000"), which is what jsonb would return.
            return str(int(Decimal(repr(value))))
        return value
    raise TypeError(f"{path}: {type(value).__name__} is not a JSON value")


def to_stored_json(value: object) -> Any:
    """``to_json_value``, then made to survive a round trip through PostgreSQL ``jsonb`` and SQLite unchanged.

    Integers beyond +-(2**53 - 1), and floats that are whole numbers that large, become their decimal strings; NaN
    and the infinities become ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``. NUL characters are refused
    (``ValueError``). Applying it twice changes nothing.
    """
    plain = json.loads(json.dumps(value, cls=JSONEncoder, allow_nan=True))
    return _stable(plain, "$")


def canonical_bytes(value: object) -> bytes:
    """RFC 8785 canonical JSON of ``value`` (after ``to_json_value``). Raises ``ValueError`` for what JCS cannot
    represent: NaN, infinities, integers beyond +-(2**53 - 1), unpaired surrogates."""
    return rfc8785.dumps(to_json_value(value))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_digest(value: object) -> str:
    """SHA-256 (hex) of the canonical JSON of ``value``."""
    return sha256_hex(canonical_bytes(value))
