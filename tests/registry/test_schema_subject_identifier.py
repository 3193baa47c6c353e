"""The ``subject_identifier`` schema flag: which column names the data subject of a row (compliance.subjects)."""

from __future__ import annotations

import pytest

from core.canonical import canonical_digest
from registry.schema import ChangeKind, SchemaError, diff_schemas, fingerprint_schema, parse_schema


def schema(*columns):
    return {"columns": list(columns)}


def col(name, type_="string", **flags):
    return {"name": name, "type": type_, "nullable": False, **flags}


def test_a_subject_identifier_is_declared_and_implies_personal_data():
    # GIVEN a schema whose e-mail column identifies the subject
    parsed = parse_schema(schema(col("email", subject_identifier=True), col("amount", "float64")))

    # THEN the column is a subject identifier and personal data, and the schema lists it
    (email,) = parsed.subject_identifiers()
    assert email.name == "email"
    assert email.personal_data
    assert parsed.to_json()["columns"][0]["subject_identifier"] is True


def test_schemas_without_the_flag_keep_their_canonical_json_and_fingerprint():
    # GIVEN a schema registered before the flag existed (its canonical JSON has no such key)
    raw = schema(col("id", "int64"))
    parsed = parse_schema(raw)

    # THEN its JSON does not grow the key, so its fingerprint (pinned in signed manifests) is unchanged
    assert "subject_identifier" not in parsed.to_json()["columns"][0]
    assert fingerprint_schema(parsed) == canonical_digest(parsed.to_json())
    assert parse_schema(parsed.to_json()) == parsed


@pytest.mark.parametrize(
    ("column", "path", "message"),
    [
        (col("email", subject_identifier=True, personal_data=False), "columns[0].personal_data", "personal data"),
        (col("score", "float64", subject_identifier=True), "columns[0].subject_identifier", "must be one of"),
        (col("tags", "array<string>", subject_identifier=True), "columns[0].subject_identifier", "must be one of"),
        (col("email", subject_identifier="true"), "columns[0].subject_identifier", "true or false"),
        (col("email", subject_identifier=1), "columns[0].subject_identifier", "true or false"),
    ],
)
def test_a_bad_subject_identifier_is_refused_naming_the_field(column, path, message):
    with pytest.raises(SchemaError, match=message) as refused:
        parse_schema(schema(column))
    assert refused.value.path == path


@pytest.mark.parametrize("type_", ["string", "int8", "int16", "int32", "int64"])
def test_every_scalar_identifier_type_is_accepted(type_):
    assert parse_schema(schema(col("id", type_, subject_identifier=True))).subject_identifiers()


def test_dropping_the_flag_needs_review_and_adding_it_does_not():
    with_flag = parse_schema(schema(col("email", subject_identifier=True)))
    without = parse_schema(schema(col("email", personal_data=True)))

    removed = diff_schemas(with_flag, without)
    assert [(c.kind, c.flag, c.needs_review) for c in removed.changes] == [
        (ChangeKind.FLAG_REMOVED, "subject_identifier", True)
    ]
    added = diff_schemas(without, with_flag)
    assert [(c.kind, c.flag, c.needs_review) for c in added.changes] == [
        (ChangeKind.FLAG_ADDED, "subject_identifier", False)
    ]
