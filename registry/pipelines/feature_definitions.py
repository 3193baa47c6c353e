"""A feature view's definitions checked against a schema, before Spark runs anything.

``check_feature_view(view, schema)`` lists every problem that would make the view fail on data of that schema, each
naming the feature: a column the definition reads that the data lacks, a window that is not a count and a unit, an
aggregation that does not fit the value's type, a malformed ``target_encode(category, label)``, a missing entity or
event-time column. ``parse_window`` reads ``"7d"``; ``entity_column`` finds the entity key. Request actions call
these before they dispatch a job; registry.pipelines.features calls them again, then has Spark type what a bare
reading of the expression could not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from registry.choices import Aggregation

if TYPE_CHECKING:
    from pyspark.sql.types import DataType

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_WINDOW = re.compile(r"\A([1-9][0-9]{0,5})(s|m|h|d|w)\Z")
# Spark keeps ten thousand years of microseconds in a long; a window longer than a century is a typo.
_MAX_WINDOW_SECONDS = 100 * 366 * 86400
TARGET_ENCODE = re.compile(
    r"\A\s*target_encode\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*\Z"
)

# Words of Spark SQL's expression grammar that are not column names when they appear bare in a definition.
_EXPRESSION_WORDS = frozenset(
    """
    and or not null true false is in like ilike rlike regexp between case when then else end cast try_cast as
    distinct all any some exists interval div escape
    int integer bigint smallint tinyint long short byte double float real decimal numeric dec string varchar char
    boolean bool date timestamp timestamp_ntz timestamp_ltz binary
    year years month months week weeks day days hour hours minute minutes second seconds millisecond milliseconds
    microsecond microseconds
    """.split()  # noqa: SIM905
)
_TOKENS = re.compile(
    r"""(?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
    r"|(?P<quoted>`(?:[^`]|``)*`)"
    r"|(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?[A-Za-z]*)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<other>\S)",
)

NUMERIC = "numeric"
TEXT = "string"
BOOLEAN = "boolean"
TEMPORAL = "temporal"
OTHER = "other"

# Which kinds of value each aggregation accepts. min/max need an order; sum and mean need arithmetic.
ACCEPTS: dict[str, frozenset[str]] = {
    Aggregation.NONE: frozenset({NUMERIC, TEXT, BOOLEAN, TEMPORAL, OTHER}),
    Aggregation.COUNT: frozenset({NUMERIC, TEXT, BOOLEAN, TEMPORAL, OTHER}),
    Aggregation.LAST: frozenset({NUMERIC, TEXT, BOOLEAN, TEMPORAL, OTHER}),
    Aggregation.DISTINCT_COUNT: frozenset({NUMERIC, TEXT, BOOLEAN, TEMPORAL}),
    Aggregation.SUM: frozenset({NUMERIC}),
    Aggregation.MEAN: frozenset({NUMERIC, BOOLEAN}),
    Aggregation.MIN: frozenset({NUMERIC, TEXT, TEMPORAL}),
    Aggregation.MAX: frozenset({NUMERIC, TEXT, TEMPORAL}),
}


def parse_window(window: str) -> int:
    """``"7d"`` -> seconds. Raises ValueError with the reason for anything else."""
    if not isinstance(window, str):
        raise ValueError(f"window {window!r} must be a string such as '7d'")
    match = _WINDOW.match(window)
    if match is None:
        raise ValueError(f"window {window!r} must be a count and a unit s, m, h, d or w ('7d', '24h')")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds > _MAX_WINDOW_SECONDS:
        raise ValueError(f"window {window!r} is longer than a century")
    return seconds


def _kind_of_registry_type(type_name: str) -> str:
    if type_name in ("int8", "int16", "int32", "int64", "float32", "float64") or type_name.startswith("decimal("):
        return NUMERIC
    if type_name == "string":
        return TEXT
    if type_name == "boolean":
        return BOOLEAN
    if type_name in ("date", "timestamp", "timestamp_ntz"):
        return TEMPORAL
    return OTHER


