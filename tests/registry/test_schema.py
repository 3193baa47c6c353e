"""Dataset schemas: strict parsing, fingerprints and schema evolution (registry/schema/)."""

# Fullwidth test data is written as typed on purpose: that is the input being refused.
# ruff: noqa: RUF001

from __future__ import annotations

import copy
import json
import re

import pytest

from core.canonical import canonical_digest
from registry.schema import (
    MAX_COLUMNS,
    MAX_TYPE_DEPTH,
    ArrayType,
    BreakingSchemaChange,
    ChangeKind,
    Column,
    DecimalType,
    MapType,
    PrimitiveType,
    Schema,
    SchemaDiff,
    SchemaError,
    StructField,
    StructType,
    check_evolution,
    diff_schemas,
    fingerprint_schema,
    parse_schema,
    parse_type,
)


def col(name, type_="int64", nullable=True, **flags):
    return {"name": name, "type": type_, "nullable": nullable, **flags}


def schema(*columns):
    return parse_schema({"columns": list(columns)})


BASE = [
    col("customer_id", "int64", nullable=False),
    col("age", "int32"),
    col("email", "string", personal_data=True),
    col("ethnicity", "string", special_category=True, protected_attribute=True, prohibited_input=True),
    col("balance", "decimal(10,2)"),
]


# --- Types ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "canonical"),
    [
        ("boolean", PrimitiveType("boolean"), "boolean"),
        ("int8", PrimitiveType("int8"), "int8"),
        ("timestamp_ntz", PrimitiveType("timestamp_ntz"), "timestamp_ntz"),
        ("decimal(10,2)", DecimalType(10, 2), "decimal(10,2)"),
        (" decimal ( 38 , 0 ) ", DecimalType(38, 0), "decimal(38,0)"),
        ("array<string>", ArrayType(PrimitiveType("string")), "array<string>"),
        (
            "map<string, array<float64>>",
            MapType(PrimitiveType("string"), ArrayType(PrimitiveType("float64"))),
            "map<string,array<float64>>",
        ),
        (
            "struct<id: int64, tags: array<string>>",
            StructType(
                (StructField("id", PrimitiveType("int64")), StructField("tags", ArrayType(PrimitiveType("string"))))
            ),
            "struct<id:int64,tags:array<string>>",
        ),
    ],
)
def test_types_parse_to_one_canonical_spelling(text, expected, canonical):
    parsed = parse_type(text)
    assert parsed == expected
    assert str(parsed) == canonical
    assert parse_type(canonical) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("int", "unknown type 'int'"),
        ("INT64", "unknown type 'INT64'"),
        ("varchar(10)", "unknown type 'varchar'"),
        ("decimal(0,0)", "precision"),
        ("decimal(39,2)", "precision"),
        ("decimal(5,6)", "scale"),
        ("decimal(10)", "expected ','"),
        ("decimal(99999999999999999999,1)", "small integer"),
        ("array<>", "expected a type name"),
        ("array<int64", "unexpected end"),
        ("array<int64>>", "unexpected text after the type"),
        ("map<array<int8>,string>", "map key"),
        ("map<string>", "expected ','"),
        ("struct<>", "struct field name"),
        ("struct<a:int8,A:string>", "duplicate struct field 'A'"),
        ("struct<a int8>", "expected ':'"),
        ("struct<1a:int8>", "struct field name"),
        ("int64;drop", "unexpected character ';'"),
        ("int\x0064", "unexpected character"),
        ("", "unexpected end"),
        (5, "must be a string"),
        (None, "must be a string"),
        ("array<" * (MAX_TYPE_DEPTH + 1) + "int8" + ">" * (MAX_TYPE_DEPTH + 1), "nest at most"),
        ("array<" * 100_000 + "int8" + ">" * 100_000, "at most 10000"),
    ],
)
def test_bad_types_are_refused_with_the_field_path(text, message):
    with pytest.raises(SchemaError, match=rf"^columns\[3\]\.type: .*{re.escape(message)}") as refused:
        parse_type(text, path="columns[3].type")
    assert refused.value.path == "columns[3].type"
    assert message in str(refused.value)
    assert str(refused.value).startswith("columns[3].type: ")


def test_the_deepest_allowed_nesting_parses():
    text = "array<" * (MAX_TYPE_DEPTH - 1) + "int8" + ">" * (MAX_TYPE_DEPTH - 1)
    assert str(parse_type(text)) == text


