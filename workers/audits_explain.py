"""The explanation audit job, the global explanation report (workers.audits.run_audit; docs/audits.md,
"Explanations"): a background and a sample drawn on Spark (audits.pipelines.explain_rows), the explainer that fits
the model built with that background, the sample explained in batches in this process (audits.pipelines.explain),
and the checks judged with the run's thresholds (audits.explanation).

The report carries its background (``results["background"]``) and its explainer (``results["explainer"]``): the
local explanations of the model version are built from them, so a person is explained with the background the
board reviewed.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from audits.choices import AuditKind
from audits.explanation import importance_shifts, judge_results
from audits.kinds import overall
from audits.pipelines.explain import build_explainer, global_report
from audits.pipelines.explain_rows import background_record, draw_rows
from core.models import Job
from workers.audits import AuditRun, run_audit
from workers.runner import JobContext, job_task


def compute_explanation(run: AuditRun) -> dict[str, Any]:
    """Drawn on Spark, explained on the driver, judged."""
    params = run.params
    seed = params["seed"]
    run.ctx.progress(0.05, f"drawing {params['background_rows']} background and {params['sample_rows']} sample rows")
    drawn = draw_rows(
        run.frame,
        params["features"],
        params["protected_attributes"],
        background_rows=params["background_rows"],
        sample_rows=params["sample_rows"],
        seed=seed,
    )
    run.ctx.progress(0.2, f"building the explainer on {len(drawn.background)} background rows")
    explainer = build_explainer(
        run.onnx_bytes,
        run.model_version.interface,
        drawn.background,
        seed=seed,
        max_evals=params["max_evals"],
        method=params["method"],
    )
    run.ctx.log(f"explainer: {explainer.method} in {explainer.output_space}, {explainer.parameters}")
    run.ctx.progress(0.3, f"explaining {len(drawn.sample)} rows ({explainer.method})")
    figures = global_report(explainer, drawn.sample, groups=drawn.groups, top=params["top"], seed=seed)
    results = {
        **figures,
        "explainer": {
            "method": explainer.method,
            "output_space": explainer.output_space,
            "parameters": explainer.parameters,
        },
        "background": background_record(run.dataset_version.pk, seed, explainer.features, drawn.background),
        "importance_shift": importance_shifts(figures, params["min_group_size"]),
    }
    checks = judge_results(results, run.thresholds, params["min_group_size"])
    return {**results, "checks": checks, "thresholds": run.thresholds, "verdict": overall(checks.values())}


@job_task(
    "audits.explanation",
    queue=settings.SPARK_QUEUE,
    description="Explain a model version globally on an evaluation dataset version with shap: importance, SHAP "
    "distributions, dependence and importance per protected group (Spark, ONNX Runtime).",
)
def audit_explanation(job: Job, ctx: JobContext) -> dict[str, Any]:
    return run_audit(job, ctx, AuditKind.EXPLANATION, compute_explanation)