def kind_of_spark_type(data_type: DataType) -> str:
    from pyspark.sql import types as T

    if isinstance(data_type, T.NumericType):
        return NUMERIC
    if isinstance(data_type, T.StringType):
        return TEXT
    if isinstance(data_type, T.BooleanType):
        return BOOLEAN
    if isinstance(data_type, T.DateType | T.TimestampType | T.TimestampNTZType):
        return TEMPORAL
    return OTHER


def column_kinds(schema: Any) -> dict[str, tuple[str, str]]:
    """``{casefolded name: (name as written, kind)}`` of a registry schema (JSON or registry.schema.Schema) or a
    Spark StructType. Spark compares names without case, and so does this."""
    kinds: dict[str, tuple[str, str]] = {}
    fields = getattr(schema, "fields", None)
    if fields is not None:  # pyspark StructType
        for item in fields:
            kinds[item.name.casefold()] = (item.name, kind_of_spark_type(item.dataType))
        return kinds
    columns = schema.get("columns") if isinstance(schema, Mapping) else getattr(schema, "columns", None)
    if columns is None:
        raise TypeError("schema must be a registry schema or a Spark StructType")
    for column in columns:
        name, type_name = (
            (column["name"], column["type"]) if isinstance(column, Mapping) else (column.name, str(column.type))
        )
        kinds[name.casefold()] = (name, _kind_of_registry_type(type_name))
    return kinds


def referenced_columns(expression: str) -> list[str]:
    """The bare names an SQL expression reads: words that are not functions, keywords, literals or struct fields."""
    names: list[str] = []
    tokens = list(_TOKENS.finditer(expression))
    for index, token in enumerate(tokens):
        kind = token.lastgroup
        following = tokens[index + 1].group() if index + 1 < len(tokens) else ""
        previous = tokens[index - 1].group() if index > 0 else ""
        if kind == "quoted":
            names.append(token.group()[1:-1].replace("``", "`"))
        elif kind == "word":
            word = token.group()
            if following == "(" or previous == "." or word.casefold() in _EXPRESSION_WORDS:
                continue
            names.append(word)
    return names


def feature_reads(feature: Mapping[str, Any]) -> list[str]:
    """The source columns a feature's value is computed from (not the entity and time columns that only group and
    window it): what its definition reads, or a target encoding's category and label. The column lineage of a
    materialization (lineage.emit) and the registration check on prohibited inputs (registry.prohibited) read it."""
    definition = str(feature.get("definition", ""))
    encoding = TARGET_ENCODE.match(definition)
    if encoding is not None:
        return [encoding.group(1), encoding.group(2)]
    return list(dict.fromkeys(referenced_columns(definition)))


def features_of(view: Any) -> list[dict[str, Any]]:
    features = view["features"] if isinstance(view, Mapping) else view.features
    return [dict(item) for item in features]


def view_attr(view: Any, name: str) -> Any:
    return view[name] if isinstance(view, Mapping) else getattr(view, name)


def entity_column(view: Any, schema: Any) -> str | None:
    """The column holding the view's entity key: a column named like the entity, else ``<entity>_id``."""
    kinds = column_kinds(schema)
    entity = str(view_attr(view, "entity"))
    for candidate in (entity, f"{entity}_id"):
        if candidate.casefold() in kinds:
            return kinds[candidate.casefold()][0]
    return None


