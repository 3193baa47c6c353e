"""Materialize a feature view: point-in-time windowed aggregations, out-of-fold target encoding, Parquet, statistics.

``materialize(spark, view, events, spine)`` computes, for each spine row (an entity and a time ``t``), every feature
of the view from the events of that entity with ``t - window <= event_time < t``: strictly before ``t``, so that a
feature never sees the moment it is used at or anything after it (no look-ahead). It is an as-of join done as one
sorted pass: the spine rows are put among the events of their entity and each feature is a window function over a
range frame ending one microsecond before the row (``rangeBetween(-window, -1)`` on event time in microseconds), so
Spark sorts each entity's rows once per distinct window length instead of joining every spine row to every event.

Definitions are checked before Spark runs anything (``check_feature_view``: a missing column, a bad window, an
aggregation that does not fit the column's type). The output is written as Parquet partitioned by ``as_of_date``,
into a staging folder that is renamed into place only once complete, and summarised per feature in two passes
(count, nulls, mean, std, min, max and quantiles in the first; a fixed-bin histogram in the second). See
docs/spark-jobs.md, "Feature pipelines".
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from core.canonical import canonical_digest
from registry.choices import Aggregation

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame, SparkSession, WindowSpec
    from pyspark.sql.types import DataType

__all__ = [
    "DEFAULT_FOLDS",
    "DEFAULT_SMOOTHING",
    "HISTOGRAM_BINS",
    "PARTITION_COLUMN",
    "QUANTILES",
    "BuiltFeatures",
    "FeatureDefinitionError",
    "MaterializedFeatures",
    "build_features",
    "check_feature_view",
    "default_spine",
    "entity_column",
    "feature_statistics",
    "materialize",
    "parse_window",
]

PARTITION_COLUMN = "as_of_date"
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
# percentile_approx's accuracy: the relative error of a quantile is 1 / accuracy (0.1% of the rank).
QUANTILE_ACCURACY = 1000
HISTOGRAM_BINS = 10
DEFAULT_FOLDS = 5
DEFAULT_SMOOTHING = 20.0

Progress = Callable[[float, str], None]

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_WINDOW = re.compile(r"\A([1-9][0-9]{0,5})(s|m|h|d|w)\Z")
# Spark keeps ten thousand years of microseconds in a long; a window longer than a century is a typo.
_MAX_WINDOW_SECONDS = 100 * 366 * 86400
_TARGET_ENCODE = re.compile(
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

_NUMERIC = "numeric"
_TEXT = "string"
_BOOLEAN = "boolean"
_TEMPORAL = "temporal"
_OTHER = "other"

# Which kinds of value each aggregation accepts. min/max need an order; sum and mean need arithmetic.
_ACCEPTS: dict[str, frozenset[str]] = {
    Aggregation.NONE: frozenset({_NUMERIC, _TEXT, _BOOLEAN, _TEMPORAL, _OTHER}),
    Aggregation.COUNT: frozenset({_NUMERIC, _TEXT, _BOOLEAN, _TEMPORAL, _OTHER}),
    Aggregation.LAST: frozenset({_NUMERIC, _TEXT, _BOOLEAN, _TEMPORAL, _OTHER}),
    Aggregation.DISTINCT_COUNT: frozenset({_NUMERIC, _TEXT, _BOOLEAN, _TEMPORAL}),
    Aggregation.SUM: frozenset({_NUMERIC}),
    Aggregation.MEAN: frozenset({_NUMERIC, _BOOLEAN}),
    Aggregation.MIN: frozenset({_NUMERIC, _TEXT, _TEMPORAL}),
    Aggregation.MAX: frozenset({_NUMERIC, _TEXT, _TEMPORAL}),
}

# Internal columns; a double underscore cannot start a feature or column name that the registry accepts.
_IS_SPINE = "__is_spine"
_TS_MICROS = "__ts_us"
_FOLD = "__fold"


class FeatureDefinitionError(ValueError):
    """The view's definitions do not fit the data: ``problems`` lists each, naming the feature and what is wrong."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class MaterializedFeatures:
    """What ``materialize`` wrote.

    ``dataframe`` reads the written Parquet; ``path`` is its folder and ``storage_location`` the same folder relative
    to the artifact root (what the registry records). ``fingerprint`` is the SHA-256 of the canonical JSON list of
    ``files`` (``[relative path, size, sha256]`` of each Parquet file, sorted by path): re-hashing the folder proves
    it holds exactly the bytes registered. ``statistics`` maps each feature to its summary (docs/spark-jobs.md).
    """

    dataframe: DataFrame
    path: Path
    storage_location: str
    fingerprint: str
    row_count: int
    statistics: dict[str, dict[str, Any]]
    files: list[list[Any]] = field(repr=False)
    entity_column: str
    time_column: str


