"""The job kinds Assay runs, each registered with the job layer by ``job_task``.

Each kind's steps are in its one function here, read top to bottom: load the rows (the job carries ids only, and a
row that is gone fails the job cleanly), check, run the pipeline, register through an action. The pipelines
(registry.pipelines) are functions of data: Spark in, Spark or files out, no database. The registry's actions are
the only writers, each recording its audit event in its own transaction. This module orchestrates and writes
nothing itself. docs/jobs.md, docs/spark-jobs.md.

Importing this module (the web process does, to register the kinds) loads no Spark: the pipelines and
workers.spark import pyspark inside the functions that run on it.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from celery import shared_task
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import models

from compliance.actions import run_retention
from compliance.subject_datasets import files_digest_after_erasure
from core import audit, sso
from core.canonical import canonical_digest
from core.jobs import dispatch_job
from core.models import ExternalIdentity, Job
from core.querysets import CHANGE
from core.refusals import Refusal
from lineage import forwarding
from registry.access import is_usable
from registry.actions import (
    do_pin_dataset_files,
    do_record_data_change,
    do_record_feature_set_corruption,
    do_register_feature_set_version,
    do_register_model_version,
    do_request_training,
)
from registry.actions.jobs import check_readable
from registry.choices import FingerprintSource
from registry.models import DatasetVersion, FeatureSetVersion, FeatureView, ModelVersion, RegisteredModel
from registry.pipelines import io
from registry.pipelines.features import FeatureDefinitionError, materialize, parquet_files
from registry.pipelines.onnx_export import DEFAULT_PARITY_TOLERANCE
from registry.pipelines.training import TrainedModel, TrainingError, train
from workers.runner import JobCancelled, JobContext, JobFailed, job_task
from workers.spark import SparkJobCancelled, SparkJobWatch, SparkUnavailable, get_spark, spark_job

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


# --- Audit jobs -------------------------------------------------------------------------------------------------------


@job_task("audit.verify", description="Verify the whole audit chain and report the first broken row.")
def verify_audit_chain(job: Job, ctx: JobContext) -> dict[str, Any]:
    ctx.progress(0.0, "counting events")
    report = audit.verify_chain(
        on_progress=lambda done, total: ctx.progress(done / max(total, 1), f"verified {done} of {total} events")
    )
    audit.record_verification(report, actor=job.requested_by, target=job)
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


# --- Lineage forwarding (lineage.forwarding, docs/lineage.md "Emitting") ---------------------------------------------


@shared_task(name=forwarding.DELIVER_TASK, ignore_result=True)
def deliver_lineage_event(delivery_id: int) -> None:
    """Send one event owed to the external OpenLineage backend; a failure is recorded and retried by the sweep."""
    forwarding.deliver(int(delivery_id))


@shared_task(name="assay.schedule.lineage_deliveries", ignore_result=True)
def scheduled_lineage_deliveries() -> None:
    """Beat's periodic entry: send the deliveries that are due (first tries lost with the broker, and retries)."""
    forwarding.deliver_due()


# --- Retention (docs/retention.md) ------------------------------------------------------------------------------------


@job_task(
    "compliance.retention",
    description="Apply the retention policies: purge what expired (tombstones kept), skip what a legal hold covers.",
)
def apply_retention(job: Job, ctx: JobContext) -> dict[str, Any]:
    params = job.params
    dry_run = bool(params.get("dry_run", False))
    team_ids = params.get("team_ids")
    ctx.progress(0.05, "listing what expired" + (" (dry run: nothing is deleted)" if dry_run else ""))
    # Each purge takes the holds lock and its own transactions (compliance.actions.retention); a run cut short
    # leaves pending tombstones that the next run resumes.
    report = run_retention(job=job, team_ids=team_ids, dry_run=dry_run, log=ctx.log)
    ctx.progress(
        0.99,
        f"{len(report['purged'])} {'would go' if dry_run else 'purged'}, {len(report['skipped'])} kept, "
        f"{len(report['failed'])} failed",
    )
    if report["failed"]:
        names = ", ".join(entry["record"] for entry in report["failed"])
        raise JobFailed(f"Could not purge {names}: their tombstones stay pending and the next run resumes them.")
    return report


