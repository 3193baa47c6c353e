"""Canonical JSON (RFC 8785) and the values an audit event's hash covers, after a round trip through the database."""

from __future__ import annotations

import datetime
import json
import math
import uuid
from decimal import Decimal

import pytest
from django.db import transaction

from core.audit import compute_hash, record_event, verify_chain
from core.canonical import canonical_bytes, canonical_digest, to_json_value, to_stored_json
from core.choices import AuditEventType
from core.models import AuditEvent

# RFC 8785, section 3.2.2 (the sample input, as JSON text) and its canonical form.
RFC8785_INPUT = r"""{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""
RFC8785_OUTPUT = (
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
    '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
)

# RFC 8785, section 3.2.3: properties sorted by their UTF-16 code units.
RFC8785_SORTING_INPUT = r"""{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"""
RFC8785_SORTING_ORDER = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_rfc8785_sample_canonicalizes_as_the_rfc_says():
    """GIVEN the sample of RFC 8785 section 3.2.2 WHEN canonicalized THEN the bytes are the RFC's output."""
    assert canonical_bytes(json.loads(RFC8785_INPUT)) == RFC8785_OUTPUT.encode()


def test_rfc8785_sorting_follows_utf16_code_units():
    """GIVEN the sorting sample of RFC 8785 section 3.2.3 WHEN canonicalized THEN keys come in the RFC's order."""
    output = canonical_bytes(json.loads(RFC8785_SORTING_INPUT)).decode()
    assert list(json.loads(output)) == RFC8785_SORTING_ORDER
    assert output.startswith('{"\\r":"Carriage Return","1":"One","\u0080":"Control"')


@pytest.mark.parametrize(
    ("number", "expected"),
    # RFC 8785 appendix B: IEEE 754 doubles and their canonical text.
    [(0.0, "0"), (-0.0, "0"), (1e21, "1e+21"), (1e-7, "1e-7"), (9007199254740991.0, "9007199254740991"),
     (295147905179352830000.0, "295147905179352830000"), (5e-324, "5e-324"), (333333333.3333332, "333333333.3333332")],
)  # fmt: skip
def test_rfc8785_number_vectors(number, expected):
    """GIVEN a double from RFC 8785 appendix B WHEN canonicalized THEN its text is the RFC's."""
    assert canonical_bytes(number) == expected.encode()


def test_canonical_form_ignores_key_order_and_whitespace():
    """GIVEN the same object written in two key orders WHEN digested THEN the digests are equal."""
    assert canonical_digest({"b": [1, {"y": 2, "x": 1}], "a": "é"}) == canonical_digest(
        json.loads('{ "a" : "\\u00e9", "b" : [1, {"x": 1, "y": 2}] }')
    )


def test_canonical_refuses_what_jcs_cannot_represent():
    """GIVEN NaN, a large integer or an unpaired surrogate WHEN canonicalized THEN a ValueError says so."""
    for bad, message in ((math.nan, "nan"), (2**53, "safe integer"), ("\ud800", "UTF-8")):
        with pytest.raises(ValueError, match=message):
            canonical_bytes(bad)


def test_json_value_keeps_microseconds_and_stringifies_rich_types():
    """GIVEN datetimes, decimals and UUIDs WHEN reduced to JSON THEN nothing of their precision is lost."""
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert to_json_value({"at": moment, "amount": Decimal("0.10"), "id": ident, 7: "seven"}) == {
        "at": "2026-01-02T03:04:05.123456Z",
        "amount": "0.10",
        "id": "12345678-1234-5678-1234-567812345678",
        "7": "seven",
    }


def test_stored_json_makes_unrepresentable_numbers_strings_and_is_idempotent():
    """GIVEN numbers PostgreSQL or RFC 8785 would change or refuse WHEN prepared for storage THEN they become
    strings, others stay, and preparing again changes nothing."""
    value = {"big": 2**63, "neg": -(2**60), "f": 1e16, "huge": 1e308, "nan": math.nan, "inf": -math.inf, "ok": 0.1}
    stored = to_stored_json(value)
    assert stored == {
        "big": "9223372036854775808",
        "neg": "-1152921504606846976",
        "f": "10000000000000000",
        "huge": "1" + "0" * 308,
        "nan": "NaN",
        "inf": "-Infinity",
        "ok": 0.1,
    }
    assert to_stored_json(stored) == stored


def test_stored_json_refuses_nul():
    """GIVEN a NUL character (PostgreSQL cannot store it) WHEN prepared for storage THEN it is refused on every
    backend alike, naming where it is."""
    with pytest.raises(ValueError, match=r"\$\.a\[1\]: NUL"):
        to_stored_json({"a": ["ok", "bad\x00"]})


ROUND_TRIP = {
    "float": 0.1,
    "float_sum": 0.1 + 0.2,
    "whole_float": 3.0,
    "negative_zero": -0.0,
    "small": 1.5e-7,
    "tiny": 5e-324,
    "float_beyond_2_53": 1e16,
    "float_huge": 1e308,
    "int_max_safe": 2**53 - 1,
    "int_beyond_2_53": 2**63 + 1,
    "nan": math.nan,
    "unicode": "é e\u0301 \u2028 \U0001f600 \ufb33 日本",
    "escapes": 'quote" backslash\\ tab\t newline\n \u007f',
    "nested": {"b": {"z": 1, "a": [1, {"y": None, "x": True}]}, "a": [], "": {}},
    "int_keys": {1: "one", 10: "ten", 2: "two"},
    "datetime": datetime.datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=datetime.UTC),
    "decimal": Decimal("12345678901234567890.123456789"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(ROUND_TRIP))
def test_hash_survives_the_round_trip_through_the_database(name):
    """GIVEN a value of an awkward kind in an event's before, after and metadata WHEN the event is read back from
    the database THEN its hash recomputes to the stored one and the chain verifies."""
    value = ROUND_TRIP[name]
    with transaction.atomic():
        recorded = record_event(
            AuditEventType.TEAM_UPDATED,
            actor=None,
            before={"v": value},
            after={"list": [value, value]},
            metadata={"nested": {"v": value}},
            target_repr=f"the {name} case é\U0001f600",
        )
    fresh = AuditEvent.objects.get(pk=recorded.pk)
    assert compute_hash(fresh) == recorded.hash == fresh.hash
    assert fresh.before == recorded.before
    assert verify_chain().intact


@pytest.mark.django_db
def test_occurred_at_keeps_its_microseconds_through_the_database():
    """GIVEN an event recorded at a time with microseconds WHEN read back THEN the time is exact to the
    microsecond and its hash text carries all six digits."""
    with transaction.atomic():
        recorded = record_event(AuditEventType.TEAM_UPDATED, actor=None)
    fresh = AuditEvent.objects.get(pk=recorded.pk)
    assert fresh.occurred_at == recorded.occurred_at
    assert compute_hash(fresh) == recorded.hash


@pytest.mark.django_db
def test_overlong_text_is_cut_alike_on_every_backend():
    """GIVEN a target description longer than its column WHEN recorded THEN it is cut to the column's length (SQLite
    would keep it whole, PostgreSQL would refuse it) and the hash covers what is stored."""
    with transaction.atomic():
        recorded = record_event(AuditEventType.TEAM_UPDATED, actor=None, target_repr="x" * 400, target_id="7" * 80)
    fresh = AuditEvent.objects.get(pk=recorded.pk)
    assert (len(fresh.target_repr), len(fresh.target_id)) == (255, 64)
    assert compute_hash(fresh) == fresh.hash
