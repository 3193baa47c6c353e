"""The validation figures on real Spark and real ONNX Runtime, against scikit-learn and brute force on the same rows
(the ``spark`` fixture: slow, so few tests that each check much).

Tolerances: the threshold metrics, the Brier score, the calibration table, the ECE and the cost at the threshold
come from exact counts and sums (1e-12); AUC comes from the score bins: exactly sklearn's AUC of the binned scores,
and within 2e-3 of sklearn's AUC of the raw scores with 1000 bins over these 4000 rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import onnxruntime
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from audits.pipelines.edge_cases import data_statistics, edge_case_suite
from audits.pipelines.scoring import plan_scoring
from audits.pipelines.validation import (
    ValidationAuditError,
    ValidationParams,
    aggregate,
    holdout_cutoff,
    validation_figures,
)
from tests.audits.onnx_models import INTERFACE, scorer_bytes
from tests.audits.validation_models import robust_bytes

EXACT = 1e-12
START = datetime(2025, 1, 1, tzinfo=UTC)


def credit_rows(n: int = 4000, seed: int = 7) -> pd.DataFrame:
    """Applications over a year; the default risk follows income and debt (so the model has signal); a tiny
    "islands" region."""
    rng = np.random.default_rng(seed)
    income = rng.normal(0, 1, n)
    debt = rng.normal(0, 1, n)
    risk = 1 / (1 + np.exp(-(1.2 * income - 0.7 * debt)))
    region = rng.choice(["north", "south"], n).astype(object)
    region[:12] = "islands"
    return pd.DataFrame(
        {
            "income": income,
            "debt": debt,
            "region": region,
            "applied_at": [START + timedelta(minutes=int(m)) for m in rng.integers(0, 365 * 24 * 60, n)],
            "defaulted": (rng.random(n) < risk).astype(np.int64),
        }
    )


def onnx_scores(onnx_bytes: bytes, rows: pd.DataFrame) -> np.ndarray:
    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    feeds = {c: rows[c].to_numpy(np.float32).reshape(-1, 1) for c in ("income", "debt")}
    return np.asarray(session.run(["probability"], feeds)[0][:, 1], dtype=np.float64)


def figures_of(spark: Any, rows: pd.DataFrame, params: ValidationParams, onnx: bytes | None = None) -> dict[str, Any]:
    frame = spark.createDataFrame(rows).repartition(3)
    cutoff = holdout_cutoff(frame, params.time_column, params.holdout_fraction) if params.time_column else None
    cells = aggregate(frame, onnx or scorer_bytes(), INTERFACE, params, cutoff)
    return validation_figures(cells, params, cutoff=cutoff)


def check_against_sklearn(figures: dict[str, Any], y: np.ndarray, scores: np.ndarray, params: ValidationParams) -> None:
    predicted = (scores >= params.threshold).astype(int)
    binned = np.minimum(np.floor(scores * params.score_bins), params.score_bins - 1)
    assert figures["size"] == len(y)
    assert figures["positive_rate"] == pytest.approx(y.mean(), abs=EXACT)
    assert figures["precision"] == pytest.approx(precision_score(y, predicted), abs=EXACT)
    assert figures["recall"] == pytest.approx(recall_score(y, predicted), abs=EXACT)
    assert figures["accuracy"] == pytest.approx(accuracy_score(y, predicted), abs=EXACT)
    assert figures["brier"] == pytest.approx(brier_score_loss(y, scores), abs=EXACT)
    assert figures["auc"] == pytest.approx(roc_auc_score(y, binned), abs=EXACT)
    assert figures["auc"] == pytest.approx(roc_auc_score(y, scores), abs=2e-3)


def test_figures_agree_with_sklearn_on_the_same_rows(spark: Any) -> None:
    # GIVEN 4000 applications, a segment column with a 12-row region, and the use case's costs
    rows = credit_rows()
    params = ValidationParams(
        label="defaulted", threshold=0.4, segment_column="region", min_segment_size=30, costs=(1.0, 5.0)
    )
    # WHEN scored and aggregated on Spark in one pass
    figures = figures_of(spark, rows, params)
    # THEN every overall figure is sklearn's on the scores ONNX Runtime gives row by row
    scores = onnx_scores(scorer_bytes(), rows)
    y = rows["defaulted"].to_numpy()
    assert figures["rows"] == len(rows)
    check_against_sklearn(figures["overall"], y, scores, params)
    # AND each segment's figures are sklearn's on that segment's rows; the 12-row region is insufficient data
    groups = {g["segment"]: g for g in figures["segments"]["groups"]}
    assert set(groups) == {"islands", "north", "south"}
    assert groups["islands"]["status"] == "insufficient_data"
    for name in ("north", "south"):
        chosen = (rows["region"] == name).to_numpy()
        assert groups[name]["status"] == "ok"
        check_against_sklearn(groups[name]["metrics"], y[chosen], scores[chosen], params)
    # AND the reliability table and the ECE are the brute-force ones over ten bins of the raw scores
    reliability = np.minimum(np.floor(scores * 10), 9)
    table = figures["calibration"]
    assert [row["count"] for row in table] == [
        int((reliability == b).sum()) for b in range(10) if (reliability == b).any()
    ]
    ece = 0.0
    for row in table:
        chosen = reliability == round(row["bin_low"] * 10)
        assert row["mean_score"] == pytest.approx(scores[chosen].mean(), abs=EXACT)
        assert row["observed_rate"] == pytest.approx(y[chosen].mean(), abs=EXACT)
        ece += chosen.mean() * abs(scores[chosen].mean() - y[chosen].mean())
    assert figures["overall"]["ece"] == pytest.approx(ece, abs=EXACT)
    # AND the cost curve's minimum is the brute-force one over every bin edge
    cost = figures["cost"]
    brute = [
        (1.0 * ((scores >= k / 1000) & (y == 0)).sum() + 5.0 * ((scores < k / 1000) & (y == 1)).sum()) / len(y)
        for k in range(1001)
    ]
    assert cost["best_threshold"] == pytest.approx(int(np.argmin(brute)) / 1000)
    assert cost["best_cost"] == pytest.approx(min(brute), abs=EXACT)
    at_threshold = (1.0 * ((predicted := scores >= 0.4) & (y == 0)).sum() + 5.0 * (~predicted & (y == 1)).sum()) / len(
        y
    )
    assert cost["cost_at_threshold"] == pytest.approx(at_threshold, abs=EXACT)
    assert cost["best_cost"] <= cost["cost_at_threshold"]
    assert {p["threshold"] for p in cost["curve"]} >= {0.0, 0.5, 1.0, cost["best_threshold"]}
    for point in cost["curve"]:
        assert point["expected_cost"] == pytest.approx(brute[round(point["threshold"] * 1000)], abs=EXACT)
    # AND no holdout without a time column
    assert figures["holdout"] is None


def test_the_holdout_holds_only_the_rows_after_the_cutoff(spark: Any) -> None:
    # GIVEN applications over a year, the latest quarter held out
    rows = credit_rows()
    params = ValidationParams(label="defaulted", time_column="applied_at", holdout_fraction=0.25, costs=None)
    figures = figures_of(spark, rows, params)
    holdout = figures["holdout"]
    # THEN the cutoff is the 75% quantile of the times, recorded, and the holdout is exactly the rows after it
    cutoff = datetime.fromisoformat(holdout["cutoff"])
    after = (rows["applied_at"] > cutoff).to_numpy()
    assert after.mean() == pytest.approx(0.25, abs=0.01)
    assert holdout["rows"] == int(after.sum())
    # AND its figures are sklearn's on those rows alone, not the whole data's
    scores = onnx_scores(scorer_bytes(), rows)
    y = rows["defaulted"].to_numpy()
    check_against_sklearn(holdout["metrics"], y[after], scores[after], params)
    assert holdout["metrics"]["auc"] != figures["overall"]["auc"]
    # AND without knowing the training data, the look-ahead is said to be not knowable
    assert holdout["look_ahead"]["status"] == "not_knowable"
    assert figures["cost"] is None


def test_look_ahead_is_found_when_the_training_data_runs_past_the_cutoff(spark: Any) -> None:
    rows = credit_rows(400)
    params = ValidationParams(label="defaulted", time_column="applied_at", holdout_fraction=0.2)
    frame = spark.createDataFrame(rows)
    cutoff = holdout_cutoff(frame, "applied_at", 0.2)
    cells = aggregate(frame, scorer_bytes(), INTERFACE, params, cutoff)
    before = validation_figures(cells, params, cutoff=cutoff, training={"dataset_version": "v1", "last_time": 0.0})
    assert before["holdout"]["look_ahead"]["status"] == "none"
    after = validation_figures(cells, params, cutoff=cutoff, training={"dataset_version": "v1", "last_time": 4e9})
    assert after["holdout"]["look_ahead"]["status"] == "found"
    assert "may have seen the holdout" in after["holdout"]["look_ahead"]["detail"]


def test_nan_scores_and_a_single_class_label_fail(spark: Any) -> None:
    rows = credit_rows(300)
    params = ValidationParams(label="defaulted")
    with pytest.raises(ValidationAuditError, match="NaN, infinite or outside"):
        figures_of(spark, rows, params, scorer_bytes(broken=True))
    with pytest.raises(ValidationAuditError, match="single class"):
        figures_of(spark, rows.assign(defaulted=1), params)
    with pytest.raises(ValidationAuditError, match="not binary"):
        figures_of(spark, rows.assign(defaulted=rows["defaulted"] * 2), params)


def suite(spark: Any, onnx: bytes, monotonic: dict[str, str]) -> dict[str, Any]:
    rows = credit_rows(1000)
    frame = spark.createDataFrame(rows)
    plan = plan_scoring(INTERFACE, frame.columns)
    statistics = data_statistics(frame, plan, "the evaluation data")
    return edge_case_suite(onnx, plan, statistics, monotonic=monotonic, seed=3)


def test_a_model_that_returns_nan_for_a_missing_value_fails_its_edge_cases(spark: Any) -> None:
    # GIVEN a model that scores NaN when an input is missing
    # WHEN the edge-case suite runs
    results = suite(spark, scorer_bytes(), {})["edge_cases"]
    # THEN exactly the two missing-value cases fail, and say why
    failed = [c for c in results["cases"] if not c["passed"]]
    assert [(c["name"], c["kind"], c["feature"]) for c in failed] == [
        ("income: missing (NaN)", "missing", "income"),
        ("debt: missing (NaN)", "missing", "debt"),
    ]
    assert all("non-finite score" in c["detail"] for c in failed)
    assert results["failed"] == 2
    assert results["statistics_from"] == "the evaluation data"
    kinds = {c["kind"] for c in results["cases"]}
    assert kinds == {"baseline", "missing", "extreme", "boundary", "random"}
    # AND a model that reads a missing value as 0 passes every case
    assert suite(spark, robust_bytes(), {})["edge_cases"]["failed"] == 0


def test_monotonic_constraints_hold_or_report_the_worst_violation(spark: Any) -> None:
    # GIVEN a model whose score rises with income and falls with debt
    held = suite(spark, robust_bytes(), {"income": "increasing", "debt": "decreasing"})["monotonic"]
    # THEN both declared constraints hold: no step against the direction
    assert [(c["feature"], c["worst_violation"], c["crashed"]) for c in held] == [
        ("income", 0.0, False),
        ("debt", 0.0, False),
    ]
    assert all(c["steps"] == 20 and c["bases"] == 5 for c in held)
    # WHEN a direction the model does not follow is declared THEN the worst step against it is reported
    (broken,) = suite(spark, robust_bytes(), {"income": "decreasing"})["monotonic"]
    assert broken["worst_violation"] > 0.01
    assert "against decreasing" in broken["detail"]
    # AND a model that rises then falls in income breaks "increasing"
    (bent,) = suite(spark, robust_bytes(q=-0.5), {"income": "increasing"})["monotonic"]
    assert bent["worst_violation"] > 0.01
    assert bent["at"]["from"] > 0  # past the top of the parabola (income 0.8)
