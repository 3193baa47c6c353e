"""The retention targets registry: the kinds of record a retention policy can expire, and how each one goes.

Each kind says how to list its candidates (the record, its team, its classification, the dates a period may count
from), how to erase one (delete or anonymise its bytes; idempotent, so a purge interrupted half-way can run again),
and what its tombstone keeps (digest, size, description). compliance registers the registry's and core's kinds
here; a higher app (serving's prediction logs) registers its own from its ``AppConfig.ready``
(``register_target``), the way gate checks are registered (governance.gate.register_check).

Bytes shared by several rows (a content-addressed artifact two model versions point at, the folder every version
of a dataset reads) are deleted only when no other row still holding them is left: the tombstone says they were
kept and why.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef
from django.db.models.functions import Cast

from compliance.choices import CountedFrom, OnExpiry
from compliance.models import Purge
from core.choices import FINISHED_JOB_STATUSES
from core.models import Job, JobLogLine
from registry import artifacts
from registry.choices import Classification, VersionStatus
from registry.models import DatasetVersion, FeatureSetVersion, ModelVersion, ModelVersionTransition
from registry.models.validators import LAKE_SCHEME, lake_path

# Lowest to highest: a record made from several sources takes the highest of their classifications.
CLASSIFICATION_ORDER: tuple[str, ...] = tuple(Classification.values)


def highest(classifications: Iterable[str], default: str = Classification.INTERNAL) -> str:
    ranked = [value for value in classifications if value in CLASSIFICATION_ORDER]
    return max(ranked, key=CLASSIFICATION_ORDER.index) if ranked else default


@dataclass
class Candidate:
    """One record a policy may expire: ``record`` is the row that stays; ``dates`` maps each ``CountedFrom`` the
    kind offers to its date for this record (None when it has none yet: a version not retired)."""

    kind: str
    record: models.Model
    team_id: int
    classification: str
    dates: dict[str, datetime | None]
    digest: str = ""
    size: int | None = None

    @property
    def target_type(self) -> str:
        return self.record._meta.label_lower

    @property
    def target_id(self) -> str:
        return str(self.record.pk)


@dataclass(frozen=True)
class RetentionTarget:
    """A kind of record retention can expire (see the module docstring).

    ``candidates(team_ids)`` yields the kind's records of those teams (None: every team) that still have bytes to
    lose; ``load(pk)`` re-reads one (None when it is gone); ``erase(candidate, on_expiry)`` deletes or anonymises
    its bytes and returns what it did, for the tombstone's ``detail``.
    """

    kind: str
    label: str
    model: type[models.Model]
    counted_from: tuple[str, ...]
    on_expiry: tuple[str, ...]
    candidates: Callable[[list[int] | None], Iterator[Candidate]]
    load: Callable[[Any], Candidate | None]
    erase: Callable[[Candidate, str], dict[str, Any]]
    description: str = ""
    notes: dict[str, str] = field(default_factory=dict)


_TARGETS: dict[str, RetentionTarget] = {}


def register_target(target: RetentionTarget) -> RetentionTarget:
    _TARGETS[target.kind] = target
    return target


def targets() -> dict[str, RetentionTarget]:
    return dict(_TARGETS)


def target_for(kind: str) -> RetentionTarget:
    return _TARGETS[kind]


def target_of_record(record: models.Model) -> RetentionTarget:
    """The kind a record is retained as (the first registered for its model)."""
    for target in _TARGETS.values():
        if isinstance(record, target.model):
            return target
    raise LookupError(f"No retention target covers {record._meta.label}.")


def live(queryset: models.QuerySet[Any], model: type[models.Model]) -> models.QuerySet[Any]:
    """``queryset`` without the records that have a tombstone, done or pending: they have no bytes to lose. One
    NOT EXISTS on the tombstones' unique (target_type, target_id) index. Public for the targets higher apps
    register, as ``team_filter`` is."""
    tombstone = Purge.objects.filter(
        target_type=model._meta.label_lower, target_id=Cast(OuterRef("pk"), output_field=models.CharField())
    )
    return queryset.exclude(Exists(tombstone))


def team_filter(queryset: models.QuerySet[Any], lookup: str, team_ids: list[int] | None) -> models.QuerySet[Any]:
    return queryset if team_ids is None else queryset.filter(**{f"{lookup}__in": team_ids})


def _remove_path(path: Path) -> bool:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
        return True
    if path.is_dir():
        shutil.rmtree(path)
        return True
    return False


# --- Dataset version files --------------------------------------------------------------------------------------------


def _dataset_candidate(version: DatasetVersion) -> Candidate:
    return Candidate(
        kind="dataset_version_files",
        record=version,
        team_id=version.dataset.team_id,
        classification=version.dataset.classification,
        dates={CountedFrom.CREATED: version.created_at},
        digest=version.files_digest or version.content_fingerprint,
        size=None,
    )


def _dataset_candidates(team_ids: list[int] | None) -> Iterator[Candidate]:
    queryset = team_filter(DatasetVersion.objects.select_related("dataset"), "dataset__team_id", team_ids)
    for version in live(queryset, DatasetVersion).order_by("pk").iterator():
        yield _dataset_candidate(version)


def _dataset_load(pk: Any) -> Candidate | None:
    version = DatasetVersion.objects.select_related("dataset").filter(pk=pk).first()
    return _dataset_candidate(version) if version is not None else None


def lake_folder(location: str) -> Path | None:
    """The local path of a ``lake://`` location under DATA_LAKE_ROOT; None for data Assay does not hold."""
    if not location.lower().startswith(f"{LAKE_SCHEME}://"):
        return None
    root = Path(str(settings.DATA_LAKE_ROOT)).resolve()
    target = (root / lake_path(location)).resolve()
    if not target.is_relative_to(root) or target == root:
        return None
    return target


