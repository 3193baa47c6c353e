"""Validation figures: performance overall, per segment and on a time-ordered holdout, calibration, business cost
(docs/audits.md, "Validation").

A function of data: a Spark frame and the model's bytes and interface in, the report's figures out. The frame is
scored with ONNX Runtime on Spark (one session per partition, audits.pipelines.scoring) and aggregated in ONE pass
to cells: one row per (segment, holdout, label, prediction at the threshold, score bin) with its row count and the
exact sums of the scores and of the squared errors. Every figure derives from the cells:

- the threshold metrics (precision, recall, accuracy, predicted positive rate) from the prediction: exact;
- AUC from the score bins (the Mann-Whitney statistic with ties inside a bin counted one half): exact when a bin
  holds one score value, otherwise within the bin width;
- the Brier score from the sums of squared errors: exact; the reliability table from the score bins (each
  reliability bin is whole score bins) with the exact mean score of each, and the expected calibration error
  (ECE, the count-weighted mean of |mean score - observed rate|);
- the expected cost per row at every score-bin edge (``predicted positive`` = score at or above it) from the cost
  of a false positive and of a false negative, the edge that minimises it, and the cost at the chosen threshold
  (from the prediction, exact).

The holdout, when a time column is given: the rows after the ``1 - holdout_fraction`` quantile of the time column
(the cutoff), evaluated on their own. No look-ahead: when the training data's last event time is known (the caller
passes it), it must fall before the cutoff.

Refused here (``ValidationAuditError``): scores that are NaN, infinite or outside [0, 1]; a label that is not
binary, or holds a single class.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from audits.pipelines import AuditError
from audits.pipelines.fairness import auc_from_bins as fairness_auc_from_bins
from audits.pipelines.scoring import MISSING, open_session, plan_scoring, score_batch

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame

# Named apart from any dataset column: the model's input columns travel beside them into the scorer.
SEGMENT = "__assay_segment"
HOLDOUT = "__assay_holdout"
LABEL = "__assay_label"
SCORE = "score"
PREDICTION = "prediction"
SCORE_BIN = "score_bin"
COUNT = "count"
SCORE_SUM = "score_sum"
SQUARED_ERROR_SUM = "squared_error_sum"
ALL = "(all)"
INSUFFICIENT = "insufficient_data"
# The cost curve as drawn: this many thresholds (the minimum is sought over every score-bin edge).
CURVE_POINTS = 101


class ValidationAuditError(AuditError):
    """The data or the model cannot be validated (the message names why, for the job's error)."""


@dataclass(frozen=True)
class ValidationParams:
    """What the figures depend on: the label column, the threshold, an optional segment column, an optional time
    column with the latest share of rows held out, the number of score bins (a multiple of ``calibration_bins``),
    the minimum segment size, and the decision costs ``(false positive, false negative)`` when the use case has them."""

    label: str
    threshold: float = 0.5
    segment_column: str | None = None
    time_column: str | None = None
    holdout_fraction: float = 0.2
    calibration_bins: int = 10
    score_bins: int = 1000
    min_segment_size: int = 30
    costs: tuple[float, float] | None = None


def time_seconds(column: str) -> Column:
    """A date or timestamp column as seconds since the epoch (UTC: the Spark session's time zone)."""
    from pyspark.sql import functions as F

    return F.col(column).cast("timestamp").cast("double")


def iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def holdout_cutoff(frame: DataFrame, time_column: str, fraction: float) -> float:
    """The ``1 - fraction`` quantile of the time column (seconds since the epoch, a value of the data): the rows
    after it are the holdout."""
    from pyspark.sql import functions as F

    (row,) = frame.select(
        F.percentile_approx(time_seconds(time_column), F.lit(1.0 - fraction), F.lit(100_000)).alias("cutoff")
    ).collect()
    if row["cutoff"] is None:
        raise ValidationAuditError(f"The time column {time_column!r} holds no value: no holdout can be cut.")
    return float(row["cutoff"])


def last_time(frame: DataFrame, time_column: str) -> float | None:
    """The latest value of the time column (seconds since the epoch), or None when it holds none."""
    from pyspark.sql import functions as F

    (row,) = frame.select(F.max(time_seconds(time_column)).alias("last")).collect()
    return None if row["last"] is None else float(row["last"])


def _scorer(onnx_bytes: bytes, plan: Any) -> Any:
    """The function mapInPandas runs on each partition: one session for all its batches; the segment, holdout and
    label columns are prepared by Spark and pass through."""

    def score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        session = open_session(onnx_bytes)
        for batch in batches:
            out = batch[[SEGMENT, HOLDOUT, LABEL]].copy()
            out[SCORE] = score_batch(session, plan, batch)
            yield out

    return score_partition


def aggregate(
    frame: DataFrame, onnx_bytes: bytes, interface: dict[str, Any], params: ValidationParams, cutoff: float | None
) -> pd.DataFrame:
    """Score ``frame`` on Spark and aggregate it to cells in one pass (the module's docstring); the holdout holds
    the rows whose time is after ``cutoff`` (none when None)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType

    wanted = [params.label, *(c for c in (params.segment_column, params.time_column) if c)]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ValidationAuditError(f"The dataset lacks the column(s) {', '.join(missing)}.")
    plan = plan_scoring(interface, frame.columns)
    held_out = (
        F.lit(0)
        if cutoff is None or params.time_column is None
        else F.when(time_seconds(params.time_column) > F.lit(cutoff), 1).otherwise(0)
    )
    segment = (
        F.coalesce(F.col(params.segment_column).cast("string"), F.lit(MISSING)) if params.segment_column else F.lit(ALL)
    )
    schema = StructType(
        [
            StructField(SEGMENT, StringType()),
            StructField(HOLDOUT, IntegerType()),
            StructField(LABEL, DoubleType()),
            StructField(SCORE, DoubleType()),
        ]
    )
    scored = frame.select(
        *plan.columns,
        segment.alias(SEGMENT),
        held_out.alias(HOLDOUT),
        F.col(params.label).cast("double").alias(LABEL),
    ).mapInPandas(_scorer(onnx_bytes, plan), schema)
    score, label, bins = F.col(SCORE), F.col(LABEL), params.score_bins
    bad_score = F.isnan(score) | score.isNull() | (score < 0) | (score > 1)
    bad_label = label.isNull() | ~label.isin(0.0, 1.0)
    cells: Any = (
        scored.select(
            SEGMENT,
            HOLDOUT,
            F.when(bad_label, F.lit(-1)).otherwise(label.cast("int")).alias(LABEL),
            F.when(bad_score, F.lit(-1)).otherwise((score >= F.lit(params.threshold)).cast("int")).alias(PREDICTION),
            F.when(bad_score, F.lit(-1))
            .otherwise(F.least(F.floor(score * bins).cast("int"), F.lit(bins - 1)))
            .alias(SCORE_BIN),
            F.when(bad_score, F.lit(0.0)).otherwise(score).alias(SCORE),
            F.when(bad_score | bad_label, F.lit(0.0)).otherwise((score - label) * (score - label)).alias("se"),
        )
        .groupBy(SEGMENT, HOLDOUT, LABEL, PREDICTION, SCORE_BIN)
        .agg(
            F.count(F.lit(1)).alias(COUNT),
            F.sum(SCORE).alias(SCORE_SUM),
            F.sum("se").alias(SQUARED_ERROR_SUM),
        )
        .toPandas()
    )
    bad = int(cells[cells[PREDICTION] < 0][COUNT].sum())
    if bad:
        raise ValidationAuditError(f"The model returned {bad} score(s) that are NaN, infinite or outside [0, 1].")
    nonbinary = int(cells[cells[LABEL] < 0][COUNT].sum())
    if nonbinary:
        raise ValidationAuditError(
            f"The label column {params.label!r} is not binary: {nonbinary} row(s) hold a null or a value other than "
            "0 and 1."
        )
    if cells[LABEL].nunique() < 2:
        raise ValidationAuditError(
            f"The label holds a single class ({int(cells[LABEL].iloc[0]) if len(cells) else 'no rows'}): "
            "performance cannot be measured."
        )
    return cells


# --- figures from cells ----------------------------------------------------------------------------------------------


def number(value: float) -> float | None:
    """A figure for the report: None when undefined (JSON has no NaN)."""
    return None if value is None or not math.isfinite(value) else float(value)


def by_bin(cells: pd.DataFrame, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows per score bin among the positives and among the negatives."""
    positives = np.zeros(bins)
    negatives = np.zeros(bins)
    for label, counts in ((1, positives), (0, negatives)):
        chosen = cells[cells[LABEL] == label]
        np.add.at(counts, chosen[SCORE_BIN].to_numpy(dtype=int), chosen[COUNT].to_numpy(dtype=float))
    return positives, negatives


def auc_from_bins(positives: np.ndarray, negatives: np.ndarray) -> float | None:
    """The probability that a positive scores above a negative, ties (the same bin) one half (the fairness
    pipeline's Mann-Whitney statistic): None with one class."""
    if positives.sum() == 0 or negatives.sum() == 0:
        return None
    return float(fairness_auc_from_bins(positives, negatives))


def calibration_table(cells: pd.DataFrame, params: ValidationParams) -> list[dict[str, Any]]:
    """The reliability bins: rows, exact mean score and observed positive rate of each non-empty bin."""
    width = params.score_bins // params.calibration_bins
    reliability = cells[SCORE_BIN].to_numpy(dtype=int) // width
    counts = cells[COUNT].to_numpy(dtype=float)
    positives = counts * (cells[LABEL].to_numpy() == 1)
    table = []
    for index in range(params.calibration_bins):
        chosen = reliability == index
        count = counts[chosen].sum()
        if count == 0:
            continue
        table.append(
            {
                "bin_low": index / params.calibration_bins,
                "bin_high": (index + 1) / params.calibration_bins,
                "count": int(count),
                "mean_score": float(cells[SCORE_SUM].to_numpy()[chosen].sum() / count),
                "observed_rate": float(positives[chosen].sum() / count),
            }
        )
    return table


def expected_calibration_error(table: list[dict[str, Any]]) -> float | None:
    total = sum(row["count"] for row in table)
    if total == 0:
        return None
    return sum(row["count"] / total * abs(row["mean_score"] - row["observed_rate"]) for row in table)


def metrics(cells: pd.DataFrame, params: ValidationParams) -> dict[str, Any]:
    """The figures of one set of rows (overall, a segment, the holdout)."""
    counts = cells[COUNT].to_numpy(dtype=float)
    label = cells[LABEL].to_numpy()
    predicted = cells[PREDICTION].to_numpy()
    size = counts.sum()
    tp = counts[(label == 1) & (predicted == 1)].sum()
    fp = counts[(label == 0) & (predicted == 1)].sum()
    fn = counts[(label == 1) & (predicted == 0)].sum()
    tn = counts[(label == 0) & (predicted == 0)].sum()
    table = calibration_table(cells, params)
    return {
        "size": int(size),
        "positive_rate": number((tp + fn) / size) if size else None,
        "predicted_positive_rate": number((tp + fp) / size) if size else None,
        "auc": auc_from_bins(*by_bin(cells, params.score_bins)),
        "precision": number(tp / (tp + fp)) if tp + fp else None,
        "recall": number(tp / (tp + fn)) if tp + fn else None,
        "accuracy": number((tp + tn) / size) if size else None,
        "brier": number(cells[SQUARED_ERROR_SUM].sum() / size) if size else None,
        "ece": expected_calibration_error(table),
        "confusion": {"tp": int(tp), "fp": int(fp), "fn": int(fn), "tn": int(tn)},
    }


def cost_figures(cells: pd.DataFrame, params: ValidationParams) -> dict[str, Any] | None:
    """The expected cost per row at every score-bin edge, the edge minimising it, and the cost at the threshold."""
    if params.costs is None:
        return None
    cost_fp, cost_fn = params.costs
    positives, negatives = by_bin(cells, params.score_bins)
    size = positives.sum() + negatives.sum()
    # At edge k (threshold k / bins) a row is predicted positive when its bin is k or above.
    false_negatives = np.concatenate([[0.0], np.cumsum(positives)])
    false_positives = np.concatenate([np.cumsum(negatives[::-1])[::-1], [0.0]])
    expected = (cost_fp * false_positives + cost_fn * false_negatives) / size
    best = int(np.argmin(expected))
    step = max(1, params.score_bins // (CURVE_POINTS - 1))
    edges = sorted({*range(0, params.score_bins + 1, step), params.score_bins, best})
    label, predicted, counts = cells[LABEL].to_numpy(), cells[PREDICTION].to_numpy(), cells[COUNT].to_numpy(float)
    at_threshold = (
        cost_fp * counts[(label == 0) & (predicted == 1)].sum()
        + cost_fn * counts[(label == 1) & (predicted == 0)].sum()
    ) / size
    return {
        "cost_false_positive": cost_fp,
        "cost_false_negative": cost_fn,
        "curve": [{"threshold": k / params.score_bins, "expected_cost": float(expected[k])} for k in edges],
        "best_threshold": best / params.score_bins,
        "best_cost": float(expected[best]),
        "cost_at_threshold": float(at_threshold),
    }


def segment_figures(cells: pd.DataFrame, params: ValidationParams) -> dict[str, Any] | None:
    if params.segment_column is None:
        return None
    groups = []
    for segment, chosen in sorted(cells.groupby(SEGMENT), key=lambda item: str(item[0])):
        figures = metrics(chosen, params)
        enough = figures["size"] >= params.min_segment_size and figures["auc"] is not None
        groups.append(
            {
                "segment": str(segment),
                "size": figures["size"],
                "status": "ok" if enough else INSUFFICIENT,
                "metrics": figures,
            }
        )
    return {"column": params.segment_column, "min_segment_size": params.min_segment_size, "groups": groups}


def look_ahead(cutoff: float, training: dict[str, Any] | None) -> dict[str, Any]:
    """Whether the model could have seen the holdout: ``training`` is ``{"dataset_version", "last_time"}`` when the
    training data's last event time is knowable, else ``{"reason"}`` or None."""
    if training is None or training.get("last_time") is None:
        reason = (training or {}).get("reason") or "the model version links no training data of this dataset"
        return {"status": "not_knowable", "detail": f"Not knowable: {reason}."}
    last = float(training["last_time"])
    found = last > cutoff
    return {
        "status": "found" if found else "none",
        "training_dataset_version": training.get("dataset_version"),
        "training_last_time": iso(last),
        "detail": (
            f"The training data runs to {iso(last)}, after the cutoff {iso(cutoff)}: the model may have seen the "
            "holdout."
            if found
            else f"The training data ends at {iso(last)}, before the cutoff {iso(cutoff)}."
        ),
    }


def validation_figures(
    cells: pd.DataFrame, params: ValidationParams, *, cutoff: float | None, training: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The report's figures from the cells (everything but the edge cases and the checks)."""
    overall = metrics(cells, params)
    holdout = None
    if params.time_column is not None and cutoff is not None:
        held = cells[cells[HOLDOUT] == 1]
        holdout = {
            "time_column": params.time_column,
            "fraction": params.holdout_fraction,
            "cutoff": iso(cutoff),
            "rows": int(held[COUNT].sum()),
            "metrics": metrics(held, params) if len(held) else None,
            "look_ahead": look_ahead(cutoff, training),
        }
    return {
        "rows": overall["size"],
        "threshold": params.threshold,
        "score_bins": params.score_bins,
        "overall": overall,
        "segments": segment_figures(cells, params),
        "calibration": calibration_table(cells, params),
        "cost": cost_figures(cells, params),
        "holdout": holdout,
    }
