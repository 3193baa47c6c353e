"""Materialize a feature view: point-in-time windowed aggregations, out-of-fold target encoding, Parquet, statistics.

``materialize(spark, view, events, spine)`` computes, for each spine row (an entity and a time ``t``), every feature
of the view from the events of that entity with ``t - window <= event_time < t``: strictly before ``t``, so that a
feature never sees the moment it is used at or anything after it (no look-ahead). It is an as-of join done as one
sorted pass: the spine rows are put among the events of their entity and each feature is a window function over a
range frame ending one microsecond before the row (``rangeBetween(-window, -1)`` on event time in microseconds), so
Spark sorts each entity's rows once per distinct window length instead of joining every spine row to every event.

Definitions are checked before Spark runs anything (``check_feature_view``, in registry.pipelines.feature_definitions:
a missing column, a bad window, an aggregation that does not fit the column's type). The output is written as
Parquet partitioned by ``as_of_date``, into a staging folder that is renamed into place only once complete, and
summarised per feature in two passes (``feature_statistics``, in registry.pipelines.statistics: count, nulls, mean,
std, min, max and quantiles in the first; a fixed-bin histogram in the second). See docs/spark-jobs.md, "Feature
pipelines".
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.canonical import canonical_digest
from registry.choices import Aggregation
from registry.pipelines.feature_definitions import (
    ACCEPTS,
    TARGET_ENCODE,
    TEMPORAL,
    check_feature_view,
    column_kinds,
    entity_column,
    features_of,
    kind_of_spark_type,
    parse_window,
    view_attr,
)
from registry.pipelines.io import file_listing, output_path, write_parquet_atomically
from registry.pipelines.progress import Progress, report
from registry.pipelines.statistics import feature_statistics

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame, SparkSession, WindowSpec

__all__ = [
    "DEFAULT_FOLDS",
    "DEFAULT_SMOOTHING",
    "PARTITION_COLUMN",
    "BuiltFeatures",
    "FeatureDefinitionError",
    "MaterializedFeatures",
    "build_features",
    "default_spine",
    "materialize",
]

PARTITION_COLUMN = "as_of_date"
DEFAULT_FOLDS = 5
DEFAULT_SMOOTHING = 20.0

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


# --- Materialization ----------------------------------------------------------------------------------------------


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

    report(progress, 0.0, "checking definitions")
    if folds < 2:
        raise FeatureDefinitionError([f"target encoding needs at least 2 folds, not {folds}"])
    if not smoothing >= 0:
        raise FeatureDefinitionError([f"target encoding smoothing must be a non-negative number, not {smoothing}"])
    features = features_of(feature_view)
    source_schema = dataset_version_df.schema
    problems = check_feature_view(
        feature_view, source_schema, spine_schema=spine_df.schema if spine_df is not None else None
    )
    if problems:
        raise FeatureDefinitionError(problems)
    entity = entity_column(feature_view, source_schema)
    assert entity is not None  # checked above
    time_kinds = column_kinds(source_schema)
    time_column = time_kinds[str(view_attr(feature_view, "event_time_column")).casefold()][0]

    encodings = {
        feature["name"]: TARGET_ENCODE.match(feature["definition"])
        for feature in features
        if TARGET_ENCODE.match(feature["definition"])
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
        kind = kind_of_spark_type(data_type)
        if kind not in ACCEPTS[feature["aggregation"]]:
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

    report(progress, 0.1, "computing features")
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
    artifact_root: Path,
    progress: Progress | None = None,
    output_key: str | None = None,
    folds: int = DEFAULT_FOLDS,
    smoothing: float = DEFAULT_SMOOTHING,
) -> MaterializedFeatures:
    """Compute the view's features at each spine row, write them, summarise them. See the module docstring.

    ``dataset_version_df`` is the source dataset version as read by registry.pipelines.io.read_dataset_version.
    ``spine_df`` holds the entity column and the view's event-time column (the time each row is computed at), and
    any label columns target encodings need; without one, ``default_spine`` builds it. Output lands in
    ``artifact_root``/features/<output_key>/ (the ARTIFACT_ROOT setting; a job passes its own id as the key, so
    that a retry replaces its earlier attempt; a random key otherwise). Raises FeatureDefinitionError before any
    Spark job when a definition does not fit the data. ``progress(fraction, stage)`` is called between steps; a
    callback that raises stops the job: before the write nothing is left, after it the folder at the job's key
    stays until the job's retry replaces it (it is registered only by do_register_feature_set_version, so an
    unregistered folder is never read).
    """
    built = build_features(
        feature_view, dataset_version_df, spine_df, progress=progress, folds=folds, smoothing=smoothing
    )
    features = features_of(feature_view)
    report(progress, 0.2, "writing parquet")
    final, files = _write(built.dataframe, Path(artifact_root), output_key or uuid.uuid4().hex)
    report(progress, 0.7, "output written")
    written = spark.read.parquet(str(final))
    report(progress, 0.8, "computing statistics")
    statistics, row_count = feature_statistics(written, [feature["name"] for feature in features])
    report(progress, 1.0, "done")
    return MaterializedFeatures(
        dataframe=written,
        path=final,
        storage_location=final.relative_to(artifact_root).as_posix(),
        fingerprint=canonical_digest(files),
        row_count=row_count,
        statistics=statistics,
        files=files,
        entity_column=built.entity_column,
        time_column=built.time_column,
    )


def _checked_spine(spine: DataFrame, entity: str, time_column: str) -> DataFrame:
    kinds = column_kinds(spine.schema)
    problems = []
    if entity.casefold() not in kinds:
        problems.append(f"spine: needs the entity column {entity!r}")
    found = kinds.get(time_column.casefold())
    if found is None:
        problems.append(f"spine: needs the time column {time_column!r} (the time each row's features are computed at)")
    elif found[1] != TEMPORAL:
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
    files = [path for path in folder.rglob("*.parquet") if path.is_file() and not path.name.startswith((".", "_"))]
    return file_listing(files, folder)


def _write(frame: DataFrame, artifact_root: Path, key: str) -> tuple[Path, list[list[Any]]]:
    """Write ``frame`` partitioned by as_of_date to ARTIFACT_ROOT/features/<key>, all or nothing
    (registry.pipelines.io.write_parquet_atomically: a staging folder renamed into place; a retry of the same key
    replaces what an earlier attempt left), and list its files for the fingerprint."""
    from pyspark.sql import functions as F

    # One file per date: the rows of a date are brought together before they are written.
    final = write_parquet_atomically(
        frame.repartition(F.col(PARTITION_COLUMN)),
        output_path(artifact_root, "features", key),
        artifact_root=artifact_root,
        owner=key,
        partition_by=[PARTITION_COLUMN],
    )
    return final, parquet_files(final)
