"""The explanation kind's judge (audits.explanation): additivity within its bound, and the total-variation distance
between each protected group's importance profile and the whole sample's. Pure: results written by hand."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from audits.explanation import BOUNDS, HIGH_RISK, THRESHOLDS, importance_shifts, judge, judge_results
from audits.kinds import spec


def results(groups: dict[str, list[tuple[str, int, dict[str, float]]]], *, additivity: float = 1e-7) -> dict[str, Any]:
    """A report's figures: income and debt explained equally over the sample; ``groups`` per attribute."""
    return {
        "rows": 1000,
        "additivity": additivity,
        "features": [
            {"feature": "income", "mean_abs_shap": 0.3},
            {"feature": "debt", "mean_abs_shap": 0.3},
        ],
        "by_group": {
            attribute: [{"group": g, "size": size, "mean_abs_shap": shap} for g, size, shap in entries]
            for attribute, entries in groups.items()
        },
    }


BALANCED = {"sex": [("f", 500, {"income": 0.2, "debt": 0.2}), ("m", 500, {"income": 0.4, "debt": 0.4})]}


def test_the_kind_is_registered_with_bounded_thresholds() -> None:
    kind = spec("explanation")
    assert kind.job_kind == "audits.explanation"
    assert kind.default_thresholds(None) == {"additivity_error_max": 1e-4, "importance_shift_max": 0.2}
    assert kind.default_thresholds("high")["importance_shift_max"] == 0.1
    assert set(THRESHOLDS) == set(BOUNDS)
    assert set(HIGH_RISK) <= set(THRESHOLDS)


def test_groups_leaning_on_the_same_features_pass_whatever_their_scale() -> None:
    # GIVEN men's SHAP values twice women's, but in the same proportions as the whole sample's
    # THEN the profiles are the same (distance 0) and both checks pass
    shifts = importance_shifts(results(BALANCED), 30)
    assert [g["distance"] for g in shifts["sex"]] == [0.0, 0.0]
    assert judge_results(results(BALANCED), THRESHOLDS, 30) == {"additivity": "pass", "importance_shift": "pass"}


def test_the_distance_is_half_the_l1_distance_of_the_normalised_profiles() -> None:
    # GIVEN a group whose importance is 80% income, 20% debt against the sample's 50/50
    figures = results({"sex": [("f", 100, {"income": 0.8, "debt": 0.2}), ("m", 100, {"income": 0.3, "debt": 0.3})]})
    # THEN its distance is 0.5 * (|0.8 - 0.5| + |0.2 - 0.5|) = 0.3: above 0.2, a failure; at 0.35 it passes
    (f, m) = importance_shifts(figures, 30)["sex"]
    assert f["distance"] == pytest.approx(0.3)
    assert m["distance"] == pytest.approx(0.0)
    assert judge_results(figures, THRESHOLDS, 30)["importance_shift"] == "fail"
    assert judge_results(figures, {"importance_shift_max": 0.35}, 30)["importance_shift"] == "pass"


def test_a_small_group_is_insufficient_data_never_a_pass_but_a_shift_elsewhere_still_fails() -> None:
    small = {"sex": [("f", 500, {"income": 0.3, "debt": 0.3}), ("x", 5, {"income": 0.9, "debt": 0.0})]}
    shifts = importance_shifts(results(small), 30)["sex"]
    assert shifts[1] == {"group": "x", "size": 5, "distance": None, "status": "insufficient_data"}
    assert judge_results(results(small), THRESHOLDS, 30)["importance_shift"] == "insufficient_data"
    # AND once the small group is large enough to judge, its shift fails the check
    assert judge_results(results(small), THRESHOLDS, 5)["importance_shift"] == "fail"
    # AND a failure in another attribute fails the check even beside an insufficient one
    mixed = {**small, "age": [("young", 500, {"income": 0.6, "debt": 0.0}), ("old", 500, {"income": 0.3})]}
    assert judge_results(results(mixed), THRESHOLDS, 30)["importance_shift"] == "fail"


def test_additivity_beyond_its_bound_fails_and_no_rows_is_insufficient() -> None:
    assert judge_results(results(BALANCED, additivity=2e-4), THRESHOLDS, 30)["additivity"] == "fail"
    assert judge_results(results(BALANCED, additivity=2e-4), {"additivity_error_max": 1e-3}, 30)["additivity"] == (
        "pass"
    )
    assert judge_results({**results(BALANCED), "rows": 0}, THRESHOLDS, 30)["additivity"] == "insufficient_data"


def test_a_model_with_no_importance_has_no_profile_to_compare() -> None:
    flat = results({"sex": [("f", 500, {"income": 0.0, "debt": 0.0})]})
    flat["features"] = [{"feature": "income", "mean_abs_shap": 0.0}, {"feature": "debt", "mean_abs_shap": 0.0}]
    assert judge_results(flat, THRESHOLDS, 30)["importance_shift"] == "insufficient_data"


def test_the_judge_reads_the_minimum_group_size_from_the_report_parameters() -> None:
    small = {"sex": [("f", 500, {"income": 0.3, "debt": 0.3}), ("x", 5, {"income": 0.9, "debt": 0.0})]}
    report = SimpleNamespace(results=results(small), parameters={"min_group_size": 5})
    assert judge(report, THRESHOLDS)["importance_shift"] == "fail"  # type: ignore[arg-type]