def _dataset_erase(candidate: Candidate, on_expiry: str) -> dict[str, Any]:
    version = candidate.record
    assert isinstance(version, DatasetVersion)
    location = version.dataset.location
    # Every version of a dataset reads the dataset's one location: its files go with the last live version.
    sharing = list(
        live(DatasetVersion.objects.filter(dataset_id=version.dataset_id).exclude(pk=version.pk), DatasetVersion)
        .values_list("number", flat=True)
        .order_by("number")
    )
    if sharing:
        return {"location": location, "bytes": "kept", "why": f"shared with live versions {sharing}"}
    folder = lake_folder(location)
    if folder is None:
        return {"location": location, "bytes": "not held", "why": "the location is outside Assay's lake"}
    removed = _remove_path(folder)
    return {"location": location, "bytes": "deleted" if removed else "already gone"}


# --- Feature-set files ------------------------------------------------------------------------------------------------


def _feature_candidate(version: FeatureSetVersion) -> Candidate:
    classes = version.dataset_versions.values_list("dataset__classification", flat=True)
    return Candidate(
        kind="feature_set_files",
        record=version,
        team_id=version.feature_view.team_id,
        classification=highest(classes),
        dates={CountedFrom.CREATED: version.created_at},
        digest=version.output_fingerprint,
    )


def _feature_candidates(team_ids: list[int] | None) -> Iterator[Candidate]:
    queryset = FeatureSetVersion.objects.select_related("feature_view").exclude(storage_location="")
    for version in live(team_filter(queryset, "feature_view__team_id", team_ids), FeatureSetVersion).order_by("pk"):
        yield _feature_candidate(version)


def _feature_load(pk: Any) -> Candidate | None:
    version = FeatureSetVersion.objects.select_related("feature_view").filter(pk=pk).first()
    return _feature_candidate(version) if version is not None else None


def _feature_erase(candidate: Candidate, on_expiry: str) -> dict[str, Any]:
    version = candidate.record
    assert isinstance(version, FeatureSetVersion)
    root = Path(settings.ARTIFACT_ROOT).resolve()
    folder = (root / version.storage_location).resolve()
    if not folder.is_relative_to(root) or folder == root:
        return {"location": version.storage_location, "bytes": "not held", "why": "outside the artifact root"}
    removed = _remove_path(folder)
    return {"location": version.storage_location, "bytes": "deleted" if removed else "already gone"}


# --- Model artifacts of retired versions ------------------------------------------------------------------------------


def retired_at(version: ModelVersion) -> datetime | None:
    transition = (
        ModelVersionTransition.objects.filter(version=version, to_status=VersionStatus.RETIRED)
        .order_by("-occurred_at")
        .first()
    )
    return transition.occurred_at if transition is not None else None


def _model_candidate(version: ModelVersion) -> Candidate:
    classes = version.dataset_versions.values_list("dataset__classification", flat=True)
    return Candidate(
        kind="model_artifacts",
        record=version,
        team_id=version.model.team_id,
        classification=highest(classes),
        dates={
            CountedFrom.CREATED: version.created_at,
            CountedFrom.RETIRED: retired_at(version) if version.status == VersionStatus.RETIRED else None,
        },
        digest=version.artifact_sha256,
        size=version.artifact_size,
    )


