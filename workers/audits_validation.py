"""The validation audit job (workers.audits.run_audit; docs/audits.md, "Validation"): performance, calibration,
business cost and a time-ordered holdout computed on Spark in one scoring pass, then the edge cases and monotonic
constraints scored in this process (audits.pipelines.validation and .edge_cases).

The training data, when the model version links a version of the evaluation dataset (the latest such): its
statistics feed the edge cases, and its last event time is what the holdout's no-look-ahead check compares with the
cutoff. Otherwise the evaluation data's statistics are used and the report says the look-ahead is not knowable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings

from audits.choices import AuditKind
from audits.kinds import overall
from audits.pipelines.edge_cases import data_statistics, edge_case_suite
from audits.pipelines.scoring import plan_scoring
from audits.pipelines.validation import ValidationParams, aggregate, holdout_cutoff, last_time, validation_figures
from audits.validation import judge_results
from core.models import Job
from registry.models import DatasetVersion
from registry.pipelines.io import DataError
from workers.audits import AuditRun, run_audit
from workers.runner import JobContext, JobFailed, job_task
from workers.tasks import read_checked

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def training_data(run: AuditRun) -> tuple[DatasetVersion | None, DataFrame | None, str]:
    """The model version's training data of the evaluation dataset (the latest version it links), read and checked;
    or None and why not."""
    version = (
        run.model_version.dataset_versions.filter(dataset_id=run.dataset_version.dataset_id)
        .select_related("dataset")
        .order_by("-number")
        .first()
    )
    if version is None:
        return None, None, "the model version links no training data of this dataset"
    if version.pk == run.dataset_version.pk:
        return version, run.frame, ""
    try:
        return version, read_checked(run.spark, version, run.ctx.job), ""
    except (JobFailed, DataError) as error:
        return version, None, f"its training data {version} cannot be read ({error})"


def compute_validation(run: AuditRun) -> dict[str, Any]:
    """Scored and aggregated on Spark in one pass; the figures from the cells; the edge cases from the statistics of
    the training data (or the evaluation data); the checks judged with the run's thresholds."""
    params = run.params
    use_case = run.model_version.model.use_case
    figures_params = ValidationParams(
        label=params["label"],
        threshold=params["threshold"],
        segment_column=params["segment_column"],
        time_column=params["time_column"],
        holdout_fraction=params["holdout_fraction"],
        calibration_bins=params["calibration_bins"],
        score_bins=params["score_bins"],
        min_segment_size=params["min_segment_size"],
        costs=use_case.decision_costs() if use_case is not None else None,
    )
    plan = plan_scoring(run.model_version.interface, run.frame.columns)
    training_version, training_frame, why_not = training_data(run)
    time_column = params["time_column"]
    cutoff: float | None = None
    training: dict[str, Any] | None = None
    if time_column is not None:
        run.ctx.progress(
            0.05, f"cutting the holdout at the {1 - params['holdout_fraction']:.0%} quantile of {time_column}"
        )
        cutoff = holdout_cutoff(run.frame, time_column, params["holdout_fraction"])
        if training_frame is None:
            training = {"reason": why_not}
        elif time_column not in training_frame.columns:
            training = {"reason": f"its training data {training_version} has no column {time_column!r}"}
        else:
            training = {"dataset_version": str(training_version), "last_time": last_time(training_frame, time_column)}
    run.ctx.progress(0.1, "scoring and aggregating on Spark")
    cells = aggregate(run.frame, run.onnx_bytes, run.model_version.interface, figures_params, cutoff)
    figures = validation_figures(cells, figures_params, cutoff=cutoff, training=training)
    run.ctx.progress(0.8, "edge cases and monotonic constraints")
    if training_frame is not None and all(c in training_frame.columns for c in plan.columns):
        statistics = data_statistics(training_frame, plan, f"the training data, {training_version}")
    else:
        statistics = data_statistics(run.frame, plan, f"the evaluation data, {run.dataset_version}")
    suite = edge_case_suite(run.onnx_bytes, plan, statistics, monotonic=params["monotonic"], seed=params["seed"])
    results = {**figures, **suite}
    checks = judge_results(results, run.thresholds)
    return {**results, "checks": checks, "thresholds": run.thresholds, "verdict": overall(checks.values())}


@job_task(
    "audits.validation",
    queue=settings.SPARK_QUEUE,
    description="Validate a model version on an evaluation dataset version: performance, calibration, cost, "
    "a time-ordered holdout, edge cases and monotonic constraints (Spark, ONNX Runtime).",
)
def audit_validation(job: Job, ctx: JobContext) -> dict[str, Any]:
    return run_audit(job, ctx, AuditKind.VALIDATION, compute_validation)