# --- parse_schema: accepted -------------------------------------------------------------------------------------------


def test_a_schema_parses_with_defaults_and_round_trips():
    parsed = schema(*BASE)
    assert [c.name for c in parsed.columns] == ["customer_id", "age", "email", "ethnicity", "balance"]
    age = parsed.column("AGE")
    assert age is not None
    assert age.type == PrimitiveType("int32")
    assert age.nullable
    assert (age.personal_data, age.special_category, age.protected_attribute, age.prohibited_input) == (False,) * 4
    assert age.description == ""
    assert parse_schema(parsed.to_json()) == parsed
    assert json.loads(json.dumps(parsed.to_json())) == parsed.to_json()


def test_special_category_implies_personal_data():
    """GIVEN a column marked as special-category data and not marked as personal data
    WHEN the schema is parsed
    THEN it is personal data (GDPR art. 9 data is a subset of personal data)."""
    ethnicity = schema(*BASE).column("ethnicity")
    assert ethnicity is not None
    assert ethnicity.personal_data
    assert ethnicity.special_category


def test_a_schema_of_the_maximum_size_is_accepted():
    parsed = schema(*[col(f"c{index}") for index in range(MAX_COLUMNS)])
    assert len(parsed.columns) == MAX_COLUMNS


# --- parse_schema: refused --------------------------------------------------------------------------------------------


def _with(index, **changes):
    columns = copy.deepcopy(BASE)
    columns[index].update(changes)
    return {"columns": columns}


def _without(index, key):
    columns = copy.deepcopy(BASE)
    del columns[index][key]
    return {"columns": columns}


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        (None, "", "must be an object"),
        ([], "", "must be an object"),
        ("columns", "", "must be an object"),
        ({}, "columns", "is required"),
        ({"columns": {}}, "columns", "must be a list"),
        ({"columns": []}, "columns", "at least one"),
        ({"columns": BASE, "version": 2}, "version", "unknown key"),
        ({"columns": [*BASE, "age"]}, "columns[5]", "must be an object"),
        ({"columns": [*BASE, None]}, "columns[5]", "must be an object"),
        (_with(3, colour="red"), "columns[3].colour", "unknown key"),
        (_without(1, "type"), "columns[1].type", "is required"),
        (_without(1, "nullable"), "columns[1].nullable", "is required"),
        (_without(1, "name"), "columns[1].name", "is required"),
        (_with(3, type="int"), "columns[3].type", "unknown type"),
        (_with(3, type=["int64"]), "columns[3].type", "must be a string"),
        (_with(2, nullable="true"), "columns[2].nullable", "true or false"),
        (_with(2, nullable=1), "columns[2].nullable", "true or false"),
        (_with(2, personal_data=None), "columns[2].personal_data", "true or false"),
        (_with(3, personal_data=False), "columns[3].personal_data", "special-category data is personal data"),
        (_with(1, protected_attribute="yes"), "columns[1].protected_attribute", "true or false"),
        (_with(1, description=7), "columns[1].description", "must be a string"),
        (_with(1, description="x" * 4001), "columns[1].description", "at most 4000"),
        (_with(1, description="a\x00b"), "columns[1].description", "U+0000"),
        (_with(1, description="a\u202eb"), "columns[1].description", "U+202E"),
        (_with(1, name=""), "columns[1].name", "empty"),
        (_with(1, name=12), "columns[1].name", "must be a string"),
        (_with(1, name="a\x00b"), "columns[1].name", "NUL"),
        (_with(1, name="age\u202e"), "columns[1].name", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        (_with(1, name="a\u200bge"), "columns[1].name", "U+200B ZERO WIDTH SPACE"),
        (_with(1, name=" age"), "columns[1].name", "whitespace"),
        (_with(1, name="x" * 256), "columns[1].name", "at most 255"),
        (_with(1, name="Customer_ID"), "columns[1].name", "repeats columns[0].name 'customer_id'"),
        (_with(4, name="ＡＧＥ"), "columns[4].name", "repeats columns[1].name 'age'"),
    ],
)
def test_hostile_or_malformed_schemas_are_refused_naming_the_field(data, path, message):
    """GIVEN client JSON that is not a valid schema
    WHEN it is parsed
    THEN it is refused with the path of the first offending field, and nothing is guessed."""
    with pytest.raises(SchemaError, match=re.escape(message)) as refused:
        parse_schema(data)
    assert refused.value.path == path
    assert message in str(refused.value)


