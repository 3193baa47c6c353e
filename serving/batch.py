"""Batch scoring: a deployed model version scores a dataset version on Spark, and the predictions become a new
dataset of the model's team (docs/serving.md "Batch scoring").

Only what serves may batch-score: the deployment must be the primary or the canary of its model's route in its
environment (serving.models.Route) when the job is asked for and again when it runs. ``do_request_batch_scoring``
checks everything that can be checked without reading the data (who asks, that the deployment serves, that the
dataset version is of the model's team and readable, that its registered columns feed the model's inputs with types
that fit, that the output's name is free) and asks the job layer for the job (the row and its audit event in this
transaction, the message after commit); a refusal writes nothing. The job (workers.batch_scoring) runs the pipeline
(serving.pipelines.batch_score) and registers what it wrote through ``do_register_batch_predictions``: a dataset
(``storage_format`` parquet, its location ``lake://predictions/<team>/<job id>`` under DATA_LAKE_ROOT, the input's
classification, legal basis and residency) and its version 1, with the content fingerprint Assay computed and the
files pinned.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from core.idempotency import clean_idempotency_key
from core.jobs import dispatch_job
from core.models import Job
from registry.actions import do_create_dataset, do_pin_dataset_files, do_register_dataset_version
from registry.actions.jobs import check_readable
from registry.actions.rules import require, valid_name
from registry.choices import FingerprintSource, StorageFormat
from registry.models import Dataset, DatasetVersion
from serving.choices import DeploymentRole
from serving.models import Deployment, Route
from serving.pipelines.batch_plan import BatchPlan, BatchScoringError, plan_batch
from serving.pipelines.batch_score import BatchResult

BATCH_SCORE_KIND = "serving.batch_score"
# Where a job's predictions are written, under the lake root: one folder per job, so a retry writes the same place.
OUTPUT_LAKE_FOLDER = "predictions"
SCORING_ROLES = (DeploymentRole.PRIMARY, DeploymentRole.CANARY)


class NotServing(Exception):
    """The deployment does not serve (retired, replaced, or a shadow): it may not batch-score (the API's 409)."""


def serving_role(deployment: Deployment) -> str | None:
    """The role ``deployment`` serves in now (primary or canary of its route), or None."""
    route = Route.objects.filter(environment_id=deployment.environment_id, model_id=deployment.model_id).first()
    if route is None:
        return None
    if route.primary_id == deployment.pk:
        return DeploymentRole.PRIMARY
    if route.canary_id == deployment.pk:
        return DeploymentRole.CANARY
    return None


def check_serving(deployment: Deployment) -> str:
    """The role ``deployment`` serves in; ``NotServing`` naming why not."""
    role = serving_role(deployment)
    if role is None:
        raise NotServing(
            f"Deployment {deployment.pk} ({deployment.model_version} in {deployment.environment.slug}) does not serve "
            "now (retired, replaced or a shadow): only a route's primary or canary may batch-score."
        )
    return role


def serving_deployment(model_id: int, environment_id: int) -> Deployment:
    """The primary deployment of the model in the environment; ``NotServing`` when nothing serves there."""
    route = Route.objects.filter(environment_id=environment_id, model_id=model_id).first()
    if route is None or route.primary_id is None:
        raise NotServing("The model serves nothing in that environment (never deployed there, or retired).")
    return Deployment.objects.select_related("environment", "model__team", "model_version").get(pk=route.primary_id)


def output_location(job: Job) -> str:
    team = job.team.slug if job.team is not None else "none"
    return f"lake://{OUTPUT_LAKE_FOLDER}/{team}/{job.public_id}"


def plan_for(deployment: Deployment, version: DatasetVersion, field: str = "dataset_version") -> BatchPlan:
    """The scoring plan of ``deployment``'s model version on ``version``'s registered columns; a ValidationError on
    ``field`` naming the missing or mistyped columns."""
    try:
        return plan_batch(deployment.model_version.interface or {}, version.schema.get("columns") or [])
    except BatchScoringError as error:
        raise ValidationError({field: f"{version}: {error}"}) from None


@transaction.atomic
def do_request_batch_scoring(
    deployment: Deployment,
    *,
    actor: User,
    dataset_version: DatasetVersion,
    output_name: Any,
    idempotency_key: Any = "",
) -> tuple[Job, bool]:
    """Ask for a job that scores ``dataset_version`` with ``deployment``'s model version and registers the
    predictions as the dataset ``output_name`` of the model's team. Returns ``(job, created)``: the same
    ``idempotency_key`` from the same user returns the first job.

    Raises PermissionDenied (the actor may not change the model's team's registry), NotServing (the deployment is
    not a route's primary or canary now), ValidationError (the dataset version is another team's, unreadable, or
    does not fit the model's inputs; the name is invalid or taken).
    """
    model = deployment.model
    require(actor, model.team)
    key = clean_idempotency_key(idempotency_key)
    role = check_serving(deployment)
    if dataset_version.dataset.team_id != model.team_id:
        raise ValidationError({"dataset_version": f"{dataset_version} is not a dataset of team {model.team.slug}."})
    check_readable(dataset_version, "dataset_version")
    plan_for(deployment, dataset_version)
    try:
        name, _, _ = valid_name(Dataset, model.team, output_name)
    except ValidationError as error:
        raise ValidationError({"output_name": error.message_dict.get("name", error.messages)}) from None
    return dispatch_job(
        BATCH_SCORE_KIND,
        actor=actor,
        team=model.team,
        target=deployment,
        params={
            "deployment": deployment.pk,
            "role": role,
            "model_version": deployment.model_version_id,
            "artifact_sha256": deployment.model_version.artifact_sha256,
            "dataset_version": dataset_version.pk,
            "output_name": name,
        },
        idempotency_key=key,
    )


@transaction.atomic
def do_register_batch_predictions(
    job: Job,
    *,
    actor: User,
    deployment: Deployment,
    source: DatasetVersion,
    name: str,
    location: str,
    schema: dict[str, Any],
    result: BatchResult,
) -> DatasetVersion:
    """Register what ``job`` wrote at ``location``: the dataset ``name`` (the source's classification, legal basis
    and residency: predictions about people are as personal as the data they were made from) and its version 1,
    with the fingerprint Assay computed and the files pinned as read back. All or nothing."""
    dataset = do_create_dataset(
        deployment.model.team,
        actor=actor,
        name=name,
        owner=actor,
        description=(
            f"Predictions of {deployment.model_version} (deployment {deployment.pk} in "
            f"{deployment.environment.slug}) on {source}, by job {job.public_id}."
        ),
        storage_format=StorageFormat.PARQUET,
        location=location,
        partitioning=[],
        residency_region=source.dataset.residency_region,
        classification=source.dataset.classification,
        legal_basis=source.dataset.legal_basis,
    )
    version = do_register_dataset_version(
        dataset,
        actor=actor,
        schema=schema,
        content_fingerprint=result.content_fingerprint,
        row_count=result.row_count,
        description=f"Scored by {deployment.model_version} (sha256:{deployment.model_version.artifact_sha256}).",
        fingerprint_source=FingerprintSource.COMPUTED,
    )
    if result.files_digest is not None:
        version = do_pin_dataset_files(version, files_digest=result.files_digest, job=job)
    return version


def registered_output(job: Job) -> DatasetVersion | None:
    """The dataset version ``job`` registered, if it did (a retry finds it instead of scoring again)."""
    return (
        DatasetVersion.objects.filter(dataset__location=output_location(job), dataset__team=job.team)
        .select_related("dataset")
        .first()
    )