@shared_task(name="assay.schedule.retention", ignore_result=True)
def scheduled_retention() -> None:
    """Beat's periodic entry: apply every team's retention policies, as the scheduler."""
    dispatch_job("compliance.retention", actor=None, params={"dry_run": False, "team_ids": None})


# --- Spark jobs (docs/spark-jobs.md) ---------------------------------------------------------------------------------
# Both run on the "spark" queue, which one worker process per machine takes (Procfile): a JVM per process, and
# local[*] already uses every core.

# The share of a Spark job's progress bar its pipeline fills: reading comes before, registering after.
PIPELINE_SPAN = (0.02, 0.95)


@job_task(
    "registry.materialize_features",
    queue=settings.SPARK_QUEUE,
    description="Materialize a feature view from a dataset version into a registered feature-set version (Spark).",
)
def materialize_features(job: Job, ctx: JobContext) -> dict[str, Any]:
    # 1. The rows. A retry finds the version its earlier attempt registered before its worker died.
    done = FeatureSetVersion.objects.filter(job=job).first()
    if done is not None:
        ctx.log(f"{done} was already registered by an earlier attempt of this job")
        return {**_feature_set_result(done), **_then_train(job, ctx, done)}
    view = FeatureView.objects.filter(pk=job.target_id).select_related("team").first()
    if view is None:
        raise JobFailed("The feature view is gone; nothing was materialized.")
    params = job.params
    source = DatasetVersion.objects.filter(pk=params.get("dataset_version")).select_related("dataset__team").first()
    spine = None
    if params.get("spine_dataset_version"):
        spine = (
            DatasetVersion.objects.filter(pk=params["spine_dataset_version"]).select_related("dataset__team").first()
        )
        if spine is None:
            raise JobFailed("The spine's dataset version is gone; nothing was materialized.")
    if source is None:
        raise JobFailed("The source dataset version is gone; nothing was materialized.")
    for row in (source, spine):
        if row is not None and not is_usable(row.dataset, view.team):
            # A data access grant expired or was revoked since the job was requested (registry.access).
            raise JobFailed(f"Team {view.team.slug} may no longer use {row}; nothing was materialized.")
    actor = job_user(job)
    check_still_allowed(job, view)
    # The definitions as they were when the job was requested: the view may have been edited since.
    definitions = {
        "entity": view.entity,
        "event_time_column": view.event_time_column,
        "features": params.get("features") or view.features,
    }
    ctx.progress(0.01, f"reading {source}")
    try:
        with spark_work(job, ctx) as (spark, watch):
            # 2. The data is what was registered (and its files are pinned on the first read).
            source_frame = read_checked(spark, source, job)
            spine_frame = read_checked(spark, spine, job) if spine is not None else None
            # 3. The pipeline: features computed, written under features/<job id>, summarised.
            try:
                result = materialize(
                    spark,
                    definitions,
                    source_frame,
                    spine_frame,
                    artifact_root=artifact_root(),
                    progress=watch.report,
                    output_key=str(job.public_id),
                )
            except FeatureDefinitionError as error:
                raise JobFailed(f"The feature definitions do not fit {source}: {error}") from None
        # 4. Registered through the registry's action (one version per job).
        ctx.progress(0.97, "registering the feature-set version")
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
    except BaseException:
        # A job that ends without its version (failed, cancelled) leaves no output folder behind. A worker killed
        # outright cannot get here: its retry replaces the folder, and a job that is never retried has it removed
        # by the next worker start (workers.signals).
        remove_unregistered_output(job)
        raise
    ctx.log(f"registered {version}: {result.row_count} rows at {result.storage_location}")
    return {**_feature_set_result(version), "spark": dict(watch.figures), **_then_train(job, ctx, version)}


