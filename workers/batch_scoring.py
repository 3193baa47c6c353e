"""The batch-scoring job (serving.batch, docs/serving.md "Batch scoring"): a deployed model version scores a dataset
version on Spark and the predictions are registered as a new dataset version.

Its steps, top to bottom, as the registry's Spark jobs (workers.tasks): load the rows (a retry finds the dataset
version its earlier attempt registered); check again what the request checked, since it may have changed (the
deployment still serves, the requester may still change the model, the columns still feed the inputs); read the
artifact re-hashed against the approved digest (the one the job was asked for: a deployment's version is
immutable, so a difference is a changed file); read the dataset version held to what was registered; run the
pipeline (serving.pipelines.batch_score); register through serving.batch's action. A job that ends without its
registration leaves no output folder behind.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from core.models import Job
from registry import artifacts
from registry.actions import do_record_artifact_corruption
from registry.models import DatasetVersion
from registry.pipelines import io
from serving.batch import (
    BATCH_SCORE_KIND,
    NotServing,
    check_serving,
    do_register_batch_predictions,
    output_location,
    registered_output,
)
from serving.models import Deployment
from serving.pipelines.batch_plan import BatchScoringError, output_schema, plan_batch
from serving.pipelines.batch_score import score_dataset
from workers.runner import JobContext, JobFailed, job_task
from workers.tasks import check_still_allowed, job_user, read_checked, spark_work


@job_task(
    BATCH_SCORE_KIND,
    queue=settings.SPARK_QUEUE,
    description="Score a dataset version with a deployed model version (Spark, ONNX Runtime) into a new dataset.",
)
def batch_score(job: Job, ctx: JobContext) -> dict[str, Any]:
    # 1. The rows. A retry finds the version its earlier attempt registered before its worker died.
    done = registered_output(job)
    if done is not None:
        ctx.log(f"{done} was already registered by an earlier attempt of this job")
        return _result(done)
    params = job.params
    deployment = (
        Deployment.objects.filter(pk=params.get("deployment"))
        .select_related("environment", "model__team", "model_version")
        .first()
    )
    if deployment is None:
        raise JobFailed("The deployment is gone; nothing was scored.")
    source = DatasetVersion.objects.filter(pk=params.get("dataset_version")).select_related("dataset__team").first()
    if source is None or source.dataset.team_id != deployment.model.team_id:
        raise JobFailed("The dataset version is gone or not the model's team's; nothing was scored.")
    actor = job_user(job)
    check_still_allowed(job, deployment.model)
    # 2. What the request checked, again: it may have changed since.
    try:
        check_serving(deployment)
    except NotServing as error:
        raise JobFailed(f"{error} Nothing was scored.") from None
    version = deployment.model_version
    try:
        plan = plan_batch(version.interface or {}, source.schema.get("columns") or [])
    except BatchScoringError as error:
        raise JobFailed(f"{version} cannot score {source}: {error}") from None
    approved = params.get("artifact_sha256") or version.artifact_sha256
    try:
        onnx_bytes = artifacts.read_verified(approved)
    except artifacts.ArtifactCorrupted as error:
        do_record_artifact_corruption(version, actor=actor, detail=str(error))
        raise JobFailed(f"The artifact of {version} failed its digest check; nothing was scored: {error}") from None
    except artifacts.ArtifactError as error:
        raise JobFailed(f"The artifact of {version} cannot be read: {error}") from None
    location = output_location(job)
    output = io.DataSource(
        name=f"{params['output_name']} v1",
        location=location,
        storage_format="parquet",
        schema=output_schema(source.schema, plan),
    )
    lake_root = str(settings.DATA_LAKE_ROOT)
    # 3. Scored on Spark from the data Assay registered, written under the lake, read back.
    ctx.progress(0.01, f"reading {source}")
    try:
        with spark_work(job, ctx) as (spark, watch):
            frame = read_checked(spark, source, job)
            ctx.progress(0.05, f"scoring {source} with {version}")
            try:
                result = score_dataset(
                    spark, frame, onnx_bytes, plan, output, lake_root=lake_root, owner=str(job.public_id)
                )
            except BatchScoringError as error:
                raise JobFailed(f"{version} cannot score {source}: {error}") from None
        # 4. Registered through serving's action: the dataset and its version, all at once.
        ctx.progress(0.97, "registering the predictions")
        try:
            made = do_register_batch_predictions(
                job,
                actor=actor,
                deployment=deployment,
                source=source,
                name=params["output_name"],
                location=location,
                schema=dict(output.schema),
                result=result,
            )
        except ValidationError as refused:
            raise JobFailed(f"The predictions were not registered: {'; '.join(refused.messages)}") from None
    except BaseException:
        remove_unregistered_output(job, lake_root)
        raise
    finally:
        if "://" not in lake_root:
            io.remove_staging(Path(lake_root), str(job.public_id))
    ctx.log(f"registered {made}: {result.row_count} rows at {location}")
    if plan.skipped:
        ctx.log(f"outputs left out (not tensors): {', '.join(plan.skipped)}")
    return {**_result(made), "spark": dict(watch.figures)}


def remove_unregistered_output(job: Job, lake_root: str) -> bool:
    """Remove the job's output folder under a local lake unless a dataset version registered it."""
    if "://" in lake_root or registered_output(job) is not None:
        return False
    try:
        folder = Path(io.resolve_location(output_location(job), lake_root=lake_root))
    except io.DataError:
        return False
    if not folder.exists():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


def _result(version: DatasetVersion) -> dict[str, Any]:
    return {
        "dataset": version.dataset_id,
        "dataset_version": version.pk,
        "number": version.number,
        "content_fingerprint": version.content_fingerprint,
        "row_count": version.row_count,
        "location": version.dataset.location,
    }
