"""Column types of a dataset schema: the fixed vocabulary, its canonical spelling, which type widens to which, and
the typed ``Column`` and ``Schema`` that ``registry.schema.parsing`` builds from client JSON.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

from core.canonical import canonical_digest

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

FLAGS = ("personal_data", "special_category", "protected_attribute", "prohibited_input", "subject_identifier")
# Types a subject-identifier column may have: a data-subject request compares the identifier a person gives with the
# column's values, which needs a scalar that reads back as the same text (no float rounding, no nesting).
SUBJECT_IDENTIFIER_TYPES = ("string", "int8", "int16", "int32", "int64")


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
        new_fields = {fold_name(f.name): f for f in other.fields}
        for old_field in self.fields:
            new_field = new_fields.get(fold_name(old_field.name))
            if new_field is None or new_field.name != old_field.name:
                return False
            if new_field.type != old_field.type and not old_field.type.widens_to(new_field.type):
                return False
        return True


# --- Columns and schemas ---------------------------------------------------------------------------------------------


def fold_name(name: str) -> str:
    # Spark resolves column names without case (spark.sql.caseSensitive is off by default), so "Age" and "age"
    # are one column to it.
    return unicodedata.normalize("NFKC", name).casefold()


@dataclass(frozen=True)
class Column:
    """One column. ``special_category`` (GDPR art. 9 data) implies ``personal_data``; ``protected_attribute`` marks
    a characteristic fairness is measured against; ``prohibited_input`` forbids using the column as a model input;
    ``subject_identifier`` says the column identifies the data subject a row is about (a customer number, an e-mail),
    which data-subject requests search by (compliance.subjects), and implies ``personal_data``."""

    name: str
    type: DataType
    nullable: bool
    personal_data: bool = False
    special_category: bool = False
    protected_attribute: bool = False
    prohibited_input: bool = False
    description: str = ""
    subject_identifier: bool = False

    def __post_init__(self) -> None:
        if self.special_category and not self.personal_data:
            raise SchemaError(self.name, "special-category data is personal data: personal_data must be true")
        if self.subject_identifier and not self.personal_data:
            raise SchemaError(self.name, "a subject identifier is personal data: personal_data must be true")

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
            # Written only when set: the schemas registered before the flag existed keep their canonical JSON, and
            # so their fingerprints (a fingerprint is pinned in signed release manifests).
            **({"subject_identifier": True} if self.subject_identifier else {}),
        }

    def flags(self) -> tuple[bool, ...]:
        return tuple(getattr(self, flag) for flag in FLAGS)


@dataclass(frozen=True)
class Schema:
    """The ordered columns of a dataset version. Build it with ``parse_schema`` from client JSON."""

    columns: tuple[Column, ...]
    _by_key: dict[str, Column] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        by_key: dict[str, Column] = {}
        for column in self.columns:
            if fold_name(column.name) in by_key:
                raise SchemaError("columns", f"duplicate column {column.name!r}")
            by_key[fold_name(column.name)] = column
        object.__setattr__(self, "_by_key", by_key)

    def column(self, name: str) -> Column | None:
        """The column called ``name``, compared as Spark compares names (without case)."""
        return self._by_key.get(fold_name(name))

    def to_json(self) -> dict[str, Any]:
        return {"columns": [column.to_json() for column in self.columns]}

    def subject_identifiers(self) -> tuple[Column, ...]:
        """The columns that identify the data subject of a row (``subject_identifier``), in schema order."""
        return tuple(column for column in self.columns if column.subject_identifier)


def fingerprint_schema(schema: Schema) -> str:
    """SHA-256 (hex) of the schema's canonical JSON (RFC 8785): equal schemas, equal fingerprints."""
    return canonical_digest(schema.to_json())