@job_task(
    "registry.train_model",
    queue=settings.SPARK_QUEUE,
    description="Train a model on a feature-set version with Spark ML and register its ONNX as a model version.",
)
def train_model(job: Job, ctx: JobContext) -> dict[str, Any]:
    # 1. The rows. A retry finds the version its earlier attempt registered before its worker died.
    done = ModelVersion.objects.filter(job=job).first()
    if done is not None:
        ctx.log(f"{done} was already registered by an earlier attempt of this job")
        return _model_version_result(done)
    model = RegisteredModel.objects.filter(pk=job.target_id).select_related("team", "use_case").first()
    if model is None:
        raise JobFailed("The registered model is gone; nothing was trained.")
    params = job.params
    feature_set = (
        FeatureSetVersion.objects.filter(pk=params.get("feature_set_version"))
        .select_related("feature_view__team")
        .first()
    )
    if feature_set is None or not feature_set.storage_location:
        raise JobFailed("The feature-set version is gone or holds no materialized data; nothing was trained.")
    actor = job_user(job)
    check_still_allowed(job, model)
    # 2. The feature set's files are the ones registered.
    data_path = artifact_root() / feature_set.storage_location
    if not data_path.is_dir():
        raise JobFailed(f"The data of {feature_set} is missing from the artifact store ({data_path}).")
    check_feature_set_files(feature_set, data_path, actor)
    # 3. The pipeline: fit, evaluate, export to ONNX, check parity.
    ctx.progress(0.01, f"reading {feature_set}")
    work_dir = artifact_root() / "training" / str(job.public_id)
    with spark_work(job, ctx) as (spark, watch):
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
                costs=model.use_case.decision_costs() if model.use_case is not None else None,
                work_dir=work_dir,
                progress=watch.report,
                default_parity_tolerance=float(
                    getattr(settings, "TRAINING_PARITY_TOLERANCE", DEFAULT_PARITY_TOLERANCE)
                ),
            )
        except TrainingError as error:
            raise JobFailed(str(error)) from None
    # 4. Registered through the registry's action, outside any transaction: it validates the ONNX before it takes
    # a lock (core.transactions), and refuses (and records) a file that does not pass.
    ctx.progress(0.97, "registering the model version")
    try:
        version = register_trained_model(trained, model=model, job=job, actor=actor, feature_set_version=feature_set)
    except Refusal as refused:
        raise JobFailed(f"The trained model was not registered: {refused.message}") from None
    except ValidationError as refused:
        raise JobFailed(f"The trained model was not registered: {'; '.join(refused.messages)}") from None
    shutil.rmtree(work_dir, ignore_errors=True)
    ctx.log(f"registered {version}")
    return {**_model_version_result(version), "spark": dict(watch.figures)}


# --- The steps the Spark jobs share ----------------------------------------------------------------------------------


def artifact_root() -> Path:
    """Where jobs write (the ARTIFACT_ROOT setting), handed to the pipelines, which read no settings."""
    return Path(settings.ARTIFACT_ROOT)


def job_user(job: Job) -> User:
    """The requester, who registers what the job made: refused when gone or deactivated since the request."""
    user = job.requested_by
    if user is None or not user.is_active:
        raise JobFailed("The user who requested this job is gone or deactivated; nothing was registered.")
    return user


def check_still_allowed(job: Job, obj: models.Model) -> None:
    """The requester must still be allowed to write to the target's team when the job runs (roles change)."""
    # The registry's managers restrict by user and action (core.querysets); Django's Manager type does not say so.
    manager: Any = type(obj)._default_manager
    if not manager.restrict(job.requested_by, CHANGE).filter(pk=obj.pk).exists():
        raise JobFailed(f"{job.requested_by} may no longer change {obj}; nothing was registered.")


def spark_session() -> SparkSession:
    """This worker process's session; no usable Java fails the job with the fix in its message."""
    try:
        return get_spark()
    except SparkUnavailable as error:
        raise JobFailed(str(error)) from error


