"""Per-feature summaries of a materialized feature set, the baseline for drift: two Spark jobs for any number of
features (everything but the histograms in the first, every histogram in the second). See docs/spark-jobs.md,
"Feature pipelines".
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from registry.pipelines.feature_definitions import BOOLEAN, NUMERIC, kind_of_spark_type

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
# percentile_approx's accuracy: the relative error of a quantile is 1 / accuracy (0.1% of the rank).
QUANTILE_ACCURACY = 1000
HISTOGRAM_BINS = 10


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

    kinds = {item.name: kind_of_spark_type(item.dataType) for item in frame.schema.fields}
    numeric = [name for name in names if kinds.get(name) in (NUMERIC, BOOLEAN)]
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
