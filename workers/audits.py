"""The audit jobs (docs/audits.md), each registered with the job layer by ``job_task`` and run by ``run_audit``.

Every audit job has the same frame, written once in ``run_audit``: load the rows (a retry finds the report its
earlier attempt registered; a model version or dataset version that is gone, or of another team, fails the job),
check the requester may still change the model, read the artifact verified against its digest, take the
thresholds the release policies set for the model's risk tier (governance.audit_policy), read the dataset version
on Spark held to what was registered (workers.tasks.read_checked), compute, and register the immutable report
through audits.actions (the only write, all at once: a job that fails or dies midway leaves no report). What
differs per kind is ``compute``: a function of an ``AuditRun`` that returns the report's ``results`` with their
``checks`` (a verdict per named check) and ``verdict``, or raises ``AuditError`` (the message names the cause).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

from audits.actions import code_version, do_register_audit_report
from audits.choices import AuditKind
from audits.models import AuditReport
from audits.pipelines import AuditError
from audits.pipelines.fairness import FairnessParams, Thresholds, fairness_report
from audits.pipelines.scoring import aggregate_cells
from core.models import Job
from governance.audit_policy import audit_thresholds
from registry import artifacts
from registry.access import is_usable
from registry.models import DatasetVersion, ModelVersion
from workers.runner import JobContext, JobFailed, job_task
from workers.tasks import check_still_allowed, job_user, read_checked, spark_work

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class AuditRun:
    """What a kind's ``compute`` works from: the Spark session and the dataset version's frame (read and checked),
    the model's verified ONNX bytes, the rows, the job's cleaned parameters, the thresholds, and the job's context
    (``ctx.progress``/``ctx.log``)."""

    spark: SparkSession
    frame: DataFrame
    onnx_bytes: bytes
    model_version: ModelVersion
    dataset_version: DatasetVersion
    params: dict[str, Any]
    thresholds: dict[str, float]
    ctx: JobContext


def run_audit(
    job: Job, ctx: JobContext, kind: AuditKind, compute: Callable[[AuditRun], dict[str, Any]]
) -> dict[str, Any]:
    """The frame every audit job runs in (the module's docstring); ``compute`` makes the results."""
    # 1. The rows. A retry finds the report its earlier attempt registered before its worker died.
    done = AuditReport.objects.filter(job=job).first()
    if done is not None:
        ctx.log(f"report {done.digest} was already registered by an earlier attempt of this job")
        return _audit_result(done)
    version = ModelVersion.objects.filter(pk=job.target_id).select_related("model__team", "model__use_case").first()
    if version is None:
        raise JobFailed("The model version is gone; nothing was audited.")
    params = job.params
    dataset = DatasetVersion.objects.filter(pk=params.get("dataset_version")).select_related("dataset__team").first()
    if dataset is None or not is_usable(dataset.dataset, version.model.team):
        # Another team's dataset only while a data access grant still covers it (registry.access).
        raise JobFailed(
            "The evaluation dataset version is gone, or not one the model's team may use now; nothing was audited."
        )
    actor = job_user(job)
    check_still_allowed(job, version.model)
    try:
        onnx_bytes = artifacts.read_verified(version.artifact_sha256)
    except artifacts.ArtifactError as error:
        raise JobFailed(f"The artifact of {version} cannot be read: {error}") from None
    thresholds = audit_thresholds(version, kind)
    # 2. Computed on Spark from the data Assay registered.
    ctx.progress(0.01, f"reading {dataset}")
    with spark_work(job, ctx) as (spark, watch):
        frame = read_checked(spark, dataset, job)
        try:
            results = compute(AuditRun(spark, frame, onnx_bytes, version, dataset, params, thresholds, ctx))
        except AuditError as error:
            raise JobFailed(f"{version} on {dataset}: {error}") from None
    # 3. Registered through the audits' action: the only write, all at once.
    report = do_register_audit_report(
        job,
        actor=actor,
        kind=kind,
        model_version=version,
        dataset_version=dataset,
        parameters=params,
        thresholds=thresholds,
        code=code_version(),
        results=results,
        checks=results["checks"],
        verdict=results["verdict"],
    )
    ctx.log(f"registered report {report.digest}: {report.verdict}")
    return {**_audit_result(report), "spark": dict(watch.figures)}


def _audit_result(report: AuditReport) -> dict[str, Any]:
    return {"audit_report": report.pk, "digest": report.digest, "verdict": report.verdict}


# --- Fairness --------------------------------------------------------------------------------------------------------


def compute_fairness(run: AuditRun) -> dict[str, Any]:
    """Scored on Spark and aggregated to per-group cells in one pass; the figures from the cells through fairlearn
    and aif360 (audits.pipelines)."""
    params = run.params
    cells = aggregate_cells(
        run.frame,
        run.onnx_bytes,
        run.model_version.interface,
        label=params["label"],
        attributes=params["protected_attributes"],
        threshold=params["threshold"],
        bins=params["score_bins"],
        segment=params.get("segment_column"),
    )
    run.ctx.progress(0.96, "computing the fairness figures")
    return fairness_report(
        cells,
        FairnessParams(
            attributes=tuple(params["protected_attributes"]),
            min_group_size=params["min_group_size"],
            bootstrap_iterations=params["bootstrap_iterations"],
            seed=params["seed"],
        ),
        Thresholds.of(run.thresholds),
        segment=params.get("segment_column"),
    )


@job_task(
    "audits.fairness",
    queue=settings.SPARK_QUEUE,
    description="Audit a model version's fairness on an evaluation dataset version (Spark, fairlearn, aif360).",
)
def audit_fairness(job: Job, ctx: JobContext) -> dict[str, Any]:
    return run_audit(job, ctx, AuditKind.FAIRNESS, compute_fairness)