@contextmanager
def spark_work(job: Job, ctx: JobContext) -> Iterator[tuple[SparkSession, SparkJobWatch]]:
    """The job's Spark session inside its job group, watched for cancellation, with data and pipeline errors
    turned into clean failures (a message for the requester; the staging left by a failed write removed). The
    watch's ``report`` is the pipeline's progress callback, filling ``PIPELINE_SPAN`` of the job's progress."""
    # What an earlier attempt of this job left half-written when its worker died.
    if io.remove_staging(artifact_root(), str(job.public_id)):
        ctx.log("removed the staging files of an interrupted attempt", "warning")
    spark = spark_session()
    try:
        with spark_job(spark, job, ctx.report, span=PIPELINE_SPAN) as watch:
            yield spark, watch
    except SparkJobCancelled:
        raise JobCancelled() from None
    except io.DataError as error:
        raise JobFailed(error.message) from None
    finally:
        io.remove_staging(artifact_root(), str(job.public_id))


def dataset_source(version: DatasetVersion) -> io.DataSource:
    """What registry.pipelines.io needs to read ``version``, as plain data."""
    computed = version.fingerprint_source == FingerprintSource.COMPUTED
    return io.DataSource(
        name=str(version),
        location=version.dataset.location,
        storage_format=version.dataset.storage_format,
        schema=version.schema,
        content_fingerprint=version.content_fingerprint if computed else None,
    )


def read_checked(spark: SparkSession, version: DatasetVersion, job: Job) -> DataFrame:
    """``version``'s data, held to what was registered, in this order: its location is still one the registry
    accepts; the reader's checks (files, format, schema, nulls); the files' pin (the first read pins their digest; a
    later difference is recorded as ``dataset.data_changed`` and fails the job); for a fingerprint Assay computed,
    the content. Raises ``DataError`` or ``JobFailed``."""
    try:
        check_readable(version, "dataset_version")
    except ValidationError as refused:
        raise JobFailed(" ".join(refused.messages)) from None
    source = dataset_source(version)
    read = io.read_dataset_version(spark, source, lake_root=str(settings.DATA_LAKE_ROOT))
    if read.files_digest is not None:
        pinned = do_pin_dataset_files(version, files_digest=read.files_digest, job=job)
        if pinned.files_digest != read.files_digest and read.files_digest == files_digest_after_erasure(version):
            # The files were rewritten without a data subject's rows (compliance.subject_datasets): the erasure
            # record holds the new digest, and the content no longer has the registered fingerprint, by design.
            return read.frame
        if pinned.files_digest != read.files_digest:
            do_record_data_change(pinned, actor=job.requested_by, found=read.files_digest, job=job)
            first = f"job {pinned.files_digest_job.public_id}" if pinned.files_digest_job else "an earlier read"
            when = pinned.files_digest_at.isoformat(timespec="seconds") if pinned.files_digest_at else "earlier"
            raise JobFailed(
                f"{version}: the files at {source.location} changed after {first} first read them ({when}): "
                f"they now hash to {read.files_digest}, not {pinned.files_digest}. Register a new dataset version "
                "for the new data, or restore the files."
            )
    io.check_content_fingerprint(read.frame, source)
    return read.frame


def check_feature_set_files(feature_set: FeatureSetVersion, data_path: Path, actor: User) -> None:
    """The folder must hold exactly the Parquet files registered (``output_fingerprint``): a model version records
    the feature set it was trained on, so training on other bytes would make that record false. A mismatch is
    ``artifact.corrupted`` in the audit log and the job's failure."""
    if not feature_set.output_fingerprint:
        return
    found = canonical_digest(parquet_files(data_path))
    if found == feature_set.output_fingerprint:
        return
    do_record_feature_set_corruption(feature_set, actor=actor, found=found, path=str(data_path))
    raise JobFailed(
        f"The data of {feature_set} changed after it was registered: the files under {feature_set.storage_location} "
        f"hash to {found}, not the registered {feature_set.output_fingerprint}; nothing was trained. "
        "Materialize the feature view again."
    )


def remove_unregistered_output(job: Job) -> bool:
    """Remove ``features/<job id>`` under ARTIFACT_ROOT unless a feature-set version registered it."""
    folder = io.output_path(artifact_root(), "features", str(job.public_id))
    if not folder.exists() or FeatureSetVersion.objects.filter(job=job).exists():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