def check_feature_view(feature_view: Any, schema: Any, *, spine_schema: Any = None) -> list[str]:
    """Every problem that would make the view fail on data of ``schema``, each naming the feature; [] if none.

    ``feature_view`` is a FeatureView (or a mapping with ``entity``, ``event_time_column``, ``features``);
    ``schema`` a registry schema (a dataset version's ``schema`` JSON) or a Spark StructType. Nothing runs on
    Spark. The type of a definition is known here when it is a bare column or a literal; ``materialize`` also has
    Spark analyse every expression (still before any Spark job) and reports the types it resolves.
    ``spine_schema``, when given, is where target encodings look for their label column.
    """
    problems: list[str] = []
    kinds = column_kinds(schema)
    spine_kinds = column_kinds(spine_schema) if spine_schema is not None else None
    entity = str(view_attr(feature_view, "entity"))
    if entity_column(feature_view, schema) is None:
        problems.append(f"entity {entity!r}: the data has neither a column {entity!r} nor {entity + '_id'!r}")
    time_column = str(view_attr(feature_view, "event_time_column"))
    time_kind = kinds.get(time_column.casefold())
    if time_kind is None:
        problems.append(f"event_time_column {time_column!r} is not a column of the data")
    elif time_kind[1] != TEMPORAL:
        problems.append(f"event_time_column {time_column!r} must be a timestamp or a date")
    for index, feature in enumerate(features_of(feature_view)):
        name = feature.get("name", f"features[{index}]")
        where = f"feature {name!r}"
        aggregation = feature.get("aggregation", Aggregation.NONE)
        window = feature.get("window", "")
        definition = feature.get("definition", "")
        if aggregation not in Aggregation.values:
            problems.append(f"{where}: aggregation {aggregation!r} is not one of {', '.join(Aggregation.values)}")
            continue
        if aggregation == Aggregation.NONE:
            if window:
                problems.append(f"{where}: aggregation 'none' takes no window, not {window!r}")
        else:
            try:
                parse_window(window)
            except ValueError as refused:
                problems.append(f"{where}: {refused}")
        if not isinstance(definition, str) or not definition.strip():
            problems.append(f"{where}: definition must be a non-empty expression")
            continue
        encoding = TARGET_ENCODE.match(definition)
        if encoding is not None:
            problems.extend(_check_target_encoding(where, aggregation, encoding, kinds, spine_kinds))
            continue
        if "target_encode" in definition.casefold():
            problems.append(f"{where}: target_encode takes exactly two column names: target_encode(category, label)")
            continue
        missing = [column for column in referenced_columns(definition) if column.casefold() not in kinds]
        if missing:
            problems.append(
                f"{where}: definition {definition!r} reads {', '.join(repr(c) for c in dict.fromkeys(missing))}, "
                "not a column of the data"
            )
            continue
        value_kind = _literal_or_column_kind(definition, kinds)
        if value_kind is not None and value_kind not in ACCEPTS[aggregation]:
            problems.append(
                f"{where}: aggregation {aggregation!r} does not apply to a {value_kind} value ({definition})"
            )
    return problems


def _literal_or_column_kind(definition: str, kinds: Mapping[str, tuple[str, str]]) -> str | None:
    text = definition.strip()
    if text.startswith("`") and text.endswith("`"):
        text = text[1:-1]
    if text.casefold() in kinds:
        return kinds[text.casefold()][1]
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return NUMERIC
    if re.fullmatch(r"'[^']*'", text):
        return TEXT
    return None


def _check_target_encoding(
    where: str,
    aggregation: str,
    encoding: re.Match[str],
    kinds: Mapping[str, tuple[str, str]],
    spine_kinds: Mapping[str, tuple[str, str]] | None,
) -> list[str]:
    problems = []
    category, label = encoding.group(1), encoding.group(2)
    if aggregation != Aggregation.LAST:
        problems.append(
            f"{where}: target_encode encodes the entity's last category in the window: its aggregation must be "
            f"'last', not {aggregation!r}"
        )
    if category.casefold() not in kinds:
        problems.append(f"{where}: category column {category!r} is not a column of the data")
    elif kinds[category.casefold()][1] not in (TEXT, NUMERIC, BOOLEAN):
        problems.append(f"{where}: category column {category!r} must be a string, a number or a boolean")
    label_kinds = spine_kinds if spine_kinds is not None else kinds
    found = label_kinds.get(label.casefold())
    if found is None:
        source = "the spine" if spine_kinds is not None else "the data"
        problems.append(f"{where}: label column {label!r} is not a column of {source}")
    elif found[1] not in (NUMERIC, BOOLEAN):
        problems.append(f"{where}: label column {label!r} must be numeric or boolean (a 0/1 target)")
    return problems
