"""The job kinds Assay runs. Each is registered with the job layer by ``job_task``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction

from core import audit
from core.choices import AuditEventType
from core.jobs import dispatch_job
from core.models import Job
from workers.runner import JobCancelled, JobContext, JobFailed, job_task


@job_task("audit.verify", description="Verify the whole audit chain and report the first broken row.")
def verify_audit_chain(job: Job, ctx: JobContext) -> dict[str, Any]:
    ctx.progress(0.0, "counting events")
    report = audit.verify_chain(
        on_progress=lambda done, total: ctx.progress(done / max(total, 1), f"verified {done} of {total} events")
    )
    with transaction.atomic():
        audit.record_event(
            AuditEventType.AUDIT_CHAIN_VERIFIED, actor=job.requested_by, target=job, after=report.as_dict()
        )
    if not report.intact:
        raise JobFailed(f"The audit chain is broken at row #{report.broken_seq}: {report.reason}")
    return report.as_dict()


@job_task("audit.checkpoint", description="Sign the audit chain head with the server key.")
def sign_audit_checkpoint(job: Job, ctx: JobContext) -> dict[str, Any]:
    ctx.progress(0.1, "verifying the chain before signing")
    try:
        checkpoint = audit.sign_checkpoint(actor=job.requested_by)
    except ValueError as exc:
        raise JobFailed(str(exc)) from exc
    ctx.progress(1.0, f"signed head #{checkpoint.seq}")
    return {"checkpoint_id": checkpoint.pk, "seq": checkpoint.seq, "head_hash": checkpoint.head_hash}


@shared_task(name="assay.schedule.audit_checkpoint", ignore_result=True)
def scheduled_audit_checkpoint() -> None:
    """Beat's periodic entry: start a checkpoint job as the scheduler."""
    dispatch_job("audit.checkpoint", actor=None)


# --- Spark jobs (docs/spark-jobs.md) ---------------------------------------------------------------------------------
# Both run on the "spark" queue, which one worker process per machine takes (Procfile): a JVM per process, and
# local[*] already uses every core. The pipelines are imported inside the task: pyspark loads only where Spark runs.


def _spark_for(job: Job) -> Any:
    from workers.spark import SparkUnavailable, get_spark

    try:
        return get_spark()
    except SparkUnavailable as error:
        raise JobFailed(str(error)) from error


def _job_user(job: Job) -> Any:
    if job.requested_by is None or not job.requested_by.is_active:
        raise JobFailed("The user who requested this job is gone or deactivated; nothing was registered.")
    return job.requested_by


def _check_still_allowed(job: Job, obj: Any) -> None:
    """The requester must still be allowed to write to the target's team when the job runs (roles change)."""
    from core.querysets import CHANGE

    if not type(obj)._default_manager.restrict(job.requested_by, CHANGE).filter(pk=obj.pk).exists():
        raise JobFailed(f"{job.requested_by} may no longer change {obj}; nothing was registered.")


@contextmanager
def spark_work(job: Job, ctx: JobContext) -> Iterator[Any]:
    """The job's Spark session inside its job group, watched for cancellation, with data and pipeline errors
    turned into clean failures (a message for the requester; the staging left by a failed write removed)."""
    from registry.pipelines.io import DataError, remove_staging
    from workers.spark import SparkJobCancelled, spark_job

    # What an earlier attempt of this job left half-written when its worker died.
    if remove_staging(str(job.public_id)):
        ctx.log("removed the staging files of an interrupted attempt", "warning")
    spark = _spark_for(job)
    try:
        with spark_job(spark, job, ctx.report) as watch:
            yield spark, watch
    except SparkJobCancelled:
        raise JobCancelled() from None
    except DataError as error:
        raise JobFailed(error.message) from None
    finally:
        remove_staging(str(job.public_id))


