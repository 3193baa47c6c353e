"""The proxy audit job (docs/audits.md, "Proxy detection"): run by workers.audits.run_audit; the figures from
audits.pipelines.proxy (contingency tables counted on Spark in one pass), the check from the kind's thresholds."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from audits.choices import AuditKind
from audits.kinds import overall
from audits.pipelines.proxy import ProxyParams, Thresholds, detect_proxies, verdict
from audits.proxy import CHECK
from core.models import Job
from workers.audits import AuditRun, run_audit
from workers.runner import JobContext, job_task


def compute_proxy(run: AuditRun) -> dict[str, Any]:
    """Every (feature, attribute) pair's figures; judged with no justification yet (one can be recorded later, and
    the gate judges again)."""
    params = run.params
    thresholds = Thresholds.of(run.thresholds)
    run.ctx.progress(0.05, f"counting {len(params['features'])} feature(s) against {len(params['attributes'])}")
    results = detect_proxies(
        run.frame,
        ProxyParams(
            features=tuple(params["features"]),
            attributes=tuple(params["attributes"]),
            bins=params["bins"],
            max_categories=params["max_categories"],
            sample_rows=params["sample_rows"],
            seed=params["seed"],
        ),
        thresholds,
    )
    checks = {CHECK: verdict(results, thresholds, set())}
    return {**results, "checks": checks, "verdict": overall(checks.values())}


@job_task(
    "audits.proxy",
    queue=settings.SPARK_QUEUE,
    description="Look for proxies of protected and prohibited attributes among a model version's inputs (Spark).",
)
def audit_proxy(job: Job, ctx: JobContext) -> dict[str, Any]:
    return run_audit(job, ctx, AuditKind.PROXY, compute_proxy)
