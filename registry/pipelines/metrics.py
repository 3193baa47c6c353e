"""The decision threshold and the test metrics of a fitted binary classifier, computed in Spark.

Step 7 of ``registry.pipelines.training.train``: ``with_positive_probability`` adds the positive-class probability
to scored rows; ``probability_bins`` reduces the validation split to counts per probability bin, on which
``choose_threshold`` picks the threshold of maximum F1 or, with the costs of a false positive and a false negative,
of minimum cost; ``held_out_metrics`` measures the test split at that threshold (AUC, precision, recall, F1, log
loss, business cost).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from registry.pipelines.training_data import LABEL_COL, POSITIVE_COL

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

THRESHOLD_BINS = 1000
LOG_LOSS_EPSILON = 1e-15


def with_positive_probability(scored: DataFrame) -> DataFrame:
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    return scored.withColumn(POSITIVE_COL, vector_to_array(F.col("probability"))[1])


def probability_bins(scored: DataFrame) -> np.ndarray:
    """Counts of negatives and positives per probability bin of width 1/THRESHOLD_BINS, as a (bins, 2) array: the
    validation split reduced to a thousand rows whatever its size."""
    from pyspark.sql import functions as F

    binned = F.least(F.floor(F.col(POSITIVE_COL) * THRESHOLD_BINS), F.lit(THRESHOLD_BINS - 1)).cast("int")
    counts = np.zeros((THRESHOLD_BINS, 2))
    for row in scored.groupBy(binned.alias("bin"), F.col(LABEL_COL)).count().collect():
        counts[row["bin"], int(row[LABEL_COL])] += row["count"]
    return counts


def choose_threshold(bins: np.ndarray, *, costs: tuple[float, float] | None = None) -> float:
    """The threshold (a multiple of 1/THRESHOLD_BINS; positive when p >= threshold) of maximum F1 on the binned
    validation scores or, with ``costs`` (false positive, false negative), of minimum total cost."""
    negatives, positives = bins[:, 0], bins[:, 1]
    # Predicting positive from bin b up: true positives are the positives in bins b.., false positives the negatives.
    tp = positives[::-1].cumsum()[::-1]
    fp = negatives[::-1].cumsum()[::-1]
    fn = positives.sum() - tp
    if costs is not None:
        cost_fp, cost_fn = costs
        index = int(np.argmin(cost_fp * fp + cost_fn * fn))
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            f1 = np.where(tp > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        index = int(np.argmax(f1))
    return index / THRESHOLD_BINS


def held_out_metrics(scored: DataFrame, *, threshold: float, costs: tuple[float, float] | None) -> dict[str, float]:
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.sql import functions as F

    p, y = F.col(POSITIVE_COL), F.col(LABEL_COL)
    clipped = F.least(F.greatest(p, F.lit(LOG_LOSS_EPSILON)), F.lit(1 - LOG_LOSS_EPSILON))
    positive = p >= threshold
    row = scored.agg(
        F.count_if(positive & (y == 1)).alias("tp"),
        F.count_if(positive & (y == 0)).alias("fp"),
        F.count_if(~positive & (y == 1)).alias("fn"),
        F.count_if(~positive & (y == 0)).alias("tn"),
        F.avg(-(y * F.log(clipped) + (1 - y) * F.log(1 - clipped))).alias("log_loss"),
    ).first()
    assert row is not None
    tp, fp, fn, tn = (int(row[name]) for name in ("tp", "fp", "fn", "tn"))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    metrics = {
        "auc": BinaryClassificationEvaluator(
            labelCol=LABEL_COL, rawPredictionCol=POSITIVE_COL, metricName="areaUnderROC"
        ).evaluate(scored),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "log_loss": float(row["log_loss"]),
        "threshold": threshold,
        "test_rows": float(tp + fp + fn + tn),
        "true_positives": float(tp),
        "false_positives": float(fp),
        "false_negatives": float(fn),
        "true_negatives": float(tn),
    }
    if costs is not None:
        cost = costs[0] * fp + costs[1] * fn
        metrics["business_cost"] = cost
        metrics["business_cost_per_row"] = cost / (tp + fp + fn + tn)
    return metrics