@job_task(
    "registry.materialize_features",
    queue=settings.SPARK_QUEUE,
    description="Materialize a feature view from a dataset version into a registered feature-set version (Spark).",
)
def materialize_features(job: Job, ctx: JobContext) -> dict[str, Any]:
    from registry.models import DatasetVersion, FeatureSetVersion, FeatureView

    done = FeatureSetVersion.objects.filter(job=job).first()
    if done is not None:
        # The earlier attempt registered its version, then its worker died before the job was marked done.
        ctx.log(f"{done} was already registered by an earlier attempt of this job")
        return {**_feature_set_result(done), **_then_train(job, ctx, done)}
    view = FeatureView.objects.filter(pk=job.target_id).select_related("team").first()
    if view is None:
        raise JobFailed("The feature view is gone; nothing was materialized.")
    params = job.params
    source = DatasetVersion.objects.filter(pk=params.get("dataset_version")).select_related("dataset").first()
    spine = None
    if params.get("spine_dataset_version"):
        spine = DatasetVersion.objects.filter(pk=params["spine_dataset_version"]).select_related("dataset").first()
        if spine is None:
            raise JobFailed("The spine's dataset version is gone; nothing was materialized.")
    if source is None:
        raise JobFailed("The source dataset version is gone; nothing was materialized.")
    actor = _job_user(job)
    _check_still_allowed(job, view)
    # The definitions as they were when the job was requested: the view may have been edited since.
    definitions = {
        "entity": view.entity,
        "event_time_column": view.event_time_column,
        "features": params.get("features") or view.features,
    }
    ctx.progress(0.01, f"reading {source}")
    try:
        return _materialize(job, ctx, view, source, spine, definitions, actor)
    except BaseException:
        # A job that ends without its version (failed, cancelled) leaves no output folder behind. A worker killed
        # outright cannot get here: its retry replaces the folder, and a job that is never retried has it removed
        # by the next worker start (workers.signals).
        remove_unregistered_output(job)
        raise


def remove_unregistered_output(job: Job) -> bool:
    """Remove ``features/<job id>`` under ARTIFACT_ROOT unless a feature-set version registered it."""
    from registry.models import FeatureSetVersion
    from registry.pipelines.io import output_path

    folder = output_path("features", str(job.public_id))
    if not folder.exists() or FeatureSetVersion.objects.filter(job=job).exists():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


def _materialize(
    job: Job, ctx: JobContext, view: Any, source: Any, spine: Any, definitions: dict[str, Any], actor: Any
) -> dict[str, Any]:
    from registry.actions.features import do_register_feature_set_version

    with spark_work(job, ctx) as (spark, watch):
        from registry.pipelines.features import FeatureDefinitionError, materialize
        from registry.pipelines.io import read_dataset_version

        source_frame = read_dataset_version(spark, source, job=job)
        spine_frame = read_dataset_version(spark, spine, job=job) if spine is not None else None
        try:
            result = materialize(
                spark, definitions, source_frame, spine_frame, progress=watch.report, output_key=str(job.public_id)
            )
        except FeatureDefinitionError as error:
            raise JobFailed(f"The feature definitions do not fit {source}: {error}") from None
    ctx.progress(0.97, "registering the feature-set version")
    with transaction.atomic():
        version = do_register_feature_set_version(
            view,
            actor=actor,
            dataset_versions=[v.pk for v in (source, spine) if v is not None],
            statistics=result.statistics,
            features=definitions["features"],
            job=job,
            storage_location=result.storage_location,
            output_fingerprint=result.fingerprint,
            row_count=result.row_count,
            description=f"Materialized from {source} by job {job.public_id}.",
        )
    ctx.log(f"registered {version}: {result.row_count} rows at {result.storage_location}")
    return {**_feature_set_result(version), "spark": dict(watch.figures), **_then_train(job, ctx, version)}


def _then_train(job: Job, ctx: JobContext, version: Any) -> dict[str, Any]:
    """The training job the request chained on (``then_train``), asked for once the feature set is registered.

    Its idempotency key is derived from this job, so a retried materialization finds the training job it asked for
    before instead of asking twice. A refusal (the label is not in the data, say) is this job's log line and result,
    not its failure: the feature set is registered and stays useful.
    """
    from django.core.exceptions import ValidationError

    from registry.actions import do_request_training
    from registry.models import RegisteredModel

    chained = job.params.get("then_train")
    if not chained:
        return {}
    model = RegisteredModel.objects.filter(pk=chained["model"]).first()
    if model is None:
        ctx.log("the model to train is gone; no training job was requested")
        return {"training_job": None}
    try:
        training, _ = do_request_training(
            model,
            actor=_job_user(job),
            feature_set_version=version.pk,
            label=chained["label"],
            algorithm=chained["algorithm"],
            params=chained.get("params") or {},
            features=chained.get("features"),
            idempotency_key=f"after-{job.public_id}",
        )
    except ValidationError as error:
        ctx.log(f"the chained training job was refused: {'; '.join(error.messages)}")
        return {"training_job": None, "training_refused": error.messages}
    ctx.log(f"requested training job {training.public_id} on {version}")
    return {"training_job": str(training.public_id)}