# --- Definitions --------------------------------------------------------------------------------------------------


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
        return _NUMERIC
    if type_name == "string":
        return _TEXT
    if type_name == "boolean":
        return _BOOLEAN
    if type_name in ("date", "timestamp", "timestamp_ntz"):
        return _TEMPORAL
    return _OTHER


def _kind_of_spark_type(data_type: DataType) -> str:
    from pyspark.sql import types as T

    if isinstance(data_type, T.NumericType):
        return _NUMERIC
    if isinstance(data_type, T.StringType):
        return _TEXT
    if isinstance(data_type, T.BooleanType):
        return _BOOLEAN
    if isinstance(data_type, T.DateType | T.TimestampType | T.TimestampNTZType):
        return _TEMPORAL
    return _OTHER


def _column_kinds(schema: Any) -> dict[str, tuple[str, str]]:
    """``{casefolded name: (name as written, kind)}`` of a registry schema (JSON or registry.schema.Schema) or a
    Spark StructType. Spark compares names without case, and so does this."""
    kinds: dict[str, tuple[str, str]] = {}
    fields = getattr(schema, "fields", None)
    if fields is not None:  # pyspark StructType
        for item in fields:
            kinds[item.name.casefold()] = (item.name, _kind_of_spark_type(item.dataType))
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


def _referenced_columns(expression: str) -> list[str]:
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


def _features_of(view: Any) -> list[dict[str, Any]]:
    features = view["features"] if isinstance(view, Mapping) else view.features
    return [dict(item) for item in features]


def _view_attr(view: Any, name: str) -> Any:
    return view[name] if isinstance(view, Mapping) else getattr(view, name)


def entity_column(view: Any, schema: Any) -> str | None:
    """The column holding the view's entity key: a column named like the entity, else ``<entity>_id``."""
    kinds = _column_kinds(schema)
    entity = str(_view_attr(view, "entity"))
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
    kinds = _column_kinds(schema)
    spine_kinds = _column_kinds(spine_schema) if spine_schema is not None else None
    entity = str(_view_attr(feature_view, "entity"))
    if entity_column(feature_view, schema) is None:
        problems.append(f"entity {entity!r}: the data has neither a column {entity!r} nor {entity + '_id'!r}")
    time_column = str(_view_attr(feature_view, "event_time_column"))
    time_kind = kinds.get(time_column.casefold())
    if time_kind is None:
        problems.append(f"event_time_column {time_column!r} is not a column of the data")
    elif time_kind[1] != _TEMPORAL:
        problems.append(f"event_time_column {time_column!r} must be a timestamp or a date")
    for index, feature in enumerate(_features_of(feature_view)):
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
        encoding = _TARGET_ENCODE.match(definition)
        if encoding is not None:
            problems.extend(_check_target_encoding(where, aggregation, encoding, kinds, spine_kinds))
            continue
        if "target_encode" in definition.casefold():
            problems.append(f"{where}: target_encode takes exactly two column names: target_encode(category, label)")
            continue
        missing = [column for column in _referenced_columns(definition) if column.casefold() not in kinds]
        if missing:
            problems.append(
                f"{where}: definition {definition!r} reads {', '.join(repr(c) for c in dict.fromkeys(missing))}, "
                "not a column of the data"
            )
            continue
        value_kind = _literal_or_column_kind(definition, kinds)
        if value_kind is not None and value_kind not in _ACCEPTS[aggregation]:
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
        return _NUMERIC
    if re.fullmatch(r"'[^']*'", text):
        return _TEXT
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
    elif kinds[category.casefold()][1] not in (_TEXT, _NUMERIC, _BOOLEAN):
        problems.append(f"{where}: category column {category!r} must be a string, a number or a boolean")
    label_kinds = spine_kinds if spine_kinds is not None else kinds
    found = label_kinds.get(label.casefold())
    if found is None:
        source = "the spine" if spine_kinds is not None else "the data"
        problems.append(f"{where}: label column {label!r} is not a column of {source}")
    elif found[1] not in (_NUMERIC, _BOOLEAN):
        problems.append(f"{where}: label column {label!r} must be numeric or boolean (a 0/1 target)")
    return problems


