"""The validation audit kind: its request parameters, thresholds and judgement (audits.kinds; the figures are
computed by audits.pipelines.validation in the job workers.audits_validation runs). docs/audits.md."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from audits import params as p
from audits.choices import AuditKind, Verdict
from audits.kinds import KindSpec, overall, register_kind

if TYPE_CHECKING:
    from audits.models import AuditReport
    from registry.models import DatasetVersion, ModelVersion

JOB_KIND = "audits.validation"
DEFAULTS: dict[str, Any] = {
    "threshold": 0.5,
    "holdout_fraction": 0.2,
    "calibration_bins": 10,
    "min_segment_size": 30,
    "seed": 0,
}
# About this many score bins (a multiple of the calibration bins, so each reliability bin is whole score bins).
SCORE_BINS = 1000
TIME_TYPES = frozenset({"date", "timestamp", "timestamp_ntz"})
DIRECTIONS = frozenset({"increasing", "decreasing"})
THRESHOLDS = {
    "auc_min": 0.6,
    "segment_auc_min": 0.55,
    "ece_max": 0.1,
    # How far a score may move against a declared monotonic direction (float32 models wobble in the last bits).
    "monotonic_violation_max": 1e-6,
}
BOUNDS = {
    "auc_min": (0.0, 1.0),
    "segment_auc_min": (0.0, 1.0),
    "ece_max": (0.0, 1.0),
    "monotonic_violation_max": (0.0, 0.1),
}
HIGH_RISK = {"auc_min": 0.7, "segment_auc_min": 0.65, "ece_max": 0.05}


def score_bins(calibration_bins: int) -> int:
    """The score bins for ``calibration_bins`` reliability bins: at least SCORE_BINS, a multiple of them."""
    return calibration_bins * math.ceil(SCORE_BINS / calibration_bins)


def _monotonic(raw: Any, features: list[str], columns: dict[str, dict[str, Any]]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValidationError({"monotonic": 'An object of model features to "increasing" or "decreasing".'})
    by_name = {name.casefold(): name for name in features}
    declared = {}
    for name, direction in raw.items():
        feature = by_name.get(str(name).casefold())
        if feature is None:
            raise ValidationError({"monotonic": f"{name!r} is not a feature of the model ({', '.join(features)})."})
        if columns[feature.casefold()]["type"] in ("string", "boolean"):
            raise ValidationError({"monotonic": f"{feature!r} is not numeric: it has no order to be monotonic in."})
        if direction not in DIRECTIONS:
            raise ValidationError({"monotonic": f'{feature!r}: "increasing" or "decreasing", not {direction!r}.'})
        declared[feature] = direction
    return declared


def clean(model_version: ModelVersion, dataset_version: DatasetVersion, raw: dict[str, Any]) -> dict[str, Any]:
    """The audit's parameters, checked against the dataset's schema and the model's interface."""
    columns = p.columns_of(dataset_version)
    label = p.binary_label(columns, raw.get("label"), dataset_version)
    segment = p.optional_column(columns, raw.get("segment_column"), "segment_column", dataset_version)
    if segment == label:
        raise ValidationError({"segment_column": "The label cannot also be the segment column."})
    time_column = p.optional_column(columns, raw.get("time_column"), "time_column", dataset_version)
    if time_column is not None and columns[time_column.casefold()]["type"] not in TIME_TYPES:
        kind = columns[time_column.casefold()]["type"]
        raise ValidationError({"time_column": f"{time_column!r} is {kind}; the holdout needs a date or timestamp."})
    fraction = p.number(
        raw.get("holdout_fraction", DEFAULTS["holdout_fraction"]),
        "holdout_fraction",
        0,
        0.9,
        " (the latest share of rows held out), above 0",
    )
    if fraction <= 0:
        raise ValidationError({"holdout_fraction": "A number above 0 and at most 0.9 (the latest share of rows)."})
    features = p.model_columns(model_version, dataset_version)
    bins = p.integer(raw.get("calibration_bins", DEFAULTS["calibration_bins"]), "calibration_bins", 2, 100)
    return {
        "label": label,
        "threshold": p.threshold(raw.get("threshold", DEFAULTS["threshold"])),
        "segment_column": segment,
        "time_column": time_column,
        "holdout_fraction": fraction,
        "monotonic": _monotonic(raw.get("monotonic"), features, columns),
        "calibration_bins": bins,
        "min_segment_size": p.integer(
            raw.get("min_segment_size", DEFAULTS["min_segment_size"]), "min_segment_size", 1, 10**7
        ),
        "seed": p.integer(raw.get("seed", DEFAULTS["seed"]), "seed", 0, 2**31 - 1),
        "score_bins": score_bins(bins),
    }


def _limit(thresholds: Mapping[str, float], name: str) -> float:
    return float(thresholds.get(name, THRESHOLDS[name]))


def _at_least(value: float | None, limit: float) -> str:
    if value is None:
        return Verdict.INSUFFICIENT_DATA
    return Verdict.PASS if value >= limit else Verdict.FAIL


def judge(report: AuditReport, thresholds: Mapping[str, float]) -> dict[str, str]:
    """A verdict per check from the report's figures (docs/audits.md, "Validation")."""
    return judge_results(report.results, thresholds)


def judge_results(results: Mapping[str, Any], thresholds: Mapping[str, float]) -> dict[str, str]:
    """``judge`` on a report's ``results`` (the job judges its figures before there is a report)."""
    auc_min = _limit(thresholds, "auc_min")
    checks: dict[str, str] = {}
    auc = [_at_least(results["overall"]["auc"], auc_min)]
    holdout = results.get("holdout")
    if holdout is not None:
        auc.append(_at_least(holdout["metrics"]["auc"] if holdout["metrics"] else None, auc_min))
        look_ahead = holdout["look_ahead"]["status"]
        if look_ahead != "not_knowable":
            checks["look_ahead"] = Verdict.FAIL if look_ahead == "found" else Verdict.PASS
    checks["auc"] = overall(auc)
    segments = results.get("segments")
    if segments is not None:
        segment_min = _limit(thresholds, "segment_auc_min")
        checks["segment_auc"] = overall(
            Verdict.INSUFFICIENT_DATA if g["status"] != "ok" else _at_least(g["metrics"]["auc"], segment_min)
            for g in segments["groups"]
        )
    ece = results["overall"]["ece"]
    checks["calibration"] = (
        Verdict.INSUFFICIENT_DATA
        if ece is None
        else Verdict.PASS
        if ece <= _limit(thresholds, "ece_max")
        else Verdict.FAIL
    )
    edge_cases = results["edge_cases"]
    checks["edge_cases"] = Verdict.FAIL if edge_cases["failed"] else Verdict.PASS
    constraints = results.get("monotonic") or []
    if constraints:
        tolerance = _limit(thresholds, "monotonic_violation_max")
        checks["monotonic"] = (
            Verdict.FAIL if any(c["crashed"] or c["worst_violation"] > tolerance for c in constraints) else Verdict.PASS
        )
    return checks


SPEC = register_kind(
    KindSpec(
        kind=AuditKind.VALIDATION,
        job_kind=JOB_KIND,
        clean=clean,
        judge=judge,
        thresholds=THRESHOLDS,
        bounds=BOUNDS,
        by_risk_tier={"high": HIGH_RISK},
    )
)
