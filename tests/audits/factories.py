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
from audits.kinds import overall
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


def make_report(
    model_version: Any, dataset_version: Any, actor: Any, *, verdict: str = "pass", results: Any = None
) -> Any:
    job, _ = dispatch_job(
        "audits.fairness",
        actor=actor,
        team=model_version.model.team,
        target=model_version,
        params={"dataset_version": dataset_version.pk},
    )
    return do_register_audit_report(
        job,
        actor=actor,
        kind=AuditKind.FAIRNESS,
        model_version=model_version,
        dataset_version=dataset_version,
        parameters={
            "dataset_version": dataset_version.pk,
            "label": "defaulted",
            "protected_attributes": ["sex", "region"],
            "segment_column": None,
            "threshold": 0.5,
            "min_group_size": 30,
            "bootstrap_iterations": 50,
            "seed": 0,
            "score_bins": 1000,
        },
        thresholds=dict(THRESHOLDS),
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
