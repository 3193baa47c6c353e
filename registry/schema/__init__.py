"""Dataset schemas: the typed form a client sends, its fingerprint, and what changed from one version to the next.

A dataset version is immutable, so its schema is checked strictly once, when it arrives, by ``parse_schema``: unknown
keys, loose types ("1" for true), unknown type names and duplicate columns are refused with the path of the offending
field (``columns[3].type``). Types come from a fixed vocabulary that maps one-to-one onto Spark, Parquet and Arrow
types, written as text (``decimal(10,2)``, ``array<struct<id:int64,tags:array<string>>>``) and kept in one canonical
spelling, so that equal schemas have equal JSON and equal fingerprints.

``diff_schemas`` compares a new version with the previous one and lists every change, each marked compatible (a
reader of the old schema still reads the new data) or breaking, and privacy changes that need a reviewer. The table
of rules is in docs/registry-rules.md.

The code is split along its seams: ``datatypes`` (the type vocabulary, ``Column`` and ``Schema``), ``parsing``
(client JSON in, refused with a path) and ``evolution`` (the diff between versions).
"""

from __future__ import annotations

from registry.schema.datatypes import (
    MAX_COLUMNS,
    MAX_TYPE_DEPTH,
    PRIMITIVE_TYPES,
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
    fingerprint_schema,
)
from registry.schema.evolution import (
    BreakingSchemaChange,
    Change,
    ChangeKind,
    SchemaDiff,
    check_evolution,
    diff_schemas,
)
from registry.schema.parsing import parse_schema, parse_type

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
