"""The fairness figures from aggregated cells agree with fairlearn computed the plain way over the same rows.

Pure tests (no Spark, no database): rows are drawn, aggregated as the Spark job aggregates them, and the report's
figures compared with fairlearn's MetricFrame over the rows themselves, to 1e-9.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
from sklearn.metrics import accuracy_score, precision_score, roc_auc_score

from audits.pipelines.fairness import (
    FAILED,
    INSUFFICIENT,
    PASSED,
    FairnessError,
    FairnessParams,
    Thresholds,
    fairness_report,
)

BINS = 50


def rows(n: int = 6000, *, seed: int = 3, bias: float = 0.08) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "sex": rng.choice(["f", "m"], n),
            "region": rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2]),
            "label": rng.integers(0, 2, n),
        }
    )
    score = np.clip(rng.normal(0.4 + 0.2 * frame["label"] + bias * (frame["sex"] == "m"), 0.2), 0, 0.999)
    # Scores on the bins' grid: a bin then holds one score value and the AUC from the bins is exact.
    frame["score_bin"] = (score * BINS).astype(int)
    frame["prediction"] = (frame["score_bin"] >= BINS // 2).astype(int)
    return frame


def aggregate(frame: pd.DataFrame, attributes: list[str]) -> pd.DataFrame:
    keys = [*attributes, "label", "prediction", "score_bin"]
    return frame.groupby(keys, as_index=False).size().rename(columns={"size": "count"})


def plain(frame: pd.DataFrame, attributes: list[str]) -> pd.DataFrame:
    """fairlearn over the rows, unweighted: the reference the aggregated computation must match."""
    by_group = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
            "precision": lambda t, p: precision_score(t, p, zero_division=np.nan),
            "accuracy": accuracy_score,
        },
        y_true=frame["label"],
        y_pred=frame["prediction"],
        sensitive_features=frame[attributes],
    ).by_group
    auc = MetricFrame(
        metrics={"auc": roc_auc_score},
        y_true=frame["label"],
        y_pred=frame["score_bin"],
        sensitive_features=frame[attributes],
    ).by_group
    return by_group.join(auc)


def test_the_figures_agree_with_fairlearn_over_the_rows_to_1e_9():
    # GIVEN rows with two protected attributes, aggregated into cells
    frame = rows()
    cells = aggregate(frame, ["sex", "region"])
    # WHEN the report is computed from the cells
    report = fairness_report(cells, FairnessParams(("sex", "region"), bootstrap_iterations=20), Thresholds())
    # THEN every group's figures, each attribute alone and their intersection, equal fairlearn's over the rows
    assert report["rows"] == len(frame)
    assert [g["attributes"] for g in report["groupings"]] == [["sex"], ["region"], ["sex", "region"]]
    for grouping in report["groupings"]:
        attributes = grouping["attributes"]
        expected = plain(frame, attributes)
        assert len(grouping["groups"]) == len(expected)
        for group in grouping["groups"]:
            key = tuple(group["group"][a] for a in attributes)
            row = expected.loc[key if len(key) > 1 else key[0]]
            for name, figure in group["metrics"].items():
                assert figure["value"] == pytest.approx(row[name], abs=1e-9), (key, name)
            assert group["size"] == int((frame[attributes].astype(str).apply(tuple, axis=1) == key).sum())


def test_an_intersection_no_row_holds_is_no_group():
    # GIVEN rows where no woman lives in the east (the demo's four protected attributes leave many such holes)
    frame = rows()
    frame = frame[~((frame["sex"] == "f") & (frame["region"] == "east"))]
    cells = aggregate(frame, ["sex", "region"])
    # WHEN the report is computed
    report = fairness_report(cells, FairnessParams(("sex", "region"), bootstrap_iterations=20), Thresholds())
    # THEN the intersection lists the five combinations that hold rows, each with its size, and not the empty one
    (intersection,) = [g for g in report["groupings"] if g["attributes"] == ["sex", "region"]]
    groups = {(g["group"]["sex"], g["group"]["region"]): g["size"] for g in intersection["groups"]}
    assert ("f", "east") not in groups
    assert len(groups) == 5
    assert sum(groups.values()) == len(frame)


def test_the_named_metrics_agree_between_fairlearn_aif360_and_the_rows():
    frame = rows(bias=0.15)
    report = fairness_report(aggregate(frame, ["sex"]), FairnessParams(("sex",), bootstrap_iterations=20), Thresholds())
    (grouping,) = report["groupings"]
    # The reference is the group with the highest selection rate; "m" is favoured by construction.
    assert grouping["reference"] == {"sex": "m"}
    (comparison,) = grouping["comparisons"]
    f, m = frame[frame["sex"] == "f"], frame[frame["sex"] == "m"]
    sr = (f["prediction"].mean(), m["prediction"].mean())
    tpr = (f[f.label == 1]["prediction"].mean(), m[m.label == 1]["prediction"].mean())
    fpr = (f[f.label == 0]["prediction"].mean(), m[m.label == 0]["prediction"].mean())
    expected = {
        "disparate_impact": sr[0] / sr[1],
        "statistical_parity_difference": sr[0] - sr[1],
        "equal_opportunity_difference": tpr[0] - tpr[1],
        "average_odds_difference": 0.5 * ((fpr[0] - fpr[1]) + (tpr[0] - tpr[1])),
    }
    for name, value in expected.items():
        figure = comparison["metrics"][name]
        assert figure["value"] == pytest.approx(value, abs=1e-9)
        assert figure["fairlearn"] == pytest.approx(value, abs=1e-9)
        low, high = figure["interval"]
        assert low <= figure["value"] <= high
    assert grouping["between_groups"]["selection_rate_ratio"] == pytest.approx(sr[0] / sr[1], abs=1e-9)


def test_verdicts_follow_the_thresholds():
    # GIVEN a model that selects men markedly more often
    cells = aggregate(rows(bias=0.25), ["sex"])
    params = FairnessParams(("sex",), bootstrap_iterations=10)
    # WHEN audited with the default four-fifths rule THEN disparate impact fails
    strict = fairness_report(cells, params, Thresholds())
    assert strict["checks"]["disparate_impact"] == FAILED
    assert strict["verdict"] == FAILED
    # WHEN the policy's thresholds are loose enough THEN every check passes
    loose = Thresholds(disparate_impact_min=0.1, statistical_parity_max=1, equal_opportunity_max=1, average_odds_max=1)
    assert fairness_report(cells, params, loose)["verdict"] == PASSED


def test_a_group_below_the_minimum_size_is_insufficient_data_never_a_pass():
    # GIVEN a third sex group of 5 rows, and loose thresholds that the two large groups pass
    frame = rows()
    frame.loc[frame.index[:5], "sex"] = "x"
    loose = Thresholds(disparate_impact_min=0.1, statistical_parity_max=1, equal_opportunity_max=1, average_odds_max=1)
    # WHEN audited with a minimum group size of 30
    report = fairness_report(aggregate(frame, ["sex"]), FairnessParams(("sex",), 30, 10), loose)
    (grouping,) = report["groupings"]
    # THEN the small group is reported as insufficient data and the checks do not pass
    assert grouping["insufficient_groups"] == [{"sex": "x"}]
    assert {g["group"]["sex"]: g["status"] for g in grouping["groups"]}["x"] == INSUFFICIENT
    assert set(report["checks"].values()) == {INSUFFICIENT}
    assert report["verdict"] == INSUFFICIENT


def test_only_small_groups_leave_nothing_to_compare():
    frame = rows(n=40)
    report = fairness_report(aggregate(frame, ["sex"]), FairnessParams(("sex",), 1000, 5), Thresholds())
    assert report["groupings"][0]["reference"] is None
    assert report["verdict"] == INSUFFICIENT


def test_the_bootstrap_is_reproducible_from_its_seed():
    cells = aggregate(rows(), ["sex"])
    first = fairness_report(cells, FairnessParams(("sex",), bootstrap_iterations=40, seed=7), Thresholds())
    again = fairness_report(cells, FairnessParams(("sex",), bootstrap_iterations=40, seed=7), Thresholds())
    other = fairness_report(cells, FairnessParams(("sex",), bootstrap_iterations=40, seed=8), Thresholds())
    assert first == again
    assert first != other


def test_a_single_class_label_is_refused():
    frame = rows()
    frame["label"] = 1
    with pytest.raises(FairnessError, match="single class"):
        fairness_report(aggregate(frame, ["sex"]), FairnessParams(("sex",)), Thresholds())


def test_a_protected_attribute_with_one_group_is_refused():
    frame = rows()
    frame["sex"] = "f"
    with pytest.raises(FairnessError, match="'sex' holds a single group"):
        fairness_report(aggregate(frame, ["sex"]), FairnessParams(("sex",)), Thresholds())


def test_thresholds_ignore_unknown_keys():
    assert Thresholds.of({"disparate_impact_min": "0.9", "other": 1}).disparate_impact_min == 0.9


def test_importing_aif360_leaves_the_logging_configuration_unchanged():
    # A fresh interpreter: aif360 is imported once per process.
    code = (
        "import logging; root = logging.getLogger(); before = (list(root.handlers), root.level)\n"
        "from audits.pipelines.libraries import import_aif360; import_aif360()\n"
        "assert (list(root.handlers), root.level) == before, (root.handlers, root.level)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "will be unavailable" not in done.stderr


def test_a_segment_column_gives_each_segment_its_own_figures():
    # GIVEN rows with a region, aggregated with it as the segment
    frame = rows()
    cells = aggregate(frame, ["sex", "region"])
    # WHEN the report is computed for sex, segmented by region
    report = fairness_report(cells, FairnessParams(("sex",), bootstrap_iterations=10), Thresholds(), segment="region")
    whole = fairness_report(aggregate(frame, ["sex"]), FairnessParams(("sex",), bootstrap_iterations=10), Thresholds())
    # THEN the whole population's figures and verdicts are those of the unsegmented report
    assert report["groupings"] == whole["groupings"]
    assert report["checks"] == whole["checks"]
    # AND each region has figures for sex computed on its own rows, largest region first
    segments = report["segments"]
    assert segments["column"] == "region"
    assert [s["segment"] for s in segments["by_segment"]] == ["north", "south", "east"]
    for entry in segments["by_segment"]:
        part = frame[frame["region"] == entry["segment"]]
        assert entry["rows"] == len(part)
        expected = plain(part, ["sex"])
        (grouping,) = entry["groupings"]
        for group in grouping["groups"]:
            row = expected.loc[group["group"]["sex"]]
            assert group["metrics"]["selection_rate"]["value"] == pytest.approx(row["selection_rate"], abs=1e-9)
            assert group["metrics"]["auc"]["value"] == pytest.approx(row["auc"], abs=1e-9)


def test_a_segment_where_an_attribute_has_one_group_is_insufficient_data():
    # GIVEN a region where every row is of one sex
    frame = rows()
    frame.loc[frame["region"] == "east", "sex"] = "f"
    cells = aggregate(frame, ["sex", "region"])
    # WHEN segmented by region
    report = fairness_report(cells, FairnessParams(("sex",), bootstrap_iterations=5), Thresholds(), segment="region")
    # THEN that region's figures say insufficient data, never a pass
    east = next(s for s in report["segments"]["by_segment"] if s["segment"] == "east")
    assert east["groupings"][0]["status"] == INSUFFICIENT
