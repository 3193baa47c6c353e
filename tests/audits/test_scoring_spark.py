"""Scoring on Spark with ONNX Runtime and aggregating the cells (the ``spark`` fixture: slow, so few tests)."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime
import pandas as pd
import pytest

from audits.pipelines.scoring import ScoringError, aggregate_cells, plan_scoring
from tests.audits.onnx_models import INTERFACE, scorer_bytes


def credit_rows(n: int = 3000, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income": rng.normal(0, 1, n),
            "debt": rng.normal(0, 1, n),
            "sex": rng.choice(["f", "m"], n),
            "age_band": rng.choice(np.array(["<30", "30-60", ">60", None], dtype=object), n),
        }
    )
    frame["defaulted"] = rng.integers(0, 2, n)
    return frame


def test_cells_count_every_row_as_onnx_runtime_scores_it(spark: Any):
    # GIVEN rows in four partitions
    rows = credit_rows()
    frame = spark.createDataFrame(rows).repartition(4)
    # WHEN scored and aggregated on Spark
    cells = aggregate_cells(
        frame, scorer_bytes(), INTERFACE, label="defaulted", attributes=["sex", "age_band"], threshold=0.5, bins=100
    )
    # THEN the cells hold every row once, with the predictions ONNX Runtime gives row by row
    assert cells["count"].sum() == len(rows)
    session = onnxruntime.InferenceSession(scorer_bytes(), providers=["CPUExecutionProvider"])
    feeds = {c: rows[c].to_numpy(np.float32).reshape(-1, 1) for c in ("income", "debt")}
    scores = session.run(["probability"], feeds)[0][:, 1].astype(np.float64)
    for sex in ("f", "m"):
        chosen = (rows["sex"] == sex).to_numpy()
        selected = cells[(cells["sex"] == sex) & (cells["prediction"] == 1)]["count"].sum()
        assert selected == int((scores[chosen] >= 0.5).sum())
    assert "(missing)" in set(cells["age_band"])
    # AND with a segment column, the same rows counted per segment too
    segmented = aggregate_cells(
        frame,
        scorer_bytes(),
        INTERFACE,
        label="defaulted",
        attributes=["sex"],
        threshold=0.5,
        bins=100,
        segment="age_band",
    )
    assert segmented["count"].sum() == len(rows)
    by_band = segmented.groupby("age_band")["count"].sum()
    assert by_band.to_dict() == rows["age_band"].fillna("(missing)").value_counts().to_dict()


def test_nan_scores_and_a_non_binary_label_are_refused(spark: Any):
    rows = credit_rows(200)
    with pytest.raises(ScoringError, match="NaN, infinite or outside"):
        aggregate_cells(
            spark.createDataFrame(rows),
            scorer_bytes(broken=True),
            INTERFACE,
            label="defaulted",
            attributes=["sex"],
            threshold=0.5,
        )
    rows.loc[0, "defaulted"] = 2
    with pytest.raises(ScoringError, match="not binary"):
        aggregate_cells(
            spark.createDataFrame(rows), scorer_bytes(), INTERFACE, label="defaulted", attributes=["sex"], threshold=0.5
        )


def test_a_dataset_without_the_models_inputs_is_refused():
    with pytest.raises(ScoringError, match="do not match the model's interface: it lacks debt"):
        plan_scoring(INTERFACE, ["income", "sex", "defaulted"])


def test_a_model_without_a_score_output_is_refused():
    interface = {**INTERFACE, "outputs": [{"name": "label", "kind": "tensor", "elem_type": "int64", "shape": [None]}]}
    with pytest.raises(ScoringError, match="no score output"):
        plan_scoring(interface, ["income", "debt"])