def register_trained_model(
    trained: TrainedModel,
    *,
    model: RegisteredModel,
    job: Job,
    actor: User,
    feature_set_version: FeatureSetVersion,
    description: str = "",
) -> ModelVersion:
    """Register ``trained``'s ONNX as ``model``'s next version, once per ``job``: a retried job gets the version
    its earlier attempt registered. Links the feature-set version trained on (and its dataset versions), the
    requester as author, the job, the parameters and the metrics."""
    return do_register_model_version(
        model,
        actor=actor,
        chunks=trained.chunks(),
        filename=f"{trained.algorithm}.onnx",
        training_params={**trained.training_params(), "job": str(job.public_id)},
        metrics=trained.metrics,
        dataset_versions=list(feature_set_version.dataset_versions.order_by("pk").values_list("pk", flat=True)),
        feature_set_versions=[feature_set_version.pk],
        authors=[actor.get_username()],
        description=description
        or f"{trained.algorithm} trained on feature-set version {feature_set_version.pk} by job {job.public_id}.",
        job=job,
    )


# The idempotency key of a training job chained on a materialization: the prefix and the materialization's id.
CHAINED_KEY_PREFIX = "after-"


def chained_from(job: Job) -> Job | None:
    """The materialization job that asked for ``job`` (``then_train``), if it was one (workers.lineage's parent run)."""
    key = job.idempotency_key
    if job.kind != "registry.train_model" or not key.startswith(CHAINED_KEY_PREFIX):
        return None
    parent_id = key.removeprefix(CHAINED_KEY_PREFIX)
    try:
        return Job.objects.filter(public_id=uuid.UUID(parent_id), kind="registry.materialize_features").first()
    except ValueError:
        return None


def _then_train(job: Job, ctx: JobContext, version: FeatureSetVersion) -> dict[str, Any]:
    """The training job the request chained on (``then_train``), asked for once the feature set is registered.

    Its idempotency key is derived from this job, so a retried materialization finds the training job it asked for
    before instead of asking twice. A refusal (the label is not in the data, say) is this job's log line and result,
    not its failure: the feature set is registered and stays useful.
    """
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
            actor=job_user(job),
            feature_set_version=version.pk,
            label=chained["label"],
            algorithm=chained["algorithm"],
            params=chained.get("params") or {},
            features=chained.get("features"),
            idempotency_key=f"{CHAINED_KEY_PREFIX}{job.public_id}",
        )
    except ValidationError as error:
        ctx.log(f"the chained training job was refused: {'; '.join(error.messages)}")
        return {"training_job": None, "training_refused": error.messages}
    ctx.log(f"requested training job {training.public_id} on {version}")
    return {"training_job": str(training.public_id)}


def _feature_set_result(version: FeatureSetVersion) -> dict[str, Any]:
    return {
        "feature_set_version": version.pk,
        "feature_view": version.feature_view_id,
        "number": version.number,
        "fingerprint": version.fingerprint,
        "output_fingerprint": version.output_fingerprint,
        "row_count": version.row_count,
        "storage_location": version.storage_location,
    }


def _model_version_result(version: ModelVersion) -> dict[str, Any]:
    return {
        "model_version": version.pk,
        "model": version.model_id,
        "number": version.number,
        "artifact_sha256": version.artifact_sha256,
        "metrics": version.metrics,
    }


# --- Single sign-on re-check (core.sso, docs/sso.md) ----------------------------------------------------------------


@shared_task(name="assay.sso.recheck_identity", ignore_result=True)
def recheck_sso_identity(identity_id: int) -> str:
    """Ask the provider whether it still vouches for one single-sign-on user; deactivate them when it does not."""
    return sso.recheck_identity(int(identity_id))


@shared_task(name="assay.schedule.sso_recheck", ignore_result=True)
def scheduled_sso_recheck() -> None:
    """Beat's periodic entry: one re-check task per active single-sign-on user with a refresh token."""
    if not sso.sso_enabled():
        return
    due = ExternalIdentity.objects.filter(user__is_active=True).exclude(refresh_token_sealed="")
    for identity_id in due.values_list("pk", flat=True):
        recheck_sso_identity.delay(identity_id)
