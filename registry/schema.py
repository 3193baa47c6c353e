"""Dataset schemas: the typed form a client sends, its fingerprint, and what changed from one version to the next.

A dataset version is immutable, so its schema is checked strictly once, when it arrives, by ``parse_schema``: unknown
keys, loose types ("1" for true), unknown type names and duplicate columns are refused with the path of the offending
field (``columns[3].type``). Types come from a fixed vocabulary that maps one-to-one onto Spark, Parquet and Arrow
types, written as text (``decimal(10,2)``, ``array<struct<id:int64,tags:array<string>>>``) and kept in one canonical
spelling, so that equal schemas have equal JSON and equal fingerprints.

``diff_schemas`` compares a new version with the previous one and lists every change, each marked compatible (a
reader of the old schema still reads the new data) or breaking, and privacy changes that need a reviewer. The table
of rules is in docs/registry-rules.md.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.canonical import canonical_digest
from registry.naming import NameRefused, validate_display_name

__all__ = [
    "MAX_COLUMNS",
    "MAX_TYPE_DEPTH",
    "PRIMITIVE_TYPES",
    "ArrayType",
    "BreakingSchemaChange",
    "Change",
    "ChangeKind",
    "Column",
    "DataType",
    "DecimalType",
    "MapType",
    "PrimitiveType",
    "Schema",
    "SchemaDiff",
    "SchemaError",
    "StructField",
    "StructType",
    "check_evolution",
    "diff_schemas",
    "fingerprint_schema",
    "parse_schema",
    "parse_type",
]

MAX_COLUMNS = 10_000
MAX_TYPE_DEPTH = 32
MAX_TYPE_LENGTH = 10_000
MAX_STRUCT_FIELDS = 1_000
MAX_COLUMN_NAME_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 4_000
# Spark's and Arrow's decimal128 limit.
MAX_DECIMAL_PRECISION = 38

# Spark / Parquet (physical + logical) / Arrow, for the docs and for whoever writes the Spark job.
PRIMITIVE_TYPES: dict[str, tuple[str, str, str]] = {
    "boolean": ("BooleanType", "BOOLEAN", "bool_"),
    "int8": ("ByteType", "INT32 (INT(8, true))", "int8"),
    "int16": ("ShortType", "INT32 (INT(16, true))", "int16"),
    "int32": ("IntegerType", "INT32", "int32"),
    "int64": ("LongType", "INT64", "int64"),
    "float32": ("FloatType", "FLOAT", "float32"),
    "float64": ("DoubleType", "DOUBLE", "float64"),
    "string": ("StringType", "BYTE_ARRAY (STRING)", "string"),
    "binary": ("BinaryType", "BYTE_ARRAY", "binary"),
    "date": ("DateType", "INT32 (DATE)", "date32"),
    "timestamp": ("TimestampType", "INT64 (TIMESTAMP(isAdjustedToUTC=true, MICROS))", "timestamp('us', tz='UTC')"),
    "timestamp_ntz": ("TimestampNTZType", "INT64 (TIMESTAMP(isAdjustedToUTC=false, MICROS))", "timestamp('us')"),
}

# Integer digits each integer type needs in a decimal, and the bits it needs in a float's mantissa.
_INTEGER_DIGITS = {"int8": 3, "int16": 5, "int32": 10, "int64": 19}
_INTEGER_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}
_MANTISSA_BITS = {"float32": 24, "float64": 53}

_COLUMN_KEYS = frozenset(
    {
        "name",
        "type",
        "nullable",
        "personal_data",
        "special_category",
        "protected_attribute",
        "prohibited_input",
        "description",
    }
)
_REQUIRED_COLUMN_KEYS = ("name", "type", "nullable")
_FLAGS = ("personal_data", "special_category", "protected_attribute", "prohibited_input")
_FLAG_WORDS = {
    "personal_data": "personal data",
    "special_category": "special-category data",
    "protected_attribute": "a protected attribute",
    "prohibited_input": "prohibited as a model input",
}

_STRUCT_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_TOKEN = re.compile(r"\s*(?:(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<number>[0-9]+)|(?P<punct>[<>(),:]))")


class SchemaError(ValueError):
    """A schema (or a type in it) was refused. ``path`` names the field, as in ``columns[3].type``."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


