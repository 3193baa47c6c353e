"""The edge cases generated from an interface contract and data statistics (no Spark, no model: which rows are
tried). tests/audits/test_validation_pipeline.py scores them with real models."""

from __future__ import annotations

import math

import numpy as np

from audits.pipelines.edge_cases import UNSEEN, edge_cases
from audits.pipelines.scoring import ScoringPlan
from registry.interface import InputFeed

PLAN = ScoringPlan(
    feeds=(
        InputFeed("age", ("age",), "int64", 2),
        InputFeed("amount", ("amount",), "float32", 2),
        InputFeed("channel", ("channel",), "string", 2),
    ),
    output=("probability", 1),
)
STATISTICS = {
    "source": "the evaluation data",
    "columns": {
        "age": {"type": "numeric", "min": 18.0, "max": 90.0, "quantiles": {"0.5": 41.0, "0.01": 18.0, "0.99": 88.0}},
        "amount": {"type": "numeric", "min": 5.0, "max": 1e39, "quantiles": {"0.5": 120.0}},
        "channel": {"type": "string", "categories": ["web", "branch"]},
    },
}


def test_cases_follow_the_input_types_and_the_observed_ranges() -> None:
    cases = {case.name: case for case in edge_cases(PLAN, STATISTICS, seed=1)}
    # every other feature at its median or most common category
    assert cases["baseline: every feature at its median"].rows == {"age": [41], "amount": [120.0], "channel": ["web"]}
    # a missing value only where the input can hold one: NaN for the float input, None for the string input
    assert math.isnan(cases["amount: missing (NaN)"].rows["amount"][0])
    assert cases["channel: missing (None)"].rows["channel"] == [None]
    assert "age: missing (NaN)" not in cases
    # integers stay integers; far beyond the range, and negative where the minimum is positive
    assert cases["age: far above the maximum"].rows["age"] == [90 + 10 * 72]
    assert cases["age: negative"].rows["age"] == [-90]
    assert cases["age: the 99% quantile"].kind == "boundary"
    # a float32 input is never fed a value float32 cannot hold
    assert cases["amount: far above the maximum"].rows["amount"] == [float(np.finfo(np.float32).max)]
    # an unseen category and an empty string for the string input
    assert cases["channel: an unseen category"].rows["channel"] == [UNSEEN]
    assert cases["channel: an empty string"].kind == "boundary"
    random = cases["50 random rows within the observed ranges"]
    assert all(18 <= age <= 90 for age in random.rows["age"])
    assert set(random.rows["channel"]) <= {"web", "branch"}