# --- Materialization ----------------------------------------------------------------------------------------------


def _report(progress: Progress | None, fraction: float, stage: str) -> None:
    if progress is not None:
        progress(fraction, stage)


def default_spine(events: DataFrame, entity: str, time_column: str, labels: Iterable[str] = ()) -> DataFrame:
    """One row per entity and distinct event date, at midnight UTC ending that date (features then summarise the
    entity's history up to the end of each day it was active). Each label column is the value of that day's last
    event with one."""
    from pyspark.sql import functions as F

    day = F.to_date(F.col(time_column))
    aggregates = [
        F.max_by(F.col(label), F.when(F.col(label).isNotNull(), F.col(time_column))).alias(label) for label in labels
    ]
    if aggregates:
        spine = events.groupBy(F.col(entity), day.alias("__day")).agg(*aggregates)
    else:
        spine = events.select(F.col(entity), day.alias("__day")).distinct()
    return spine.select(
        F.col(entity),
        F.to_timestamp(F.date_add(F.col("__day"), 1)).alias(time_column),
        *[F.col(label) for label in labels],
    )


def _aggregate(aggregation: str, value: SparkColumn, frame: WindowSpec) -> SparkColumn:
    from pyspark.sql import functions as F

    if aggregation == Aggregation.COUNT:
        return F.count(value).over(frame)
    if aggregation == Aggregation.DISTINCT_COUNT:
        # COUNT(DISTINCT) is not a window function; the size of the frame's set of values is.
        return F.size(F.collect_set(value).over(frame))
    if aggregation == Aggregation.SUM:
        return F.sum(value).over(frame)
    if aggregation == Aggregation.MEAN:
        return F.avg(value).over(frame)
    if aggregation == Aggregation.MIN:
        return F.min(value).over(frame)
    if aggregation == Aggregation.MAX:
        return F.max(value).over(frame)
    return F.last(value, ignorenulls=True).over(frame)  # last and none: the latest value strictly before t


@dataclass(frozen=True)
class BuiltFeatures:
    """The features as a DataFrame not yet computed (``build_features``): one row per spine row, with the entity
    and time columns, the spine's other columns, each feature, and ``as_of_date``."""

    dataframe: DataFrame
    entity_column: str
    time_column: str


