"""A credit model and its evaluation data for the audit tests: the scorer of tests/audits/onnx_models.py registered
as a model version, a dataset whose schema flags ``sex`` and ``age_band`` as protected attributes, and (for the
reports' tests) a report registered through the audits' action as the job would."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from audits.actions import do_register_audit_report
from audits.choices import AuditKind
from audits.fairness import THRESHOLDS, judge
from audits.kinds import overall, registered, spec
from core.jobs import dispatch_job
from tests.audits.onnx_models import write_scorer
from tests.registry.factories import make_dataset, make_dataset_version, make_model, make_model_version

CREDIT_SCHEMA: dict[str, Any] = {
    "columns": [
        {"name": "income", "type": "float64", "nullable": False},
        {"name": "debt", "type": "float64", "nullable": False},
        {"name": "sex", "type": "string", "nullable": False, "personal_data": True, "protected_attribute": True},
        {"name": "age_band", "type": "string", "nullable": True, "personal_data": True, "protected_attribute": True},
        {"name": "region", "type": "string", "nullable": False},
        {"name": "defaulted", "type": "int64", "nullable": False},
    ]
}


def make_credit(
    team: Any, actor: Any, folder: Path, *, location: str = "lake://credit", **model: Any
) -> dict[str, Any]:
    dataset = make_dataset(team, actor, name=f"Credit applications {team.slug}", location=location, partitioning=[])
    version = make_dataset_version(dataset, actor, schema=CREDIT_SCHEMA)
    registered = make_model(team, actor, name=f"Credit scorer {team.slug}", **model)
    folder.mkdir(parents=True, exist_ok=True)
    model_version = make_model_version(registered, actor, write_scorer(folder / "credit.onnx"))
    return {"dataset": dataset, "dataset_version": version, "model": registered, "model_version": model_version}


RESULTS = {"rows": 10, "groupings": [], "checks": {"disparate_impact": "pass"}, "verdict": "pass"}

# The parameters and thresholds each kind's job records (COMMON result shapes; the proxy and validation jobs are
# built in parallel, so their reports here are written by hand in the shapes they register).
PARAMETERS: dict[str, dict[str, Any]] = {
    AuditKind.FAIRNESS: {
        "label": "defaulted",
        "protected_attributes": ["sex", "region"],
        "segment_column": None,
        "threshold": 0.5,
        "min_group_size": 30,
        "bootstrap_iterations": 50,
        "seed": 0,
        "score_bins": 1000,
    },
    AuditKind.PROXY: {"protected_attributes": ["sex", "age_band"], "sample_rows": 2000, "seed": 0},
    AuditKind.VALIDATION: {"label": "defaulted", "threshold": 0.5, "segment_column": "region", "seed": 0},
}
KIND_THRESHOLDS: dict[str, dict[str, Any]] = {
    AuditKind.FAIRNESS: dict(THRESHOLDS),
    AuditKind.PROXY: {"association_max": 0.3, "nmi_max": 0.2, "auc_max": 0.7},
    AuditKind.VALIDATION: {"auc_min": 0.7, "ece_max": 0.05, "segment_auc_min": 0.65},
}


def _pair(feature: str, attribute: str, association: float, nmi: float, auc: float) -> dict[str, Any]:
    thresholds = KIND_THRESHOLDS[AuditKind.PROXY]
    reasons = [
        f"{name} {value} > {thresholds[key]}"
        for name, value, key in (
            ("association", association, "association_max"),
            ("nmi", nmi, "nmi_max"),
            ("auc", auc, "auc_max"),
        )
        if value > thresholds[key]
    ]
    numeric = feature in ("income", "debt")
    return {
        "feature": feature,
        "attribute": attribute,
        "feature_type": "numeric" if numeric else "categorical",
        "attribute_type": "categorical",
        "measure": "rank_biserial" if numeric else "cramers_v",
        "association": association,
        "nmi": nmi,
        "auc": auc,
        "flagged": bool(reasons),
        "reasons": reasons,
    }


def proxy_results() -> dict[str, Any]:
    """A proxy report in which ``region`` stands in for ``sex`` (flagged) and nothing else does."""
    pairs = [
        _pair("income", "sex", 0.12, 0.02, 0.56),
        _pair("income", "age_band", 0.21, 0.05, 0.6),
        _pair("debt", "sex", 0.08, 0.01, 0.53),
        _pair("debt", "age_band", 0.05, 0.01, 0.51),
        _pair("region", "sex", 0.71, 0.38, 0.86),
        _pair("region", "age_band", 0.1, 0.02, 0.55),
    ]
    return {
        "rows": 5000,
        "sample_rows": 2000,
        "features": ["income", "debt", "region"],
        "attributes": ["sex", "age_band"],
        "pairs": pairs,
        "flagged": [{"feature": p["feature"], "attribute": p["attribute"]} for p in pairs if p["flagged"]],
        "checks": {"proxies": "fail"},
        "thresholds": KIND_THRESHOLDS[AuditKind.PROXY],
        "verdict": "fail",
    }


def _performance(size: int, auc: float) -> dict[str, Any]:
    return {
        "size": size,
        "positive_rate": 0.31,
        "auc": auc,
        "precision": round(auc - 0.1, 3),
        "recall": round(auc - 0.05, 3),
        "accuracy": round(auc - 0.02, 3),
        "brier": 0.18,
        "ece": 0.032,
    }


def validation_results() -> dict[str, Any]:
    """A validation report: three regions (south below the segment AUC minimum, west too small to judge), ten
    calibration bins, a cost curve whose minimum is not at the chosen threshold, a holdout, one failed edge case."""
    curve = [{"threshold": t / 20, "expected_cost": round(4.0 * (t / 20 - 0.35) ** 2 + 0.6, 4)} for t in range(0, 21)]
    return {
        "rows": 5000,
        "threshold": 0.5,
        "overall": _performance(5000, 0.78),
        "segments": {
            "column": "region",
            "groups": [
                {"segment": "north", "size": 2400, "status": "ok", "metrics": _performance(2400, 0.81)},
                {"segment": "south", "size": 2580, "status": "ok", "metrics": _performance(2580, 0.61)},
                {"segment": "west", "size": 20, "status": "insufficient_data", "metrics": _performance(20, 0.9)},
            ],
        },
        "calibration": [
            {
                "bin_low": b / 10,
                "bin_high": (b + 1) / 10,
                "count": 500,
                "mean_score": b / 10 + 0.05,
                "observed_rate": min(1.0, b / 10 + 0.05 + (0.04 if b % 2 else -0.03)),
            }
            for b in range(10)
        ],
        "cost": {
            "cost_false_positive": 1.0,
            "cost_false_negative": 5.0,
            "curve": curve,
            "best_threshold": 0.35,
            "best_cost": 0.6,
            "cost_at_threshold": 0.69,
        },
        "holdout": {
            "time_column": "applied_at",
            "cutoff": "2026-06-01",
            "rows": 1000,
            "metrics": _performance(1000, 0.76),
        },
        "edge_cases": {
            "cases": [
                {"name": "income missing", "kind": "missing", "feature": "income", "passed": True, "detail": ""},
                {"name": "debt at 1e12", "kind": "extreme", "feature": "debt", "passed": True, "detail": ""},
                {
                    "name": "income monotonic",
                    "kind": "monotonic",
                    "feature": "income",
                    "passed": False,
                    "detail": "score rose from 0.41 to 0.44 as income rose",
                },
            ],
            "passed": 2,
            "failed": 1,
        },
        "checks": {"auc": "pass", "calibration": "pass", "edge_cases": "fail", "monotonic": "fail", "segments": "fail"},
        "thresholds": KIND_THRESHOLDS[AuditKind.VALIDATION],
        "verdict": "fail",
    }


def make_report(
    model_version: Any,
    dataset_version: Any,
    actor: Any,
    *,
    verdict: str = "pass",
    results: Any = None,
    kind: str = AuditKind.FAIRNESS,
) -> Any:
    """A report registered through the action as ``kind``'s job would; ``results`` in that kind's shape."""
    # A kind whose module is not built yet registers no job kind: its stand-in reports ride on fairness's.
    job_kind = next((s.job_kind for s in registered() if s.kind == kind), spec(AuditKind.FAIRNESS).job_kind)
    job, _ = dispatch_job(
        job_kind,
        actor=actor,
        team=model_version.model.team,
        target=model_version,
        params={"dataset_version": dataset_version.pk},
    )
    return do_register_audit_report(
        job,
        actor=actor,
        kind=AuditKind(kind),
        model_version=model_version,
        dataset_version=dataset_version,
        parameters={"dataset_version": dataset_version.pk, **PARAMETERS[kind]},
        thresholds=dict(KIND_THRESHOLDS[kind]),
        code={"assay_audits": "1"},
        results=results or {**RESULTS, "verdict": verdict},
        checks=results["checks"] if results else {"disparate_impact": verdict},
        verdict=results["verdict"] if results else verdict,
    )


def fairness_results(
    *,
    disparate_impact: float = 0.9,
    statistical_parity: float = 0.04,
    equal_opportunity: float = 0.04,
    average_odds: float = 0.04,
    insufficient_groups: list[str] | None = None,
) -> dict[str, Any]:
    """A fairness report's figures with one comparison (women against men) holding these named metrics, with the
    checks and verdict the kind's own judge gives them under the default thresholds (what the job would store)."""
    values = {
        "disparate_impact": disparate_impact,
        "statistical_parity_difference": statistical_parity,
        "equal_opportunity_difference": equal_opportunity,
        "average_odds_difference": average_odds,
    }
    results: dict[str, Any] = {
        "rows": 1000,
        "groupings": [
            {
                "attributes": ["sex"],
                "groups": [],
                "insufficient_groups": insufficient_groups or [],
                "reference": "M",
                "comparisons": [{"group": "F", "metrics": {k: {"value": v} for k, v in values.items()}}],
                "between_groups": {},
            }
        ],
        "thresholds": dict(THRESHOLDS),
    }
    checks = judge(SimpleNamespace(results=results), THRESHOLDS)  # type: ignore[arg-type]
    return {**results, "checks": checks, "verdict": overall(checks.values())}
