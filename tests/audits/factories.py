"""A credit model and its evaluation data for the audit tests: the scorer of tests/audits/onnx_models.py registered
as a model version, a dataset whose schema flags ``sex`` and ``age_band`` as protected attributes, and (for the
reports' tests) a report registered through the audits' action as the job would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audits.actions import do_register_audit_report
from audits.choices import AuditKind
from audits.fairness import THRESHOLDS
from audits.kinds import spec
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
    model_version: Any,
    dataset_version: Any,
    actor: Any,
    *,
    verdict: str = "pass",
    results: Any = None,
    kind: str = AuditKind.FAIRNESS,
) -> Any:
    """A report as the job would register it (its figures stand-ins: the gate and pages read the verdicts)."""
    job, _ = dispatch_job(
        spec(kind).job_kind,
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