def build_features(
    feature_view: Any,
    dataset_version_df: DataFrame,
    spine_df: DataFrame | None = None,
    *,
    progress: Progress | None = None,
    folds: int = DEFAULT_FOLDS,
    smoothing: float = DEFAULT_SMOOTHING,
) -> BuiltFeatures:
    """The plan of ``materialize`` without writing it: definitions checked (FeatureDefinitionError, before any Spark
    job), the spine, windows and target encodings laid out as one lazy DataFrame."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    _report(progress, 0.0, "checking definitions")
    if folds < 2:
        raise FeatureDefinitionError([f"target encoding needs at least 2 folds, not {folds}"])
    if not smoothing >= 0:
        raise FeatureDefinitionError([f"target encoding smoothing must be a non-negative number, not {smoothing}"])
    features = _features_of(feature_view)
    source_schema = dataset_version_df.schema
    problems = check_feature_view(
        feature_view, source_schema, spine_schema=spine_df.schema if spine_df is not None else None
    )
    if problems:
        raise FeatureDefinitionError(problems)
    entity = entity_column(feature_view, source_schema)
    assert entity is not None  # checked above
    time_kinds = _column_kinds(source_schema)
    time_column = time_kinds[str(_view_attr(feature_view, "event_time_column")).casefold()][0]

    encodings = {
        feature["name"]: _TARGET_ENCODE.match(feature["definition"])
        for feature in features
        if _TARGET_ENCODE.match(feature["definition"])
    }
    label_columns = sorted({match.group(2) for match in encodings.values() if match is not None})

    # Every expression analysed by Spark (no job runs): a type this module could not infer is checked here.
    events = dataset_version_df.withColumn(time_column, F.col(time_column).cast("timestamp"))
    values: list[SparkColumn] = []
    analysis: list[str] = []
    for index, feature in enumerate(features):
        match = encodings.get(feature["name"])
        expression = F.col(match.group(1)) if match else F.expr(feature["definition"])
        column = expression.alias(f"__v{index}")
        try:
            data_type = events.select(column).schema.fields[0].dataType
        except AnalysisException as refused:
            first_line = str(refused).strip().splitlines()[0]
            analysis.append(
                f"feature {feature['name']!r}: definition {feature['definition']!r} does not analyse: {first_line}"
            )
            continue
        kind = _kind_of_spark_type(data_type)
        if kind not in _ACCEPTS[feature["aggregation"]]:
            analysis.append(
                f"feature {feature['name']!r}: aggregation {feature['aggregation']!r} does not apply to a "
                f"{data_type.simpleString()} value ({feature['definition']})"
            )
        values.append(column)
    if analysis:
        raise FeatureDefinitionError(analysis)

    if spine_df is None:
        spine = default_spine(
            events, entity, time_column, [label for label in label_columns if label.casefold() in time_kinds]
        )
    else:
        spine = _checked_spine(spine_df, entity, time_column)
    spine_columns = [name for name in spine.columns if name not in (entity, time_column)]

    _report(progress, 0.1, "computing features")
    event_rows = events.select(F.col(entity), F.col(time_column), F.lit(False).alias(_IS_SPINE), *values)
    spine_rows = spine.select(
        F.col(entity), F.col(time_column).cast("timestamp").alias(time_column), *[F.col(c) for c in spine_columns]
    ).withColumn(_IS_SPINE, F.lit(True))
    rows = event_rows.unionByName(spine_rows, allowMissingColumns=True).withColumn(
        _TS_MICROS, F.unix_micros(F.col(time_column))
    )
    ordered = Window.partitionBy(F.col(entity)).orderBy(F.col(_TS_MICROS))
    computed: list[SparkColumn] = []
    for index, feature in enumerate(features):
        if feature["aggregation"] == Aggregation.NONE:
            frame = ordered.rangeBetween(Window.unboundedPreceding, -1)
        else:
            # [t - window, t): one microsecond before t is the last instant the frame holds.
            frame = ordered.rangeBetween(-parse_window(feature["window"]) * 1_000_000, -1)
        computed.append(_aggregate(feature["aggregation"], F.col(f"__v{index}"), frame).alias(feature["name"]))
    result = (
        rows.select(F.col(entity), F.col(time_column), *[F.col(c) for c in spine_columns], F.col(_IS_SPINE), *computed)
        .where(F.col(_IS_SPINE))
        .drop(_IS_SPINE)
    )
    if encodings:
        result = _target_encode(result, entity, encodings, folds=folds, smoothing=smoothing)
    result = result.withColumn(PARTITION_COLUMN, F.to_date(F.col(time_column)))

    return BuiltFeatures(result, entity, time_column)


def materialize(
    spark: SparkSession,
    feature_view: Any,
    dataset_version_df: DataFrame,
    spine_df: DataFrame | None = None,
    *,
    progress: Progress | None = None,
    output_key: str | None = None,
    folds: int = DEFAULT_FOLDS,
    smoothing: float = DEFAULT_SMOOTHING,
) -> MaterializedFeatures:
    """Compute the view's features at each spine row, write them, summarise them. See the module docstring.

    ``dataset_version_df`` is the source dataset version as read by registry.pipelines.io.read_dataset_version.
    ``spine_df`` holds the entity column and the view's event-time column (the time each row is computed at), and
    any label columns target encodings need; without one, ``default_spine`` builds it. Output lands in
    ARTIFACT_ROOT/features/<output_key>/ (a job passes its own id, so that a retry replaces its earlier attempt; a
    random key otherwise). Raises FeatureDefinitionError before any Spark job when a definition does not fit the
    data. ``progress(fraction, stage)`` is called between steps; a callback that raises stops the job: before the
    write nothing is left, after it the folder at the job's key stays until the job's retry replaces it (it is
    registered only by do_register_feature_set_version, so an unregistered folder is never read).
    """
    built = build_features(
        feature_view, dataset_version_df, spine_df, progress=progress, folds=folds, smoothing=smoothing
    )
    features = _features_of(feature_view)
    _report(progress, 0.2, "writing parquet")
    final, files = _write(built.dataframe, output_key or uuid.uuid4().hex)
    _report(progress, 0.7, "output written")
    written = spark.read.parquet(str(final))
    _report(progress, 0.8, "computing statistics")
    statistics, row_count = feature_statistics(written, [feature["name"] for feature in features])
    _report(progress, 1.0, "done")
    return MaterializedFeatures(
        dataframe=written,
        path=final,
        storage_location=final.relative_to(settings.ARTIFACT_ROOT).as_posix(),
        fingerprint=canonical_digest(files),
        row_count=row_count,
        statistics=statistics,
        files=files,
        entity_column=built.entity_column,
        time_column=built.time_column,
    )


def _checked_spine(spine: DataFrame, entity: str, time_column: str) -> DataFrame:
    kinds = _column_kinds(spine.schema)
    problems = []
    if entity.casefold() not in kinds:
        problems.append(f"spine: needs the entity column {entity!r}")
    found = kinds.get(time_column.casefold())
    if found is None:
        problems.append(f"spine: needs the time column {time_column!r} (the time each row's features are computed at)")
    elif found[1] != _TEMPORAL:
        problems.append(f"spine: {time_column!r} must be a timestamp or a date")
    reserved = [name for name in spine.columns if name.startswith("__") or name == PARTITION_COLUMN]
    if reserved:
        problems.append(f"spine: column names {', '.join(map(repr, reserved))} are reserved")
    if problems:
        raise FeatureDefinitionError(problems)
    return spine


def _target_encode(
    result: DataFrame, entity: str, encodings: Mapping[str, re.Match[str] | None], *, folds: int, smoothing: float
) -> DataFrame:
    """Replace each ``target_encode(category, label)`` feature (the entity's last category, so far) by the smoothed
    mean label of that category computed on the other folds only.

    Rows are split into ``folds`` folds by a stable hash of the entity (xxhash64 of its text): every row of an entity
    is in one fold, so neither a row's own label nor any other label of its entity reaches its encoding. For fold f
    and category c: ``(sum_not_f(c) + m * prior_not_f) / (count_not_f(c) + m)``, where the sums and counts are over
    rows of the other folds with category c and a label, and ``prior_not_f`` is the mean label of the other folds;
    a category never seen in the other folds (or a missing one) gets ``prior_not_f``.
    """
    from pyspark.sql import functions as F

    with_fold = result.withColumn(_FOLD, F.pmod(F.xxhash64(F.col(entity).cast("string")), F.lit(folds)))
    for name, match in encodings.items():
        assert match is not None
        label = match.group(2)
        y = F.col(label).cast("double")
        category = F.col(name)
        labelled = with_fold.where(F.col(label).isNotNull())
        per_fold_category = labelled.groupBy(_FOLD, name).agg(F.count(y).alias("__nfc"), F.sum(y).alias("__sfc"))
        per_category = labelled.groupBy(name).agg(F.count(y).alias("__nc"), F.sum(y).alias("__sc"))
        per_fold = labelled.groupBy(_FOLD).agg(F.count(y).alias("__nf"), F.sum(y).alias("__sf"))
        totals = labelled.agg(F.count(y).alias("__n"), F.sum(y).alias("__s"))
        joined = (
            with_fold.join(F.broadcast(per_fold_category), on=[_FOLD, name], how="left")
            .join(F.broadcast(per_category), on=[name], how="left")
            .join(F.broadcast(per_fold), on=[_FOLD], how="left")
            .crossJoin(F.broadcast(totals))
        )
        # Null-safe: a fold or category without labelled rows contributes zeros.
        n_out = F.coalesce(F.col("__nc"), F.lit(0)) - F.coalesce(F.col("__nfc"), F.lit(0))
        s_out = F.coalesce(F.col("__sc"), F.lit(0.0)) - F.coalesce(F.col("__sfc"), F.lit(0.0))
        n_prior = F.col("__n") - F.coalesce(F.col("__nf"), F.lit(0))
        prior = F.when(
            n_prior > 0, (F.coalesce(F.col("__s"), F.lit(0.0)) - F.coalesce(F.col("__sf"), F.lit(0.0))) / n_prior
        )
        encoded = F.when(category.isNull() | (n_out <= 0), prior).otherwise(
            (s_out + F.lit(float(smoothing)) * prior) / (n_out + F.lit(float(smoothing)))
        )
        with_fold = joined.withColumn(name, encoded.cast("double")).drop(
            "__nfc", "__sfc", "__nc", "__sc", "__nf", "__sf", "__n", "__s"
        )
    return with_fold.drop(_FOLD)


# --- Output -------------------------------------------------------------------------------------------------------


def parquet_files(folder: Path) -> list[list[Any]]:
    """``[relative path, size, sha256]`` of each Parquet file under ``folder``, sorted by path (Spark's _SUCCESS and
    .crc files are bookkeeping, not data): what a feature-set version's ``output_fingerprint`` is the digest of."""
    from registry.pipelines.io import file_listing

    files = [path for path in folder.rglob("*.parquet") if path.is_file() and not path.name.startswith((".", "_"))]
    return file_listing(files, folder)


def _write(frame: DataFrame, key: str) -> tuple[Path, list[list[Any]]]:
    """Write ``frame`` partitioned by as_of_date to ARTIFACT_ROOT/features/<key>, all or nothing
    (registry.pipelines.io.write_parquet_atomically: a staging folder renamed into place; a retry of the same key
    replaces what an earlier attempt left), and list its files for the fingerprint."""
    from pyspark.sql import functions as F

    from registry.pipelines.io import output_path, write_parquet_atomically

    # One file per date: the rows of a date are brought together before they are written.
    final = write_parquet_atomically(
        frame.repartition(F.col(PARTITION_COLUMN)),
        output_path("features", key),
        owner=key,
        partition_by=[PARTITION_COLUMN],
    )
    return final, parquet_files(final)


# --- Statistics ---------------------------------------------------------------------------------------------------


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def feature_statistics(frame: DataFrame, names: list[str]) -> tuple[dict[str, dict[str, Any]], int]:
    """Per feature: ``count`` (non-null), ``nulls``; for numbers and booleans also ``mean``, ``std`` (sample),
    ``min``, ``max``, ``quantiles`` (``{"0.5": ...}``, approximate with relative error 1/QUANTILE_ACCURACY) and
    ``histogram`` (``{"edges": [...], "counts": [...]}``, HISTOGRAM_BINS equal bins from min to max, the last one
    closed); for other values ``distinct`` (approximate). Two Spark jobs whatever the number of features: one
    aggregation for everything but the histograms, one for all the histograms. Undefined values (the mean of no
    values) are left out rather than stored as null. Returns the statistics and the row count.
    """
    from pyspark.sql import functions as F

    kinds = {item.name: _kind_of_spark_type(item.dataType) for item in frame.schema.fields}
    numeric = [name for name in names if kinds.get(name) in (_NUMERIC, _BOOLEAN)]
    aggregates: list[SparkColumn] = [F.count(F.lit(1)).alias("__rows")]
    for index, name in enumerate(names):
        column = F.col(name)
        aggregates += [F.count(column).alias(f"c{index}"), F.count_if(column.isNull()).alias(f"n{index}")]
        if name in numeric:
            value = column.cast("double")
            aggregates += [
                F.avg(value).alias(f"mean{index}"),
                F.stddev_samp(value).alias(f"std{index}"),
                F.min(value).alias(f"min{index}"),
                F.max(value).alias(f"max{index}"),
                F.percentile_approx(value, list(QUANTILES), QUANTILE_ACCURACY).alias(f"q{index}"),
            ]
        else:
            aggregates.append(F.approx_count_distinct(column).alias(f"d{index}"))
    first = frame.agg(*aggregates).collect()[0].asDict()
    statistics: dict[str, dict[str, Any]] = {}
    bins: dict[str, tuple[float, float]] = {}
    for index, name in enumerate(names):
        entry: dict[str, Any] = {"count": int(first[f"c{index}"]), "nulls": int(first[f"n{index}"])}
        if name in numeric:
            for key in ("mean", "std", "min", "max"):
                number = _finite(first[f"{key}{index}"])
                if number is not None:
                    entry[key] = number
            quantiles = first[f"q{index}"]
            if quantiles is not None:
                entry["quantiles"] = {
                    str(q): _finite(v) for q, v in zip(QUANTILES, quantiles, strict=True) if _finite(v) is not None
                }
            if "min" in entry and "max" in entry:
                bins[name] = (entry["min"], entry["max"])
        else:
            entry["distinct"] = int(first[f"d{index}"])
        statistics[name] = entry
    if bins:
        histogram_aggregates: list[SparkColumn] = []
        for index, name in enumerate(names):
            if name not in bins:
                continue
            low, high = bins[name]
            value = F.col(name).cast("double")
            width = (high - low) / HISTOGRAM_BINS if high > low else 1.0
            # least() skips nulls: a missing value must stay out of every bin, not land in the last one.
            slot = F.when(
                value.isNotNull(),
                F.least(F.floor((value - F.lit(low)) / F.lit(width)).cast("int"), F.lit(HISTOGRAM_BINS - 1)),
            )
            histogram_aggregates.append(
                F.array(*[F.count_if(slot == F.lit(b)) for b in range(HISTOGRAM_BINS)]).alias(f"h{index}")
            )
        second = frame.agg(*histogram_aggregates).collect()[0].asDict()
        for index, name in enumerate(names):
            if name not in bins:
                continue
            low, high = bins[name]
            counts = [int(count) for count in second[f"h{index}"]]
            if high > low:
                width = (high - low) / HISTOGRAM_BINS
                edges = [low + width * b for b in range(HISTOGRAM_BINS)] + [high]
            else:
                edges, counts = [low, high], [sum(counts)]
            statistics[name]["histogram"] = {"edges": edges, "counts": counts}
    return statistics, int(first["__rows"])