def test_more_columns_than_the_cap_are_refused_before_any_is_read():
    with pytest.raises(SchemaError, match=f"at most {MAX_COLUMNS}") as refused:
        parse_schema({"columns": [None] * (MAX_COLUMNS + 1)})
    assert refused.value.path == "columns"


def test_a_column_cannot_be_built_with_contradictory_flags():
    with pytest.raises(SchemaError, match="special-category"):
        Column("x", PrimitiveType("string"), True, personal_data=False, special_category=True)


def test_a_schema_cannot_be_built_with_duplicate_columns():
    with pytest.raises(SchemaError, match="duplicate column"):
        Schema((Column("a", PrimitiveType("int8"), True), Column("A", PrimitiveType("int8"), True)))


# --- Fingerprint ------------------------------------------------------------------------------------------------------


def test_fingerprint_is_the_canonical_digest_and_ignores_spelling_of_the_input():
    first = schema(col("a", "decimal( 10 ,2 )"), col("b", "map<string , int64>"))
    second = parse_schema(
        {"columns": [{"nullable": True, "type": "decimal(10,2)", "name": "a"}, col("b", "map<string,int64>")]}
    )
    assert fingerprint_schema(first) == fingerprint_schema(second) == canonical_digest(first.to_json())
    assert len(fingerprint_schema(first)) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"type": "int32"},
        {"nullable": False},
        {"personal_data": True},
        {"description": "the amount"},
        {"name": "c"},
    ],
)
def test_any_change_changes_the_fingerprint(change):
    before = schema(col("a", "int64"), col("b", "string"))
    after = schema(col("a", "int64"), {**col("b", "string"), **change})
    assert fingerprint_schema(before) != fingerprint_schema(after)


def test_column_order_is_part_of_the_fingerprint():
    assert fingerprint_schema(schema(col("a"), col("b"))) != fingerprint_schema(schema(col("b"), col("a")))


# --- Evolution --------------------------------------------------------------------------------------------------------


def _single_change(old_columns, new_columns):
    diff = diff_schemas(schema(*old_columns), schema(*new_columns))
    assert len(diff.changes) == 1, diff.changes
    return diff, diff.changes[0]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("int8", "int16"),
        ("int8", "int64"),
        ("int16", "int32"),
        ("int32", "int64"),
        ("float32", "float64"),
        ("int8", "float32"),
        ("int16", "float32"),
        ("int32", "float64"),
        ("int32", "decimal(10,0)"),
        ("int64", "decimal(20,1)"),
        ("decimal(10,2)", "decimal(12,2)"),
        ("decimal(10,2)", "decimal(12,4)"),
        ("date", "timestamp_ntz"),
        ("array<int32>", "array<int64>"),
        ("map<string,float32>", "map<string,float64>"),
        ("struct<a:int8>", "struct<a:int16>"),
        ("struct<a:int8>", "struct<a:int8,b:string>"),
        ("array<struct<a:int32>>", "array<struct<a:int64,b:date>>"),
    ],
)
def test_widened_types_are_compatible(old, new):
    """GIVEN a column whose type becomes one holding every old value exactly
    WHEN the versions are compared
    THEN the change is reported as a compatible widening."""
    diff, change = _single_change([col("x", old)], [col("x", new)])
    assert change.kind == ChangeKind.TYPE_WIDENED
    assert change.compatible
    assert not diff.is_breaking
    assert old.replace(" ", "") in change.detail
    assert new in change.detail


@pytest.mark.parametrize(
    ("old", "new", "verb"),
    [
        ("int64", "int32", "narrowed"),
        ("float64", "float32", "narrowed"),
        ("int64", "float64", "changed"),  # large integers would be rounded
        ("int32", "float32", "changed"),
        ("decimal(12,2)", "decimal(10,2)", "narrowed"),
        ("decimal(10,2)", "decimal(10,4)", "changed"),  # fewer integer digits
        ("decimal(10,4)", "decimal(12,2)", "changed"),  # fewer fraction digits
        ("int64", "decimal(18,0)", "changed"),
        ("int32", "string", "changed"),
        ("string", "binary", "changed"),
        ("date", "timestamp", "changed"),  # would depend on the reader's time zone
        ("timestamp", "timestamp_ntz", "changed"),
        ("timestamp_ntz", "date", "narrowed"),
        ("array<int64>", "array<int32>", "narrowed"),
        ("map<int32,string>", "map<int64,string>", "changed"),  # keys are values looked up
        ("struct<a:int8,b:string>", "struct<a:int8>", "narrowed"),
        ("struct<a:int8>", "struct<A:int8>", "changed"),
        ("array<int8>", "int8", "changed"),
    ],
)
def test_narrowed_or_changed_types_are_breaking(old, new, verb):
    """GIVEN a column whose new type cannot hold every old value exactly
    WHEN the versions are compared
    THEN the change is breaking, and says whether it narrowed or changed the type."""
    diff, change = _single_change([col("x", old)], [col("x", new)])
    assert change.kind == ChangeKind.TYPE_CHANGED
    assert not change.compatible
    assert diff.is_breaking
    assert f"type {verb} from" in change.detail