# --- Types -----------------------------------------------------------------------------------------------------------


class DataType:
    """A column type. ``str(t)`` is its canonical spelling, which is what the JSON stores."""

    def __str__(self) -> str:
        raise NotImplementedError

    def widens_to(self, other: DataType) -> bool:
        """True if every value of ``self`` is exactly a value of ``other`` and the two differ."""
        return False


@dataclass(frozen=True)
class PrimitiveType(DataType):
    name: str

    def __str__(self) -> str:
        return self.name

    def widens_to(self, other: DataType) -> bool:
        if isinstance(other, PrimitiveType):
            if self.name in _INTEGER_BITS and other.name in _INTEGER_BITS:
                return _INTEGER_BITS[other.name] > _INTEGER_BITS[self.name]
            if self.name in _INTEGER_BITS and other.name in _MANTISSA_BITS:
                # Exact only while the integer fits the mantissa: int64 -> float64 would round large values.
                return _INTEGER_BITS[self.name] <= _MANTISSA_BITS[other.name]
            if self.name == "float32" and other.name == "float64":
                return True
            # A date is midnight of a local date-time; with a time zone it would depend on the reader's zone.
            return self.name == "date" and other.name == "timestamp_ntz"
        if isinstance(other, DecimalType) and self.name in _INTEGER_DIGITS:
            return other.precision - other.scale >= _INTEGER_DIGITS[self.name]
        return False


@dataclass(frozen=True)
class DecimalType(DataType):
    precision: int
    scale: int

    def __str__(self) -> str:
        return f"decimal({self.precision},{self.scale})"

    def widens_to(self, other: DataType) -> bool:
        # Neither the integer digits nor the fractional digits may shrink (Delta Lake's type-widening rule).
        return (
            isinstance(other, DecimalType)
            and other != self
            and other.scale >= self.scale
            and other.precision - other.scale >= self.precision - self.scale
        )


@dataclass(frozen=True)
class ArrayType(DataType):
    element: DataType

    def __str__(self) -> str:
        return f"array<{self.element}>"

    def widens_to(self, other: DataType) -> bool:
        return isinstance(other, ArrayType) and self.element.widens_to(other.element)


@dataclass(frozen=True)
class MapType(DataType):
    key: DataType
    value: DataType

    def __str__(self) -> str:
        return f"map<{self.key},{self.value}>"

    def widens_to(self, other: DataType) -> bool:
        # Keys are looked up by value: a key of another type is another key.
        return isinstance(other, MapType) and other.key == self.key and self.value.widens_to(other.value)


@dataclass(frozen=True)
class StructField:
    name: str
    type: DataType


@dataclass(frozen=True)
class StructType(DataType):
    fields: tuple[StructField, ...]

    def __str__(self) -> str:
        return "struct<" + ",".join(f"{f.name}:{f.type}" for f in self.fields) + ">"

    def widens_to(self, other: DataType) -> bool:
        # Struct fields are nullable, so a reader of the old struct ignores added fields; every old field must stay,
        # with the same or a wider type.
        if not isinstance(other, StructType) or other == self:
            return False
        new_fields = {_fold(f.name): f for f in other.fields}
        for old_field in self.fields:
            new_field = new_fields.get(_fold(old_field.name))
            if new_field is None or new_field.name != old_field.name:
                return False
            if new_field.type != old_field.type and not old_field.type.widens_to(new_field.type):
                return False
        return True


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
            if _fold(name) in seen:
                self.index -= 1
                raise self.fail(f"duplicate struct field {name!r}")
            seen.add(_fold(name))
            self.expect(":")
            fields.append(StructField(name, self.type(depth + 1)))
            if len(fields) > MAX_STRUCT_FIELDS:
                raise self.fail(f"a struct may have at most {MAX_STRUCT_FIELDS} fields")
            kind, value = self.take()
            if value == ">":
                return StructType(tuple(fields))
            if value != ",":
                raise self.fail(f"expected ',' or '>', found {value!r}")