def _model_candidates(team_ids: list[int] | None) -> Iterator[Candidate]:
    # Only retired versions: a version that may still be deployed keeps its artifact whatever a policy says.
    queryset = ModelVersion.objects.select_related("model").filter(status=VersionStatus.RETIRED)
    for version in live(team_filter(queryset, "model__team_id", team_ids), ModelVersion).order_by("pk"):
        yield _model_candidate(version)


def _model_load(pk: Any) -> Candidate | None:
    version = ModelVersion.objects.select_related("model").filter(pk=pk).first()
    return _model_candidate(version) if version is not None else None


def _model_erase(candidate: Candidate, on_expiry: str) -> dict[str, Any]:
    version = candidate.record
    assert isinstance(version, ModelVersion)
    # Content-addressed: another live version with the same bytes keeps the file.
    sharing = list(
        live(
            ModelVersion.objects.filter(artifact_sha256=version.artifact_sha256).exclude(pk=version.pk), ModelVersion
        ).values_list("pk", flat=True)
    )
    if sharing:
        return {"sha256": version.artifact_sha256, "bytes": "kept", "why": f"shared with model versions {sharing}"}
    path = artifacts.ArtifactStore.default().path_for(version.artifact_sha256)
    removed = _remove_path(path)
    return {"sha256": version.artifact_sha256, "bytes": "deleted" if removed else "already gone"}


# --- Job logs ---------------------------------------------------------------------------------------------------------


def _job_candidate(job: Job) -> Candidate:
    return Candidate(
        kind="job_logs",
        record=job,
        team_id=job.team_id or 0,
        classification=Classification.INTERNAL,
        dates={CountedFrom.FINISHED: job.finished_at, CountedFrom.CREATED: job.created_at},
    )


def _job_candidates(team_ids: list[int] | None) -> Iterator[Candidate]:
    queryset = Job.objects.filter(status__in=FINISHED_JOB_STATUSES, team__isnull=False)
    for job in live(team_filter(queryset, "team_id", team_ids), Job).order_by("pk").iterator():
        yield _job_candidate(job)


def _job_load(pk: Any) -> Candidate | None:
    job = Job.objects.filter(pk=pk).first()
    return _job_candidate(job) if job is not None else None


def _job_erase(candidate: Candidate, on_expiry: str) -> dict[str, Any]:
    deleted, _ = JobLogLine.objects.filter(job_id=candidate.record.pk).delete()
    return {"log_lines": "deleted", "count": deleted}


register_target(
    RetentionTarget(
        kind="dataset_version_files",
        label="Dataset version files",
        model=DatasetVersion,
        counted_from=(CountedFrom.CREATED,),
        on_expiry=(OnExpiry.DELETE,),
        candidates=_dataset_candidates,
        load=_dataset_load,
        erase=_dataset_erase,
        description="The files of a dataset version in the lake (lake://); the version's row stays.",
    )
)
register_target(
    RetentionTarget(
        kind="feature_set_files",
        label="Feature-set files",
        model=FeatureSetVersion,
        counted_from=(CountedFrom.CREATED,),
        on_expiry=(OnExpiry.DELETE,),
        candidates=_feature_candidates,
        load=_feature_load,
        erase=_feature_erase,
        description="The materialized Parquet of a feature-set version under its storage location.",
    )
)
register_target(
    RetentionTarget(
        kind="model_artifacts",
        label="Model artifacts of retired versions",
        model=ModelVersion,
        counted_from=(CountedFrom.RETIRED, CountedFrom.CREATED),
        on_expiry=(OnExpiry.DELETE,),
        candidates=_model_candidates,
        load=_model_load,
        erase=_model_erase,
        description="The ONNX file of a retired model version (content-addressed: kept while another row uses it).",
    )
)
register_target(
    RetentionTarget(
        kind="job_logs",
        label="Job logs",
        model=Job,
        counted_from=(CountedFrom.FINISHED, CountedFrom.CREATED),
        on_expiry=(OnExpiry.DELETE,),
        candidates=_job_candidates,
        load=_job_load,
        erase=_job_erase,
        description="The log lines of a finished job; the job's record stays.",
    )
)


def purge_of(record: models.Model) -> Purge | None:
    """The record's tombstone, done or pending, or None."""
    return Purge.objects.filter(target_type=record._meta.label_lower, target_id=str(record.pk)).first()


def is_purged(record: models.Model) -> bool:
    return Purge.objects.filter(target_type=record._meta.label_lower, target_id=str(record.pk)).exists()