def test_added_nullable_column_is_compatible_and_non_nullable_is_breaking():
    """GIVEN a new version adding one nullable and one non-nullable column
    WHEN it is compared with the previous one
    THEN the nullable addition is compatible and the other is breaking (earlier rows have no value)."""
    diff = diff_schemas(schema(*BASE), schema(*BASE, col("score", "float64"), col("region", "string", nullable=False)))
    assert [(c.kind, c.column, c.compatible) for c in diff.changes] == [
        (ChangeKind.COLUMN_ADDED, "score", True),
        (ChangeKind.COLUMN_ADDED, "region", False),
    ]
    assert diff.is_breaking
    assert [c.column for c in diff.breaking_changes] == ["region"]


def test_dropped_column_is_breaking():
    diff, change = _single_change(BASE, BASE[:4])
    assert (change.kind, change.column, change.compatible) == (ChangeKind.COLUMN_DROPPED, "balance", False)
    assert diff.is_breaking


def test_renamed_column_is_detected_and_breaking():
    """GIVEN a version where one column disappears and one appears with the same type, nullability and flags
    WHEN it is compared with the previous one
    THEN one breaking rename is reported with both names, not a drop and an add."""
    renamed = copy.deepcopy(BASE)
    renamed[2]["name"] = "email_address"
    _diff, change = _single_change(BASE, renamed)
    assert change.kind == ChangeKind.COLUMN_RENAMED
    assert (change.column, change.previous_column, change.compatible) == ("email_address", "email", False)
    assert "'email'" in change.detail


def test_a_rename_with_other_flags_is_a_drop_and_an_add():
    renamed = copy.deepcopy(BASE)
    renamed[2].update(name="email_hash", personal_data=False)
    diff = diff_schemas(schema(*BASE), schema(*renamed))
    assert {(c.kind, c.column) for c in diff.changes} == {
        (ChangeKind.COLUMN_ADDED, "email_hash"),
        (ChangeKind.COLUMN_DROPPED, "email"),
    }


def test_ambiguous_renames_are_left_as_drops_and_adds():
    old = schema(col("a", "int64"), col("b", "int64"), col("keep"))
    new = schema(col("c", "int64"), col("d", "int64"), col("keep"))
    kinds = sorted(c.kind.value for c in diff_schemas(old, new).changes)
    assert kinds == ["column_added", "column_added", "column_dropped", "column_dropped"]


def test_diffing_two_disjoint_schemas_of_the_maximum_size_stays_linear():
    """GIVEN two versions of MAX_COLUMNS columns with no name in common and all of one type
    WHEN they are compared
    THEN every column is a drop or an add (no rename can be told apart), computed without pairing every column with
    every other (the suite's timeout would catch a quadratic pass)."""
    old = schema(*[col(f"old_{index}") for index in range(MAX_COLUMNS)])
    new = schema(*[col(f"new_{index}") for index in range(MAX_COLUMNS)])
    diff = diff_schemas(old, new)
    assert len(diff.changes) == 2 * MAX_COLUMNS
    assert {change.kind for change in diff.changes} == {ChangeKind.COLUMN_ADDED, ChangeKind.COLUMN_DROPPED}


def test_a_change_of_letter_case_is_a_breaking_rename():
    _diff, change = _single_change([col("Age")], [col("age")])
    assert (change.kind, change.column, change.previous_column) == (ChangeKind.COLUMN_RENAMED, "age", "Age")
    assert not change.compatible