def parse_type(text: Any, *, path: str = "type") -> DataType:
    """Parse a type from its text (whitespace between tokens is allowed); ``str()`` of the result is canonical."""
    if not isinstance(text, str):
        raise SchemaError(path, "must be a string such as 'int64' or 'decimal(10,2)'")
    if len(text) > MAX_TYPE_LENGTH:
        raise SchemaError(path, f"is {len(text)} characters long; at most {MAX_TYPE_LENGTH} are allowed")
    return _TypeParser(text, path).parse()


# --- Columns and schemas ---------------------------------------------------------------------------------------------


def _fold(name: str) -> str:
    # Spark resolves column names without case (spark.sql.caseSensitive is off by default), so "Age" and "age"
    # are one column to it.
    return unicodedata.normalize("NFKC", name).casefold()


@dataclass(frozen=True)
class Column:
    """One column. ``special_category`` (GDPR art. 9 data) implies ``personal_data``; ``protected_attribute`` marks
    a characteristic fairness is measured against; ``prohibited_input`` forbids using the column as a model input."""

    name: str
    type: DataType
    nullable: bool
    personal_data: bool = False
    special_category: bool = False
    protected_attribute: bool = False
    prohibited_input: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if self.special_category and not self.personal_data:
            raise SchemaError(self.name, "special-category data is personal data: personal_data must be true")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": str(self.type),
            "nullable": self.nullable,
            "personal_data": self.personal_data,
            "special_category": self.special_category,
            "protected_attribute": self.protected_attribute,
            "prohibited_input": self.prohibited_input,
            "description": self.description,
        }

    def flags(self) -> tuple[bool, ...]:
        return tuple(getattr(self, flag) for flag in _FLAGS)


@dataclass(frozen=True)
class Schema:
    """The ordered columns of a dataset version. Build it with ``parse_schema`` from client JSON."""

    columns: tuple[Column, ...]
    _by_key: dict[str, Column] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        by_key: dict[str, Column] = {}
        for column in self.columns:
            if _fold(column.name) in by_key:
                raise SchemaError("columns", f"duplicate column {column.name!r}")
            by_key[_fold(column.name)] = column
        object.__setattr__(self, "_by_key", by_key)

    def column(self, name: str) -> Column | None:
        """The column called ``name``, compared as Spark compares names (without case)."""
        return self._by_key.get(_fold(name))

    def to_json(self) -> dict[str, Any]:
        return {"columns": [column.to_json() for column in self.columns]}


def fingerprint_schema(schema: Schema) -> str:
    """SHA-256 (hex) of the schema's canonical JSON (RFC 8785): equal schemas, equal fingerprints."""
    return canonical_digest(schema.to_json())


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


def _column_name(value: Any, path: str) -> str:
    if isinstance(value, str) and value != value.strip():
        raise SchemaError(path, "must not begin or end with whitespace")
    try:
        return validate_display_name(value, field=path, max_length=MAX_COLUMN_NAME_LENGTH)
    except NameRefused as refused:
        raise SchemaError(path, refused.reason) from refused


def _parse_column(raw: Any, path: str) -> Column:
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
    personal_data = _flag(raw, "personal_data", path, default=special_category)
    if special_category and not personal_data:
        raise SchemaError(f"{path}.personal_data", "special-category data is personal data: must be true")
    return Column(
        name=name,
        type=data_type,
        nullable=nullable,
        personal_data=personal_data,
        special_category=special_category,
        protected_attribute=_flag(raw, "protected_attribute", path),
        prohibited_input=_flag(raw, "prohibited_input", path),
        description=_description(raw, path),
    )


