"""Parsing a dataset schema from client JSON, strictly: unknown keys, loose types, unknown type names and duplicate
columns are refused with the path of the offending field."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from registry.naming import NameRefused, validate_display_name
from registry.schema.datatypes import (
    MAX_COLUMN_NAME_LENGTH,
    MAX_COLUMNS,
    MAX_DECIMAL_PRECISION,
    MAX_DESCRIPTION_LENGTH,
    MAX_STRUCT_FIELDS,
    MAX_TYPE_DEPTH,
    MAX_TYPE_LENGTH,
    PRIMITIVE_TYPES,
    SUBJECT_IDENTIFIER_TYPES,
    ArrayType,
    Column,
    DataType,
    DecimalType,
    MapType,
    PrimitiveType,
    Schema,
    SchemaError,
    StructField,
    StructType,
    fold_name,
)

_COLUMN_KEYS = frozenset(
    {
        "name",
        "type",
        "nullable",
        "personal_data",
        "special_category",
        "protected_attribute",
        "prohibited_input",
        "subject_identifier",
        "description",
    }
)
_REQUIRED_COLUMN_KEYS = ("name", "type", "nullable")

_STRUCT_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_TOKEN = re.compile(r"\s*(?:(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<number>[0-9]+)|(?P<punct>[<>(),:]))")


class _TypeParser:
    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.tokens = self.tokenize()
        self.index = 0

    def fail(self, message: str, position: int | None = None) -> SchemaError:
        if position is None:
            position = self.tokens[self.index][2] if self.index < len(self.tokens) else len(self.text)
        shown = self.text if len(self.text) <= 80 else self.text[:77] + "..."
        return SchemaError(self.path, f"{message} at character {position + 1} of {shown!r}")

    def tokenize(self) -> list[tuple[str, str, int]]:
        tokens = []
        position = 0
        while position < len(self.text):
            match = _TOKEN.match(self.text, position)
            if match is None or match.lastgroup is None:
                if not self.text[position:].strip():
                    break
                offset = len(self.text[position:]) - len(self.text[position:].lstrip())
                raise self.fail(f"unexpected character {self.text[position + offset]!r}", position + offset)
            tokens.append((match.lastgroup, match.group(match.lastgroup), match.start(match.lastgroup)))
            position = match.end()
        return tokens

    def peek(self) -> tuple[str, str] | None:
        if self.index >= len(self.tokens):
            return None
        kind, value, _ = self.tokens[self.index]
        return kind, value

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise self.fail("unexpected end of type")
        self.index += 1
        return token

    def expect(self, punct: str) -> None:
        kind, value = self.take()
        if kind != "punct" or value != punct:
            self.index -= 1
            raise self.fail(f"expected {punct!r}, found {value!r}")

    def number(self, what: str) -> int:
        kind, value = self.take()
        if kind != "number" or len(value) > 3:
            self.index -= 1
            raise self.fail(f"expected the {what} as a small integer, found {value!r}")
        return int(value)

    def parse(self) -> DataType:
        result = self.type(depth=1)
        if self.peek() is not None:
            raise self.fail("unexpected text after the type")
        return result

    def type(self, depth: int) -> DataType:
        if depth > MAX_TYPE_DEPTH:
            raise self.fail(f"types may nest at most {MAX_TYPE_DEPTH} levels deep")
        kind, word = self.take()
        if kind != "word":
            self.index -= 1
            raise self.fail(f"expected a type name, found {word!r}")
        if word in PRIMITIVE_TYPES:
            return PrimitiveType(word)
        if word == "decimal":
            self.expect("(")
            precision = self.number("precision")
            self.expect(",")
            scale = self.number("scale")
            self.expect(")")
            if not 1 <= precision <= MAX_DECIMAL_PRECISION or scale > precision:
                raise self.fail(f"decimal needs 1 <= precision <= {MAX_DECIMAL_PRECISION} and 0 <= scale <= precision")
            return DecimalType(precision, scale)
        if word == "array":
            self.expect("<")
            element = self.type(depth + 1)
            self.expect(">")
            return ArrayType(element)
        if word == "map":
            self.expect("<")
            key = self.type(depth + 1)
            if not isinstance(key, PrimitiveType | DecimalType):
                raise self.fail("a map key must be a primitive or decimal type")
            self.expect(",")
            value = self.type(depth + 1)
            self.expect(">")
            return MapType(key, value)
        if word == "struct":
            return self.struct(depth)
        self.index -= 1
        raise self.fail(
            f"unknown type {word!r}; known: {', '.join([*PRIMITIVE_TYPES, 'decimal(p,s)'])}, "
            "array<T>, map<K,V>, struct<name:T,...>"
        )

    def struct(self, depth: int) -> StructType:
        self.expect("<")
        fields: list[StructField] = []
        seen: set[str] = set()
        while True:
            kind, name = self.take()
            if kind != "word" or not _STRUCT_FIELD_NAME.fullmatch(name):
                self.index -= 1
                raise self.fail(f"expected a struct field name (letters, digits, _), found {name!r}")
            if fold_name(name) in seen:
                self.index -= 1
                raise self.fail(f"duplicate struct field {name!r}")
            seen.add(fold_name(name))
            self.expect(":")
            fields.append(StructField(name, self.type(depth + 1)))
            if len(fields) > MAX_STRUCT_FIELDS:
                raise self.fail(f"a struct may have at most {MAX_STRUCT_FIELDS} fields")
            kind, value = self.take()
            if value == ">":
                return StructType(tuple(fields))
            if value != ",":
                raise self.fail(f"expected ',' or '>', found {value!r}")


def parse_type(text: object, *, path: str = "type") -> DataType:
    """Parse a type from its text (whitespace between tokens is allowed); ``str()`` of the result is canonical."""
    if not isinstance(text, str):
        raise SchemaError(path, "must be a string such as 'int64' or 'decimal(10,2)'")
    if len(text) > MAX_TYPE_LENGTH:
        raise SchemaError(path, f"is {len(text)} characters long; at most {MAX_TYPE_LENGTH} are allowed")
    return _TypeParser(text, path).parse()


def _check_keys(value: Mapping[str, Any], allowed: Iterable[str], path: str) -> None:
    unknown = sorted(str(key) for key in value if key not in allowed)
    if unknown:
        raise SchemaError(f"{path}.{unknown[0]}" if path else unknown[0], "unknown key")


def _flag(raw: Mapping[str, Any], key: str, path: str, default: bool = False) -> bool:
    value = raw.get(key, default)
    # bool is checked exactly: 0, 1, "true" and null are refused rather than guessed at.
    if not isinstance(value, bool):
        raise SchemaError(f"{path}.{key}", "must be true or false")
    return value


def _description(raw: Mapping[str, Any], path: str) -> str:
    value = raw.get("description", "")
    if not isinstance(value, str):
        raise SchemaError(f"{path}.description", "must be a string")
    if len(value) > MAX_DESCRIPTION_LENGTH:
        raise SchemaError(f"{path}.description", f"must be at most {MAX_DESCRIPTION_LENGTH} characters")
    for position, char in enumerate(value):
        if (unicodedata.category(char) == "Cc" and char not in "\n\t") or char in "\u202a\u202b\u202c\u202d\u202e":
            raise SchemaError(
                f"{path}.description", f"U+{ord(char):04X} at position {position} is not allowed in a description"
            )
    return value


def _column_name(value: object, path: str) -> str:
    if isinstance(value, str) and value != value.strip():
        raise SchemaError(path, "must not begin or end with whitespace")
    try:
        return validate_display_name(value, field=path, max_length=MAX_COLUMN_NAME_LENGTH)
    except NameRefused as refused:
        raise SchemaError(path, refused.reason) from refused


def _parse_column(raw: object, path: str) -> Column:
    if not isinstance(raw, Mapping):
        raise SchemaError(path, "must be an object")
    _check_keys(raw, _COLUMN_KEYS, path)
    for key in _REQUIRED_COLUMN_KEYS:
        if key not in raw:
            raise SchemaError(f"{path}.{key}", "is required")
    name = _column_name(raw["name"], f"{path}.name")
    data_type = parse_type(raw["type"], path=f"{path}.type")
    nullable = _flag(raw, "nullable", path)
    special_category = _flag(raw, "special_category", path)
    subject_identifier = _flag(raw, "subject_identifier", path)
    personal_data = _flag(raw, "personal_data", path, default=special_category or subject_identifier)
    if special_category and not personal_data:
        raise SchemaError(f"{path}.personal_data", "special-category data is personal data: must be true")
    if subject_identifier and not personal_data:
        raise SchemaError(f"{path}.personal_data", "a subject identifier is personal data: must be true")
    if subject_identifier and str(data_type) not in SUBJECT_IDENTIFIER_TYPES:
        raise SchemaError(
            f"{path}.subject_identifier",
            f"a subject identifier must be one of {', '.join(SUBJECT_IDENTIFIER_TYPES)}, not {data_type}",
        )
    return Column(
        name=name,
        type=data_type,
        nullable=nullable,
        personal_data=personal_data,
        special_category=special_category,
        protected_attribute=_flag(raw, "protected_attribute", path),
        prohibited_input=_flag(raw, "prohibited_input", path),
        description=_description(raw, path),
        subject_identifier=subject_identifier,
    )


def parse_schema(data: object) -> Schema:
    """Validate client JSON (``{"columns": [{"name", "type", "nullable", ...}, ...]}``) into a ``Schema``.

    Refuses with ``SchemaError`` naming the first offending field. ``name``, ``type`` and ``nullable`` are required;
    the flags default to false (``personal_data`` to true when ``special_category`` or ``subject_identifier`` is),
    ``description`` to "".
    """
    if not isinstance(data, Mapping):
        raise SchemaError("", "a schema must be an object with a 'columns' list")
    _check_keys(data, {"columns"}, "")
    columns = data.get("columns")
    if not isinstance(columns, list):
        raise SchemaError("columns", "is required and must be a list")
    if not columns:
        raise SchemaError("columns", "must list at least one column")
    if len(columns) > MAX_COLUMNS:
        raise SchemaError("columns", f"has {len(columns)} entries; at most {MAX_COLUMNS} are allowed")
    parsed: list[Column] = []
    first_seen: dict[str, int] = {}
    for index, raw in enumerate(columns):
        path = f"columns[{index}]"
        column = _parse_column(raw, path)
        key = fold_name(column.name)
        if key in first_seen:
            earlier = first_seen[key]
            raise SchemaError(
                f"{path}.name",
                f"{column.name!r} repeats columns[{earlier}].name {parsed[earlier].name!r} "
                "(column names are compared without case)",
            )
        first_seen[key] = index
        parsed.append(column)
    return Schema(tuple(parsed))