@pytest.mark.parametrize(
    ("old_nullable", "new_nullable", "kind", "compatible"),
    [
        (False, True, ChangeKind.NULLABILITY_RELAXED, True),
        (True, False, ChangeKind.NULLABILITY_TIGHTENED, False),
    ],
)
def test_nullability(old_nullable, new_nullable, kind, compatible):
    """GIVEN a column whose nullability changes
    WHEN the versions are compared
    THEN relaxing is compatible and tightening is breaking (earlier rows may hold nulls)."""
    diff, change = _single_change([col("x", nullable=old_nullable)], [col("x", nullable=new_nullable)])
    assert (change.kind, change.compatible, diff.is_breaking) == (kind, compatible, not compatible)


@pytest.mark.parametrize(
    ("flag", "old_flags", "new_flags", "kind", "needs_review"),
    [
        ("personal_data", {}, {"personal_data": True}, ChangeKind.FLAG_ADDED, False),
        ("personal_data", {"personal_data": True}, {}, ChangeKind.FLAG_REMOVED, True),
        ("protected_attribute", {}, {"protected_attribute": True}, ChangeKind.FLAG_ADDED, False),
        ("protected_attribute", {"protected_attribute": True}, {}, ChangeKind.FLAG_REMOVED, True),
        ("prohibited_input", {"prohibited_input": True}, {}, ChangeKind.FLAG_REMOVED, True),
        ("special_category", {"special_category": True}, {"personal_data": True}, ChangeKind.FLAG_REMOVED, True),
    ],
)
def test_privacy_flag_changes_are_always_reported(flag, old_flags, new_flags, kind, needs_review):
    """GIVEN a column whose privacy flags change
    WHEN the versions are compared
    THEN the change is reported (it does not break readers), and removing a protection needs review."""
    diff, change = _single_change([col("x", **old_flags)], [col("x", **new_flags)])
    assert (change.kind, change.flag, change.compatible, change.needs_review) == (kind, flag, True, needs_review)
    assert not diff.is_breaking
    assert diff.needs_review is needs_review


def test_removing_special_category_and_personal_data_reports_both():
    diff = diff_schemas(schema(col("x", special_category=True)), schema(col("x")))
    assert [(c.kind, c.flag) for c in diff.changes] == [
        (ChangeKind.FLAG_REMOVED, "personal_data"),
        (ChangeKind.FLAG_REMOVED, "special_category"),
    ]
    assert diff.needs_review


def test_description_changes_are_reported_as_compatible():
    _, change = _single_change([col("x", description="old")], [col("x", description="new")])
    assert (change.kind, change.compatible) == (ChangeKind.DESCRIPTION_CHANGED, True)


def test_identical_and_reordered_schemas_have_no_changes():
    assert diff_schemas(schema(*BASE), schema(*BASE)).changes == ()
    assert diff_schemas(schema(*BASE), schema(*reversed(BASE))).changes == ()


def test_diff_json_round_trips_and_leads_with_the_verdicts():
    new = copy.deepcopy(BASE)
    new[2]["personal_data"] = False
    new[1]["type"] = "int16"
    diff = diff_schemas(schema(*BASE), schema(*new))
    stored = diff.to_json()
    assert stored["breaking"] is True
    assert stored["needs_review"] is True
    assert json.loads(json.dumps(stored)) == stored
    assert SchemaDiff.from_json(stored) == diff
    assert canonical_digest(stored)  # storable as canonical JSON (no NaN, no NUL, no big integers)


def test_a_breaking_change_needs_the_explicit_flag():
    """GIVEN a new version that drops a column
    WHEN it is checked without the breaking-change flag
    THEN it is refused, naming the breaking change; with the flag it passes and the diff records it as breaking."""
    old, new = schema(*BASE), schema(*BASE[:4])
    with pytest.raises(BreakingSchemaChange, match=r"^breaking schema change .*: balance: dropped") as refused:
        check_evolution(old, new, allow_breaking=False)
    assert "balance: dropped" in str(refused.value)
    assert refused.value.diff.is_breaking
    recorded = check_evolution(old, new, allow_breaking=True)
    assert recorded.to_json()["breaking"] is True


def test_compatible_changes_and_first_versions_need_no_flag():
    old = schema(*BASE)
    assert check_evolution(None, old, allow_breaking=False).changes == ()
    diff = check_evolution(old, schema(*BASE, col("score", "float64")), allow_breaking=False)
    assert not diff.is_breaking
    assert len(diff.changes) == 1
