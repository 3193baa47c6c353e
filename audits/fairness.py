"""The fairness audit kind: its request parameters, thresholds and judgement (audits.kinds; the figures are
computed by audits.pipelines.fairness in the job workers.audits runs). docs/audits.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from audits import params as p
from audits.choices import AuditKind, Verdict
from audits.kinds import KindSpec, overall, register_kind
from audits.pipelines.fairness import NAMED_METRICS, Thresholds

if TYPE_CHECKING:
    from audits.models import AuditReport
    from registry.models import DatasetVersion, ModelVersion

JOB_KIND = "audits.fairness"
DEFAULTS = {"threshold": 0.5, "min_group_size": 30, "bootstrap_iterations": 200, "seed": 0, "score_bins": 1000}
THRESHOLDS = Thresholds().as_dict()
BOUNDS = {
    "disparate_impact_min": (0.0, 1.0),
    "statistical_parity_max": (0.0, 1.0),
    "equal_opportunity_max": (0.0, 1.0),
    "average_odds_max": (0.0, 1.0),
}
HIGH_RISK = {"statistical_parity_max": 0.05, "equal_opportunity_max": 0.05, "average_odds_max": 0.05}


def clean(model_version: ModelVersion, dataset_version: DatasetVersion, raw: dict[str, Any]) -> dict[str, Any]:
    """The audit's parameters, checked against the dataset's schema and the model's interface."""
    columns = p.columns_of(dataset_version)
    label = p.binary_label(columns, raw.get("label"), dataset_version)
    flagged = [c["name"] for c in dataset_version.schema["columns"] if c.get("protected_attribute")]
    attributes = raw.get("protected_attributes")
    if attributes is None:
        attributes = flagged
        if not attributes:
            raise ValidationError(
                {"protected_attributes": f"{dataset_version} flags no column as a protected attribute: name them."}
            )
    if not isinstance(attributes, list) or not attributes or len(set(attributes)) != len(attributes):
        raise ValidationError({"protected_attributes": "A non-empty list of distinct column names."})
    names = [p.column(columns, name, "protected_attributes", dataset_version)["name"] for name in attributes]
    if label in names:
        raise ValidationError({"protected_attributes": "The label cannot also be a protected attribute."})
    segment = p.optional_column(columns, raw.get("segment_column"), "segment_column", dataset_version)
    if segment is not None and (segment in names or segment == label):
        raise ValidationError(
            {"segment_column": f"{segment!r} is the label or a protected attribute; segment by another column."}
        )
    threshold = p.threshold(raw.get("threshold", DEFAULTS["threshold"]))
    p.model_columns(model_version, dataset_version)
    return {
        "label": label,
        "protected_attributes": names,
        "segment_column": segment,
        "threshold": threshold,
        "min_group_size": p.integer(raw.get("min_group_size", DEFAULTS["min_group_size"]), "min_group_size", 1, 10**7),
        "bootstrap_iterations": p.integer(
            raw.get("bootstrap_iterations", DEFAULTS["bootstrap_iterations"]), "bootstrap_iterations", 0, 10_000
        ),
        "seed": p.integer(raw.get("seed", DEFAULTS["seed"]), "seed", 0, 2**31 - 1),
        "score_bins": DEFAULTS["score_bins"],
    }


def passes(metric: str, value: float | None, thresholds: Mapping[str, float]) -> bool:
    """Whether one named metric's value meets its threshold (an undefined value never does)."""
    return value is not None and Thresholds.of({**THRESHOLDS, **thresholds}).passes(metric, value)


def judge(report: AuditReport, thresholds: Mapping[str, float]) -> dict[str, str]:
    """A verdict per named metric from the report's figures: failed when any compared group misses the threshold,
    insufficient data when a grouping has a group below the minimum size or fewer than two groups to compare."""
    checks = {}
    for metric in NAMED_METRICS:
        verdicts = []
        for grouping in report.results.get("groupings", []):
            comparisons = grouping.get("comparisons", [])
            if not comparisons:
                verdicts.append(Verdict.INSUFFICIENT_DATA)
                continue
            failed = any(not passes(metric, c["metrics"][metric]["value"], thresholds) for c in comparisons)
            verdicts.append(
                Verdict.FAIL
                if failed
                else Verdict.INSUFFICIENT_DATA
                if grouping.get("insufficient_groups")
                else Verdict.PASS
            )
        checks[metric] = overall(verdicts)
    return checks


SPEC = register_kind(
    KindSpec(
        kind=AuditKind.FAIRNESS,
        job_kind=JOB_KIND,
        clean=clean,
        judge=judge,
        thresholds=THRESHOLDS,
        bounds=BOUNDS,
        by_risk_tier={"high": HIGH_RISK},
    )
)
