"""The approval statement: built and parsed by the same rules, canonical bytes only, exact keys and types."""

from __future__ import annotations

import copy
import datetime
import json

import pytest

from assay_trust.canonical import canonical_bytes
from assay_trust.errors import StatementError
from assay_trust.statement import (
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    build_statement,
    parse_statement,
    statement_bytes,
    subject_name,
)

FINGERPRINT = "sha256:" + "ab" * 32
FIELDS = {
    "subject_name": "credit-risk/Churn scorer@v3",
    "artifact_sha256": "cd" * 32,
    "release_id": "5b0c3c4e-2f43-4c39-9d59-51f0b3d0a7a1",
    "manifest_digest": "ef" * 32,
    "decision": "approve",
    "board_role": "legal",
    "comment": "Checked the DPIA.",
    "signer_username": "lena-legal",
    "signer_key": FINGERPRINT,
}


def statement(**overrides) -> dict:
    return build_statement(**{**FIELDS, **overrides})


def test_the_statement_is_in_toto_v1_with_our_predicate() -> None:
    value = statement(
        signed_at=datetime.datetime(2026, 1, 5, 11, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    )
    assert value == {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "credit-risk/Churn scorer@v3", "digest": {"sha256": "cd" * 32}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "release": "5b0c3c4e-2f43-4c39-9d59-51f0b3d0a7a1",
            "manifest_digest": "ef" * 32,
            "decision": "approve",
            "board_role": "legal",
            "comment": "Checked the DPIA.",
            "signer": {"username": "lena-legal", "key": FINGERPRINT},
            "signed_at": "2026-01-05T10:00:00Z",
        },
    }
    assert subject_name("credit-risk", "Churn scorer", 3) == FIELDS["subject_name"]


def test_round_trip_through_canonical_bytes() -> None:
    for value in (statement(), statement(signed_at="2026-01-05T10:00:00.123Z", decision="reject", comment="")):
        payload = statement_bytes(value)
        assert payload == canonical_bytes(value)
        parsed = parse_statement(payload)
        assert parsed.to_dict() == value
        assert statement_bytes(parsed) == payload


def test_release_ids_may_be_integers_and_become_strings() -> None:
    assert statement(release_id=42)["predicate"]["release"] == "42"


def test_non_canonical_payloads_are_refused() -> None:
    value = statement()
    for payload in (
        json.dumps(value).encode(),  # spaces, key order
        statement_bytes(value) + b"\n",
        json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        .replace("credit", "cr\\u0065dit")
        .encode(),
    ):
        with pytest.raises(StatementError, match="payload is not canonical"):
            parse_statement(payload)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"subject_name": "no-team-model"}, "subject\\[0\\].name: expected <team>/<model name>@v<number>"),
        ({"subject_name": "team/model@v0"}, "subject\\[0\\].name"),
        ({"subject_name": "t/" + "m" * 600 + "@v1"}, "longer than 512"),
        ({"artifact_sha256": "CD" * 32}, "digest.sha256: expected 64 lower-case hex"),
        ({"artifact_sha256": "cd" * 31}, "digest.sha256"),
        ({"release_id": ""}, "predicate.release: must not be empty"),
        ({"release_id": "a b"}, "predicate.release: expected a release id"),
        ({"manifest_digest": "x"}, "predicate.manifest_digest"),
        ({"decision": "maybe"}, "predicate.decision: expected approve or reject"),
        ({"board_role": "chief"}, "predicate.board_role: expected one of legal, compliance, risk, privacy, technical"),
        ({"comment": "x" * 2001}, "predicate.comment: longer than 2000"),
        ({"comment": None}, "predicate.comment: expected a string"),
        ({"signer_username": ""}, "predicate.signer.username: must not be empty"),
        ({"signer_username": " lena"}, "no leading or trailing spaces"),
        ({"signer_key": "lena's key"}, "predicate.signer.key: expected a key fingerprint"),
        ({"signed_at": "yesterday"}, "predicate.signed_at: expected an RFC 3339 UTC time"),
        ({"signed_at": "2026-02-30T10:00:00Z"}, "predicate.signed_at: not a real date"),
        ({"signed_at": "2026-01-05T10:00:00+01:00"}, "predicate.signed_at: expected an RFC 3339 UTC time"),
    ],
)
def test_build_refuses_bad_fields_naming_them(overrides: dict, message: str) -> None:
    with pytest.raises(StatementError, match=message):
        statement(**overrides)


def reencoded(change) -> bytes:
    value = copy.deepcopy(statement())
    change(value)
    return canonical_bytes(value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(_type="https://in-toto.io/Statement/v0.1"), "_type: expected"),
        (lambda s: s.update(predicateType="https://slsa.dev/provenance/v1"), "predicateType: expected"),
        (lambda s: s.update(extra=1), "statement: unexpected extra"),
        (lambda s: s.pop("predicate"), "statement: missing predicate"),
        (lambda s: s["subject"].append(s["subject"][0]), "exactly one subject"),
        (lambda s: s.update(subject={}), "exactly one subject"),
        (lambda s: s["subject"][0]["digest"].update(sha512="00"), "subject\\[0\\].digest: unexpected sha512"),
        (lambda s: s["subject"][0].update(annotations={}), "subject\\[0\\]: unexpected annotations"),
        (lambda s: s["predicate"].update(approved=True), "predicate: unexpected approved"),
        (lambda s: s["predicate"].pop("board_role"), "predicate: missing board_role"),
        (lambda s: s["predicate"]["signer"].update(email="x"), "predicate.signer: unexpected email"),
        (lambda s: s["predicate"].update(release=42), "predicate.release: expected a string"),
        (lambda s: s["predicate"].update(decision=["approve"]), "predicate.decision"),
        (lambda s: s["predicate"].update(signer="lena"), "predicate.signer: expected an object"),
    ],
)
def test_parse_refuses_anything_but_our_statement(change, message: str) -> None:
    with pytest.raises(StatementError, match=message):
        parse_statement(reencoded(change))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{", "not JSON"),
        (b"[]", "statement: expected an object"),
        (b'{"_type":1,"_type":2}', "duplicate key '_type'"),
        (b'{"a":NaN}', "NaN is not JSON"),
        (b" " * 20000, "larger than"),
    ],
)
def test_parse_refuses_what_is_not_a_json_statement(payload: bytes, message: str) -> None:
    with pytest.raises(StatementError, match=message):
        parse_statement(payload)
