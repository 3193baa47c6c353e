"""assay_trust.canonical is RFC 8785, and gives the same bytes as the server's core.canonical for plain JSON."""

from __future__ import annotations

import hashlib

import pytest

from assay_trust.canonical import canonical_bytes, canonical_digest, sha256_hex
from assay_trust.errors import TrustError
from core import canonical as core_canonical

PLAIN_VALUES = [
    {"b": 1, "a": [True, None, "é", 1.5, -0.0, 1e21, 1e-7]},
    {"€": "x", "\u00e9": 2, "a\u0000b": "\u2028"},
    [],
    {"nested": {"z": {"y": [1, 2, {"x": "y"}]}}},
    "text",
    9007199254740991,
]


def test_rfc8785_key_order_and_number_forms() -> None:
    # RFC 8785 section 3.2.3: keys sorted by UTF-16 code units; numbers in the ECMAScript shortest form.
    value = {"b": 1, "a": 2, "\u20ac": 3, "\U0001f600": 4, "\ufb33": 5}
    assert canonical_bytes(value) == '{"a":2,"b":1,"\u20ac":3,"\U0001f600":4,"\ufb33":5}'.encode()
    assert canonical_bytes([1.0, 1e21, 1e-7, -0.0, 0.1]) == b"[1,1e+21,1e-7,0,0.1]"


@pytest.mark.parametrize("value", PLAIN_VALUES)
def test_same_bytes_as_the_server_for_plain_json(value: object) -> None:
    assert canonical_bytes(value) == core_canonical.canonical_bytes(value)
    assert canonical_digest(value) == core_canonical.canonical_digest(value)


def test_digest_is_sha256_of_the_canonical_bytes() -> None:
    value = {"b": [1, 2], "a": "x"}
    assert canonical_digest(value) == hashlib.sha256(b'{"a":"x","b":[1,2]}').hexdigest()
    assert sha256_hex(b"") == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 2**53, {1: "non-string key"}, b"bytes", {"set": {1, 2}}])
def test_what_jcs_cannot_represent_is_refused(value: object) -> None:
    with pytest.raises(TrustError, match="not canonicalisable JSON"):
        canonical_bytes(value)