def _feature_set_result(version: Any) -> dict[str, Any]:
    return {
        "feature_set_version": version.pk,
        "feature_view": version.feature_view_id,
        "number": version.number,
        "fingerprint": version.fingerprint,
        "output_fingerprint": version.output_fingerprint,
        "row_count": version.row_count,
        "storage_location": version.storage_location,
    }


@job_task(
    "registry.train_model",
    queue=settings.SPARK_QUEUE,
    description="Train a model on a feature-set version with Spark ML and register its ONNX as a model version.",
)
def train_model(job: Job, ctx: JobContext) -> dict[str, Any]:
    from registry.models import FeatureSetVersion, ModelVersion, RegisteredModel

    done = ModelVersion.objects.filter(job=job).first()
    if done is not None:
        ctx.log(f"{done} was already registered by an earlier attempt of this job")
        return _model_version_result(done)
    model = RegisteredModel.objects.filter(pk=job.target_id).select_related("team", "use_case").first()
    if model is None:
        raise JobFailed("The registered model is gone; nothing was trained.")
    params = job.params
    feature_set = (
        FeatureSetVersion.objects.filter(pk=params.get("feature_set_version")).select_related("feature_view").first()
    )
    if feature_set is None or not feature_set.storage_location:
        raise JobFailed("The feature-set version is gone or holds no materialized data; nothing was trained.")
    actor = _job_user(job)
    _check_still_allowed(job, model)
    data_path = Path(settings.ARTIFACT_ROOT) / feature_set.storage_location
    if not data_path.is_dir():
        raise JobFailed(f"The data of {feature_set} is missing from the artifact store ({data_path}).")
    _check_feature_set_files(feature_set, data_path, actor)
    ctx.progress(0.01, f"reading {feature_set}")
    with spark_work(job, ctx) as (spark, watch):
        from registry.pipelines.training import TrainingError, decision_costs, register_trained_model, train

        frame = spark.read.parquet(str(data_path))
        time_column = feature_set.feature_view.event_time_column
        try:
            trained = train(
                spark,
                frame,
                label=params["label"],
                features=params.get("features") or [feature["name"] for feature in feature_set.features],
                algorithm=params["algorithm"],
                params=params.get("params") or {},
                event_time_column=time_column if time_column in frame.columns else None,
                costs=decision_costs(model),
                work_dir=Path(settings.ARTIFACT_ROOT) / "training" / str(job.public_id),
                progress=watch.report,
            )
        except TrainingError as error:
            raise JobFailed(str(error)) from None
    ctx.progress(0.97, "registering the model version")
    with transaction.atomic():
        version = register_trained_model(trained, model=model, job=job, actor=actor, feature_set_version=feature_set)
    shutil.rmtree(Path(settings.ARTIFACT_ROOT) / "training" / str(job.public_id), ignore_errors=True)
    ctx.log(f"registered {version}")
    return {**_model_version_result(version), "spark": dict(watch.figures)}


def _check_feature_set_files(feature_set: Any, data_path: Path, actor: Any) -> None:
    """The folder must hold exactly the Parquet files registered (``output_fingerprint``): a model version records
    the feature set it was trained on, so training on other bytes would make that record false. A mismatch is
    ``artifact.corrupted`` in the audit log and the job's failure."""
    from core.canonical import canonical_digest
    from registry.pipelines.features import parquet_files

    if not feature_set.output_fingerprint:
        return
    found = canonical_digest(parquet_files(data_path))
    if found == feature_set.output_fingerprint:
        return
    with transaction.atomic():
        audit.record_event(
            AuditEventType.ARTIFACT_CORRUPTED,
            actor=actor,
            target=feature_set,
            team=feature_set.feature_view.team,
            metadata={"output_fingerprint": feature_set.output_fingerprint, "found": found, "path": str(data_path)},
        )
    raise JobFailed(
        f"The data of {feature_set} changed after it was registered: the files under {feature_set.storage_location} "
        f"hash to {found}, not the registered {feature_set.output_fingerprint}; nothing was trained. "
        "Materialize the feature view again."
    )


def _model_version_result(version: Any) -> dict[str, Any]:
    return {
        "model_version": version.pk,
        "model": version.model_id,
        "number": version.number,
        "artifact_sha256": version.artifact_sha256,
        "metrics": version.metrics,
    }