def parse_schema(data: Any) -> Schema:
    """Validate client JSON (``{"columns": [{"name", "type", "nullable", ...}, ...]}``) into a ``Schema``.

    Refuses with ``SchemaError`` naming the first offending field. ``name``, ``type`` and ``nullable`` are required;
    the flags default to false (``personal_data`` to the value of ``special_category``), ``description`` to "".
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
        key = _fold(column.name)
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


# --- Evolution -------------------------------------------------------------------------------------------------------


class ChangeKind(enum.StrEnum):
    COLUMN_ADDED = "column_added"
    COLUMN_DROPPED = "column_dropped"
    COLUMN_RENAMED = "column_renamed"
    TYPE_WIDENED = "type_widened"
    TYPE_CHANGED = "type_changed"
    NULLABILITY_RELAXED = "nullability_relaxed"
    NULLABILITY_TIGHTENED = "nullability_tightened"
    FLAG_ADDED = "flag_added"
    FLAG_REMOVED = "flag_removed"
    DESCRIPTION_CHANGED = "description_changed"


@dataclass(frozen=True)
class Change:
    """One difference between two versions. ``compatible``: a reader of the old version still reads the new data.
    ``needs_review``: a privacy protection was removed, which a compliance officer should confirm."""

    kind: ChangeKind
    column: str
    detail: str
    compatible: bool
    needs_review: bool = False
    previous_column: str | None = None
    flag: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "column": self.column,
            "previous_column": self.previous_column,
            "flag": self.flag,
            "detail": self.detail,
            "compatible": self.compatible,
            "needs_review": self.needs_review,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Change:
        return cls(
            kind=ChangeKind(data["kind"]),
            column=data["column"],
            detail=data["detail"],
            compatible=data["compatible"],
            needs_review=data["needs_review"],
            previous_column=data["previous_column"],
            flag=data["flag"],
        )


@dataclass(frozen=True)
class SchemaDiff:
    changes: tuple[Change, ...]

    @property
    def is_breaking(self) -> bool:
        return any(not change.compatible for change in self.changes)

    @property
    def needs_review(self) -> bool:
        return any(change.needs_review for change in self.changes)

    @property
    def breaking_changes(self) -> tuple[Change, ...]:
        return tuple(change for change in self.changes if not change.compatible)

    def to_json(self) -> dict[str, Any]:
        """The stored form: the verdicts first, so a query on the version row need not walk the list."""
        return {
            "breaking": self.is_breaking,
            "needs_review": self.needs_review,
            "changes": [change.to_json() for change in self.changes],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SchemaDiff:
        return cls(tuple(Change.from_json(item) for item in data["changes"]))


class BreakingSchemaChange(ValueError):
    """A new version breaks readers of the previous one and the client did not say it meant to."""

    def __init__(self, diff: SchemaDiff) -> None:
        self.diff = diff
        listed = "; ".join(f"{change.column}: {change.detail}" for change in diff.breaking_changes)
        super().__init__(f"breaking schema change (set the breaking-change flag to register it anyway): {listed}")


def _signature(column: Column) -> tuple[Any, ...]:
    return (column.type, column.nullable, column.flags())


def _pair_renames(dropped: list[Column], added: list[Column]) -> list[tuple[Column, Column]]:
    """Pairs (old, new) that are probably one column renamed: the only dropped and the only added column with the
    same type, nullability and flags. Ambiguous candidates are left as a drop and an add."""
    dropped_by_signature: dict[tuple[Any, ...], list[Column]] = defaultdict(list)
    added_by_signature: dict[tuple[Any, ...], list[Column]] = defaultdict(list)
    for column in dropped:
        dropped_by_signature[_signature(column)].append(column)
    for column in added:
        added_by_signature[_signature(column)].append(column)
    pairs = []
    for signature, olds in dropped_by_signature.items():
        news = added_by_signature.get(signature, [])
        if len(olds) == 1 and len(news) == 1:
            pairs.append((olds[0], news[0]))
    return pairs


def _type_change(old: Column, new: Column) -> Change | None:
    if old.type == new.type:
        return None
    if old.type.widens_to(new.type):
        return Change(ChangeKind.TYPE_WIDENED, new.name, f"type widened from {old.type} to {new.type}", True)
    verb = "narrowed" if new.type.widens_to(old.type) else "changed"
    return Change(ChangeKind.TYPE_CHANGED, new.name, f"type {verb} from {old.type} to {new.type}", False)


def _column_changes(old: Column, new: Column) -> list[Change]:
    changes: list[Change] = []
    type_change = _type_change(old, new)
    if type_change is not None:
        changes.append(type_change)
    if old.nullable and not new.nullable:
        changes.append(
            Change(ChangeKind.NULLABILITY_TIGHTENED, new.name, "now refuses nulls that earlier data may hold", False)
        )
    elif new.nullable and not old.nullable:
        changes.append(Change(ChangeKind.NULLABILITY_RELAXED, new.name, "now allows nulls", True))
    for flag in _FLAGS:
        before, after = getattr(old, flag), getattr(new, flag)
        if before and not after:
            # Dropping a protection is allowed (a column can be anonymised) but someone must confirm it.
            changes.append(
                Change(
                    ChangeKind.FLAG_REMOVED,
                    new.name,
                    f"no longer marked as {_FLAG_WORDS[flag]}: needs review",
                    True,
                    needs_review=True,
                    flag=flag,
                )
            )
        elif after and not before:
            changes.append(
                Change(ChangeKind.FLAG_ADDED, new.name, f"now marked as {_FLAG_WORDS[flag]}", True, flag=flag)
            )
    if old.description != new.description:
        changes.append(Change(ChangeKind.DESCRIPTION_CHANGED, new.name, "description changed", True))
    return changes


def diff_schemas(old: Schema, new: Schema) -> SchemaDiff:
    """Every change from ``old`` to ``new``, in the new schema's column order, then the dropped columns.

    Columns are matched by name without case (as Spark matches them); order is not compared, since Parquet, Avro,
    ORC and Delta resolve columns by name.
    """
    added = [column for column in new.columns if old.column(column.name) is None]
    dropped = [column for column in old.columns if new.column(column.name) is None]
    renames = _pair_renames(dropped, added)
    renamed_to = {_fold(new_column.name): old_column for old_column, new_column in renames}
    renamed_from = {_fold(old_column.name) for old_column, _ in renames}

    changes: list[Change] = []
    for column in new.columns:
        previous = old.column(column.name)
        if previous is not None:
            if previous.name != column.name:
                changes.append(
                    Change(
                        ChangeKind.COLUMN_RENAMED,
                        column.name,
                        f"renamed from {previous.name!r}: only the letter case changed, which case-sensitive "
                        "readers (Parquet, pandas) see as another column",
                        False,
                        previous_column=previous.name,
                    )
                )
            changes.extend(_column_changes(previous, column))
        elif _fold(column.name) in renamed_to:
            source = renamed_to[_fold(column.name)]
            changes.append(
                Change(
                    ChangeKind.COLUMN_RENAMED,
                    column.name,
                    f"probably renamed from {source.name!r} (one column dropped and one added with the same type, "
                    "nullability and flags)",
                    False,
                    previous_column=source.name,
                )
            )
            changes.extend(_column_changes(source, column))
        elif column.nullable:
            changes.append(Change(ChangeKind.COLUMN_ADDED, column.name, f"added, nullable {column.type}", True))
        else:
            changes.append(
                Change(
                    ChangeKind.COLUMN_ADDED,
                    column.name,
                    f"added, non-nullable {column.type}: earlier data has no value for it",
                    False,
                )
            )
    for column in dropped:
        if _fold(column.name) not in renamed_from:
            changes.append(Change(ChangeKind.COLUMN_DROPPED, column.name, f"dropped ({column.type})", False))
    return SchemaDiff(tuple(changes))


def check_evolution(old: Schema | None, new: Schema, *, allow_breaking: bool) -> SchemaDiff:
    """The diff to record for a new version, or ``BreakingSchemaChange`` if it breaks and that was not allowed.

    The first version of a dataset (``old`` is None) has nothing to break.
    """
    diff = SchemaDiff(()) if old is None else diff_schemas(old, new)
    if diff.is_breaking and not allow_breaking:
        raise BreakingSchemaChange(diff)
    return diff
