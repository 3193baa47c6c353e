"""JSON nested thousands of levels deep, inside a signed payload or inside a string of a request, is refused as
invalid or suspicious, never a RecursionError (a 500 at the API before: issue 10)."""

from __future__ import annotations

import pytest

from assay_trust.keys import contains_private_key
from assay_trust.statement import MAX_STATEMENT_BYTES, StatementError, parse_statement


@pytest.mark.parametrize("opening", [b"[", b'{"a":'])
def test_a_deeply_nested_payload_is_a_statement_error(opening):
    levels = (MAX_STATEMENT_BYTES - 16) // (len(opening) + 1)
    payload = opening * levels + b"1" + (b"]" if opening == b"[" else b"}") * levels
    assert len(payload) <= MAX_STATEMENT_BYTES
    with pytest.raises(StatementError, match="nested too deeply"):
        parse_statement(payload)


def test_deep_json_inside_a_string_counts_as_suspicious_not_a_crash():
    # The private-key scan parses JSON it finds in strings (a DSSE payload, a pasted JWK).
    deep = "[" * 5000 + "]" * 5000
    assert contains_private_key({"payloadType": "x", "payload": deep}) is True
    assert contains_private_key({"payload": "[[1]]"}) is False
