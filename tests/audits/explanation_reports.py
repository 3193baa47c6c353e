"""An explanation report for the page and API tests, computed by the real pipeline (no Spark): the credit scorer of
tests/audits/onnx_models.py explained by permutation on synthetic applications where women's incomes vary little
(so the model leans on debt for them: an importance shift) and one age band is too small to judge; registered
through the audits' action as the job would."""

from __future__ import annotations

from typing import Any

import numpy as np

from audits.actions import do_register_audit_report
from audits.choices import AuditKind
from audits.explanation import DEFAULTS, THRESHOLDS, importance_shifts, judge_results
from audits.kinds import overall, spec
from audits.pipelines.explain import build_explainer, global_report
from audits.pipelines.explain_rows import background_record
from core.jobs import dispatch_job
from tests.audits.onnx_models import INTERFACE, scorer_bytes


def explanation_results(dataset_version: int = 1, rows: int = 400, seed: int = 3) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    sex = rng.choice(np.array(["f", "m"]), rows)
    income = np.where(sex == "f", rng.normal(0, 0.05, rows), rng.normal(0, 1.5, rows))
    debt = rng.normal(0, 1, rows)
    age = np.where(np.arange(rows) >= rows - 8, "<18", rng.choice(np.array(["18-40", ">40"]), rows))
    matrix = np.column_stack([income, debt])
    background, sample = matrix[:50], matrix[50:]
    explainer = build_explainer(scorer_bytes(), INTERFACE, background, seed=seed, max_evals=20)
    groups = {"sex": sex[50:].tolist(), "age_band": age[50:].tolist()}
    figures = global_report(explainer, sample, groups=groups, seed=seed)
    results = {
        **figures,
        "explainer": {
            "method": explainer.method,
            "output_space": explainer.output_space,
            "parameters": explainer.parameters,
        },
        "background": background_record(dataset_version, seed, explainer.features, background),
        "importance_shift": importance_shifts(figures, DEFAULTS["min_group_size"]),
    }
    checks = judge_results(results, THRESHOLDS, DEFAULTS["min_group_size"])
    return {**results, "checks": checks, "thresholds": dict(THRESHOLDS), "verdict": overall(checks.values())}


def make_explanation_report(model_version: Any, dataset_version: Any, actor: Any) -> Any:
    job, _ = dispatch_job(
        spec(AuditKind.EXPLANATION).job_kind,
        actor=actor,
        team=model_version.model.team,
        target=model_version,
        params={"dataset_version": dataset_version.pk},
    )
    results = explanation_results(dataset_version.pk)
    return do_register_audit_report(
        job,
        actor=actor,
        kind=AuditKind.EXPLANATION,
        model_version=model_version,
        dataset_version=dataset_version,
        parameters={
            "dataset_version": dataset_version.pk,
            **DEFAULTS,
            "features": ["income", "debt"],
            "protected_attributes": ["sex", "age_band"],
            "background_rows": 50,
            "sample_rows": 350,
            "max_evals": 20,
            "seed": 3,
        },
        thresholds=dict(THRESHOLDS),
        code={"assay_audits": "1"},
        results=results,
        checks=results["checks"],
        verdict=results["verdict"],
    )
