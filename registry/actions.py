"""Every write to the registry goes through one of these functions.

Each is atomic, takes the acting user as the keyword-only ``actor``, validates with ``full_clean()`` and writes its
audit event inside the same transaction (see core.actions). Refusals an investigator would want to see (a breaking
schema change, a file that is not a model) are recorded by ``do_record_refusal`` in a transaction of their own,
after the refused one rolled back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Q

from core.audit import record_event
from core.canonical import canonical_digest
from core.choices import AuditEventType
from core.models import Membership, Team
from core.querysets import CHANGE
from registry import artifacts
from registry.choices import VERSION_TRANSITIONS, Aggregation, FingerprintSource, RiskTier, VersionStatus
from registry.models import (
    Dataset,
    DatasetVersion,
    FeatureSetVersion,
    FeatureView,
    KpiObservation,
    ModelVersion,
    ModelVersionTransition,
    RegisteredModel,
    UseCase,
)
from registry.naming import NameRefused, name_keys, validate_display_name, validate_identifier
from registry.onnx_validation import OnnxValidationError, validate_onnx
from registry.querysets import REVIEW, teams_for
from registry.schema import BreakingSchemaChange, SchemaError, check_evolution, fingerprint_schema, parse_schema

logger = logging.getLogger(__name__)
User = get_user_model()

DEFAULT_MAX_ARTIFACT_BYTES = 512 * 1024**2

USE_CASE_FIELDS = (
    "name",
    "objective",
    "kpis",
    "expected_roi",
    "roi_measurement",
    "decision_mode",
    "output_users",
    "scope",
    "limitations",
    "owner",
    "stakeholders",
    "risk_tier",
)
DATASET_FIELDS = (
    "name",
    "owner",
    "description",
    "storage_format",
    "location",
    "partitioning",
    "residency_region",
    "classification",
    "legal_basis",
)
MODEL_FIELDS = (
    "name",
    "owner",
    "on_call",
    "escalation_path",
    "use_case",
    "description",
    "intended_use",
    "limitations",
    "assumptions",
    "upstream_dependencies",
    "tags",
)


class RegistryRefusal(ValidationError):
    """A refused write worth an audit event: ``event_type`` and ``metadata`` say what was tried and why."""

    def __init__(self, message: Any, *, event_type: AuditEventType, metadata: dict[str, Any]) -> None:
        super().__init__(message)
        self.event_type = event_type
        self.metadata = metadata


def max_artifact_bytes() -> int:
    return int(getattr(settings, "MAX_ARTIFACT_BYTES", DEFAULT_MAX_ARTIFACT_BYTES))


# --- Shared rules -------------------------------------------------------------------------------------------------


def _require(actor: Any, team: Team, action: str = CHANGE) -> None:
    if not teams_for(actor, action).filter(pk=team.pk).exists():
        raise PermissionDenied(f"You may not {action} registry objects of team {team.slug}.")


def _valid_name(
    model: type[models.Model], team: Team, name: Any, *, exclude_pk: int | None = None
) -> tuple[str, str, str]:
    """The cleaned name and its two keys, or a ValidationError naming the look-alike it would clash with.

    A name is taken when either key is (registry.naming: ``name_key`` folds case first, ``shape_key`` compares the
    shapes of capitals); each key also has its own unique constraint per team, which closes the race between two
    registrations of look-alike names.
    """
    try:
        cleaned = validate_display_name(name)
        key, shape = name_keys(cleaned)
    except NameRefused as refused:
        raise ValidationError({"name": refused.reason}) from None
    clash = (
        model._default_manager.filter(team=team)
        .filter(Q(name_key=key) | Q(shape_key=shape))
        .exclude(pk=exclude_pk)
        .first()
    )
    if clash is not None:
        same = "is already taken" if str(clash) == cleaned else f"looks the same as the existing {clash}"
        raise ValidationError({"name": f"{cleaned!r} {same} in team {team.slug} (names are compared as they look)."})
    return cleaned, key, shape


def _require_member(team: Team, user: Any, field: str) -> None:
    if user is None or not Membership.objects.filter(team=team, user_id=user.pk).exists():
        raise ValidationError({field: f"Must be a member of team {team.slug}."})


def _snapshot(obj: models.Model, names: Iterable[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in names:
        field = obj._meta.get_field(name)
        if field.is_relation:
            related = getattr(obj, name)
            values[name] = None if related is None else str(related)
        else:
            values[name] = getattr(obj, name)
    return values


def _apply(obj: models.Model, fields: tuple[str, ...], changes: dict[str, Any]) -> None:
    unknown = sorted(set(changes) - set(fields))
    if unknown:
        raise ValidationError({name: "This field cannot be set here." for name in unknown})
    for name, value in changes.items():
        setattr(obj, name, value)


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [key for key in after if after[key] != before.get(key)]


@transaction.atomic
def do_record_refusal(
    event_type: AuditEventType, *, actor: Any, team: Team, target: models.Model | None, metadata: dict[str, Any]
) -> None:
    """Record a refused attempt; call it after the refused transaction rolled back, so that only this remains."""
    record_event(event_type, actor=actor, team=team, target=target, metadata=metadata)


def _update_named(
    obj: Any,
    *,
    actor: Any,
    fields: Any,
    changes: dict[str, Any],
    check: Any,
    event: AuditEventType,
) -> Any:
    """The shared body of the updates of named objects (use cases, datasets, models), on a row already locked.

    Applies the allowed ``changes``, re-derives the name keys when the name changes, validates with ``check``, and
    saves and records ``event`` with only the changed fields, or does nothing when nothing changed.
    """
    before = _snapshot(obj, fields)
    _apply(obj, fields, changes)
    if "name" in changes:
        obj.name, obj.name_key, obj.shape_key = _valid_name(type(obj), obj.team, changes["name"], exclude_pk=obj.pk)
    check(obj)
    after = _snapshot(obj, fields)
    changed = _changed(before, after)
    if not changed:
        return obj
    obj.save()
    record_event(
        event,
        actor=actor,
        target=obj,
        team=obj.team,
        before={key: before[key] for key in changed},
        after={key: after[key] for key in changed},
    )
    return obj


# --- Use cases ----------------------------------------------------------------------------------------------------


def _check_use_case(use_case: UseCase) -> None:
    _require_member(use_case.team, use_case.owner if use_case.owner_id else None, "owner")
    use_case.full_clean(exclude=["name_key", "shape_key"])


@transaction.atomic
def do_create_use_case(team: Team, *, actor: Any, **fields: Any) -> UseCase:
    _require(actor, team)
    use_case = UseCase(team=team, created_by=actor)
    _apply(use_case, USE_CASE_FIELDS, fields)
    use_case.name, use_case.name_key, use_case.shape_key = _valid_name(UseCase, team, fields.get("name"))
    _check_use_case(use_case)
    use_case.save()
    record_event(
        AuditEventType.USE_CASE_CREATED,
        actor=actor,
        target=use_case,
        team=team,
        after=_snapshot(use_case, USE_CASE_FIELDS),
    )
    return use_case


@transaction.atomic
def do_update_use_case(use_case: UseCase, *, actor: Any, **changes: Any) -> UseCase:
    _require(actor, use_case.team)
    # Lock the row so that two concurrent edits each record the true "before".
    use_case = UseCase.objects.select_for_update(of=("self",)).select_related("team", "owner").get(pk=use_case.pk)
    if (
        changes.get("risk_tier") == RiskTier.PROHIBITED
        and use_case.registered_models.filter(versions__status=VersionStatus.DEPLOYED).exists()
    ):
        raise ValidationError({"risk_tier": "A model of this use case is deployed; retire it before prohibiting."})
    updated: UseCase = _update_named(
        use_case,
        actor=actor,
        fields=USE_CASE_FIELDS,
        changes=changes,
        check=_check_use_case,
        event=AuditEventType.USE_CASE_UPDATED,
    )
    return updated


@transaction.atomic
def do_record_kpi_observation(
    use_case: UseCase, *, actor: Any, kpi: str, value: float, observed_at: datetime, note: str = ""
) -> KpiObservation:
    _require(actor, use_case.team)
    if kpi not in use_case.kpi_names():
        known = ", ".join(use_case.kpi_names()) or "none"
        raise ValidationError({"kpi": f"{kpi!r} is not a KPI of this use case (its KPIs: {known})."})
    observation = KpiObservation(
        use_case=use_case, kpi=kpi, value=value, observed_at=observed_at, note=note, recorded_by=actor
    )
    observation.full_clean()
    observation.save()
    record_event(
        AuditEventType.KPI_OBSERVATION_RECORDED,
        actor=actor,
        target=observation,
        team=use_case.team,
        after={
            "use_case": use_case.pk,
            "kpi": kpi,
            "value": value,
            "observed_at": observed_at.isoformat(),
            "note": note,
        },
    )
    return observation


# --- Datasets -----------------------------------------------------------------------------------------------------


def _check_dataset(dataset: Dataset) -> None:
    _require_member(dataset.team, dataset.owner if dataset.owner_id else None, "owner")
    dataset.full_clean(exclude=["name_key", "shape_key"])


@transaction.atomic
def do_create_dataset(team: Team, *, actor: Any, **fields: Any) -> Dataset:
    _require(actor, team)
    dataset = Dataset(team=team, created_by=actor)
    _apply(dataset, DATASET_FIELDS, fields)
    dataset.name, dataset.name_key, dataset.shape_key = _valid_name(Dataset, team, fields.get("name"))
    _check_dataset(dataset)
    dataset.save()
    record_event(
        AuditEventType.DATASET_CREATED, actor=actor, target=dataset, team=team, after=_snapshot(dataset, DATASET_FIELDS)
    )
    return dataset


@transaction.atomic
def do_update_dataset(dataset: Dataset, *, actor: Any, **changes: Any) -> Dataset:
    _require(actor, dataset.team)
    dataset = Dataset.objects.select_for_update(of=("self",)).select_related("team", "owner").get(pk=dataset.pk)
    updated: Dataset = _update_named(
        dataset,
        actor=actor,
        fields=DATASET_FIELDS,
        changes=changes,
        check=_check_dataset,
        event=AuditEventType.DATASET_UPDATED,
    )
    return updated


@transaction.atomic
def do_register_dataset_version(
    dataset: Dataset,
    *,
    actor: Any,
    schema: Any,
    content_fingerprint: str,
    row_count: int | None = None,
    description: str = "",
    allow_breaking_change: bool = False,
) -> DatasetVersion:
    """Register the next version of ``dataset``; a breaking schema change needs ``allow_breaking_change``.

    The fingerprint is supplied by the client: Assay cannot reach the data from a request (it never fetches a
    location), so ``fingerprint_source`` says so.
    """
    _require(actor, dataset.team)
    # The lock serializes version numbers per dataset: two registrations at once would otherwise both read the
    # same latest version and race for its number (the unique constraint is the backstop).
    dataset = Dataset.objects.select_for_update(of=("self",)).select_related("team").get(pk=dataset.pk)
    try:
        parsed = parse_schema(schema)
    except (SchemaError, NameRefused) as error:
        raise ValidationError({"schema": str(error)}) from None
    previous = dataset.versions.order_by("-number").first()
    try:
        evolution = check_evolution(
            parse_schema(previous.schema) if previous else None, parsed, allow_breaking=allow_breaking_change
        )
    except BreakingSchemaChange as breaking:
        raise RegistryRefusal(
            {"schema": str(breaking)},
            event_type=AuditEventType.DATASET_VERSION_REFUSED,
            metadata={
                "reason": "breaking_schema_change",
                "against_version": previous.number if previous else None,
                "evolution": breaking.diff.to_json(),
            },
        ) from None
    version = DatasetVersion(
        dataset=dataset,
        number=(previous.number + 1) if previous else 1,
        schema=parsed.to_json(),
        schema_fingerprint=fingerprint_schema(parsed),
        content_fingerprint=(content_fingerprint or "").lower(),
        fingerprint_source=FingerprintSource.SUPPLIED,
        row_count=row_count,
        evolution=evolution.to_json(),
        breaking_change=evolution.is_breaking,
        description=description,
        created_by=actor,
    )
    try:
        artifacts.check_digest(version.content_fingerprint)
    except artifacts.InvalidDigest:
        raise ValidationError({"content_fingerprint": "Must be a SHA-256 digest: 64 hexadecimal characters."}) from None
    version.full_clean()
    version.save()
    record_event(
        AuditEventType.DATASET_VERSION_REGISTERED,
        actor=actor,
        target=version,
        team=dataset.team,
        after={
            "number": version.number,
            "schema_fingerprint": version.schema_fingerprint,
            "content_fingerprint": version.content_fingerprint,
            "row_count": row_count,
            "breaking_change": version.breaking_change,
            "evolution": version.evolution,
        },
    )
    return version


# --- Registered models --------------------------------------------------------------------------------------------


def _check_model(model: RegisteredModel) -> None:
    _require_member(model.team, model.owner if model.owner_id else None, "owner")
    if model.use_case_id is not None:
        use_case = model.use_case
        assert use_case is not None
        if use_case.team_id != model.team_id:
            # Read like a missing object: another team's use case is not for this team to learn about.
            raise ValidationError({"use_case": f'Invalid pk "{use_case.pk}" - object does not exist.'})
        if use_case.risk_tier == RiskTier.PROHIBITED:
            raise ValidationError({"use_case": "This use case is a prohibited practice; no model may serve it."})
    model.full_clean(exclude=["name_key", "shape_key"])


@transaction.atomic
def do_create_model(team: Team, *, actor: Any, **fields: Any) -> RegisteredModel:
    _require(actor, team)
    model = RegisteredModel(team=team, created_by=actor)
    _apply(model, MODEL_FIELDS, fields)
    model.name, model.name_key, model.shape_key = _valid_name(RegisteredModel, team, fields.get("name"))
    _check_model(model)
    model.save()
    record_event(
        AuditEventType.MODEL_CREATED, actor=actor, target=model, team=team, after=_snapshot(model, MODEL_FIELDS)
    )
    return model


@transaction.atomic
def do_update_model(model: RegisteredModel, *, actor: Any, **changes: Any) -> RegisteredModel:
    _require(actor, model.team)
    model = (
        RegisteredModel.objects.select_for_update(of=("self",))
        .select_related("team", "owner", "use_case")
        .get(pk=model.pk)
    )
    updated: RegisteredModel = _update_named(
        model,
        actor=actor,
        fields=MODEL_FIELDS,
        changes=changes,
        check=_check_model,
        event=AuditEventType.MODEL_UPDATED,
    )
    return updated


def _same_team_dataset_versions(team: Team, ids: Iterable[int]) -> list[DatasetVersion]:
    wanted = list(dict.fromkeys(ids))
    found = {version.pk: version for version in DatasetVersion.objects.filter(pk__in=wanted, dataset__team=team)}
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        # Another team's version reads exactly like a missing one.
        raise ValidationError({"dataset_versions": [f'Invalid pk "{pk}" - object does not exist.' for pk in missing]})
    return [found[pk] for pk in wanted]


def _team_members(team: Team, usernames: Iterable[str]) -> list[Any]:
    wanted = list(dict.fromkeys(usernames))
    members = {
        user.get_username(): user
        for user in User.objects.filter(username__in=wanted, memberships__team=team).distinct()
    }
    missing = [name for name in wanted if name not in members]
    if missing:
        raise ValidationError({"authors": [f"{name!r} is not a member of team {team.slug}." for name in missing]})
    return [members[name] for name in wanted]


def do_register_model_version(
    model: RegisteredModel,
    *,
    actor: Any,
    chunks: Iterable[bytes],
    filename: str = "",
    training_params: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    dataset_versions: Iterable[int] = (),
    feature_set_versions: Iterable[int] = (),
    authors: Iterable[str] | None = None,
    description: str = "",
) -> ModelVersion:
    """Receive, validate and store an ONNX file and register it as the model's next version, all or nothing.

    The file is streamed into the artifact store's staging folder and validated in a child process before any
    database lock is taken; it is moved to its content address only inside the transaction that writes the row,
    and removed again if that transaction fails, unless a committed version already references the same content.
    Raises ``RegistryRefusal`` for a file that is not a valid ONNX model or is too large.
    """
    _require(actor, model.team)
    display_name = ""
    if filename:
        try:
            display_name = artifacts.sanitize_display_name(filename)
        except ValueError as error:
            raise ValidationError({"file": str(error)}) from None
    # Cheap checks first, so that a bad request does not cost a validation child process.
    version_check = ModelVersion(metrics=metrics or {}, training_params=training_params or {}, interface={})
    version_check.full_clean(exclude=["model", "number", "artifact_sha256", "artifact_size", "interface", "status"])
    dataset_rows = _same_team_dataset_versions(model.team, dataset_versions)
    feature_rows = _same_team_feature_set_versions(model.team, feature_set_versions)
    author_rows = _team_members(model.team, authors if authors is not None else [actor.get_username()])
    try:
        staged = artifacts.receive(chunks, max_bytes=max_artifact_bytes())
    except artifacts.ArtifactTooLarge as error:
        raise RegistryRefusal(
            {"file": str(error)},
            event_type=AuditEventType.MODEL_VERSION_REFUSED,
            metadata={"reason": "too_large", "filename": display_name, "max_bytes": max_artifact_bytes()},
        ) from None
    with staged:
        try:
            report = validate_onnx(Path(staged.path))
        except OnnxValidationError as error:
            raise RegistryRefusal(
                {"file": f"{error.message} ({error.code})"},
                event_type=AuditEventType.MODEL_VERSION_REFUSED,
                metadata={
                    "reason": str(error.code),
                    "filename": display_name,
                    "sha256": staged.sha256,
                    "size": staged.size,
                },
            ) from None
        # Known before the commit: if the transaction then fails, a file that was not there before is ours to remove.
        existed = staged.store.exists(staged.sha256)
        try:
            with transaction.atomic():
                version = _create_model_version(
                    model,
                    actor=actor,
                    staged=staged,
                    display_name=display_name,
                    interface=report.as_dict(),
                    training_params=training_params or {},
                    metrics=metrics or {},
                    dataset_rows=dataset_rows,
                    feature_rows=feature_rows,
                    author_rows=author_rows,
                    description=description,
                )
                # Last, so that every check has passed before the file takes its permanent place.
                artifacts.commit(staged)
        except BaseException:
            if not existed:
                _forget_unreferenced(staged.store.path_for(staged.sha256), staged.sha256)
            raise
    return version


def _forget_unreferenced(path: Path, sha256: str) -> None:
    # Only content no committed version references. A concurrent upload of the same new content that commits its
    # row after this check would lose its file; the window is the gap between two COMMITs, and a later digest check
    # on download reports it (ArtifactMissing) rather than serving anything wrong.
    if not ModelVersion.objects.filter(artifact_sha256=sha256).exists():
        path.unlink(missing_ok=True)


def _create_model_version(
    model: RegisteredModel,
    *,
    actor: Any,
    staged: artifacts.StagedArtifact,
    display_name: str,
    interface: dict[str, Any],
    training_params: dict[str, Any],
    metrics: dict[str, Any],
    dataset_rows: list[DatasetVersion],
    feature_rows: list[FeatureSetVersion],
    author_rows: list[Any],
    description: str,
) -> ModelVersion:
    # The lock on the model serializes numbering (the unique constraint is the backstop).
    model = RegisteredModel.objects.select_for_update(of=("self",)).select_related("team").get(pk=model.pk)
    latest = model.versions.order_by("-number").values_list("number", flat=True).first()
    version = ModelVersion(
        model=model,
        number=(latest or 0) + 1,
        artifact_sha256=staged.sha256,
        artifact_size=staged.size,
        artifact_filename=display_name,
        interface=interface,
        training_params=training_params,
        metrics=metrics,
        description=description,
        created_by=actor,
    )
    version.full_clean()
    version.save()
    version.dataset_versions.set(dataset_rows)
    version.feature_set_versions.set(feature_rows)
    version.authors.set(author_rows)
    record_event(
        AuditEventType.MODEL_VERSION_REGISTERED,
        actor=actor,
        target=version,
        team=model.team,
        after={
            "number": version.number,
            "artifact_sha256": version.artifact_sha256,
            "artifact_size": version.artifact_size,
            "artifact_filename": display_name,
            "dataset_versions": [row.pk for row in dataset_rows],
            "feature_set_versions": [row.pk for row in feature_rows],
            "authors": [user.get_username() for user in author_rows],
            "metrics": metrics,
        },
    )
    return version


@transaction.atomic
def do_change_version_status(version: ModelVersion, *, actor: Any, to_status: str, reason: str) -> ModelVersion:
    """Move a version along its lifecycle (registry.choices.VERSION_TRANSITIONS), recording who, when and why.

    Approving needs the ``review`` permission (reviewers, compliance officers, admins); the rest needs ``change``.
    """
    team = version.model.team
    _require(actor, team, REVIEW if to_status == VersionStatus.APPROVED else CHANGE)
    # Two transitions at once would both read the same "from" and the later one would overwrite the earlier.
    version = ModelVersion.objects.select_for_update(of=("self",)).select_related("model__use_case").get(pk=version.pk)
    if to_status not in VersionStatus.values:
        raise ValidationError({"to_status": f"Unknown status {to_status!r}."})
    if (version.status, to_status) not in VERSION_TRANSITIONS:
        allowed = sorted(to for (frm, to) in VERSION_TRANSITIONS if frm == version.status)
        raise ValidationError(
            {"to_status": f"A {version.status} version cannot become {to_status}; it may become: {', '.join(allowed)}."}
        )
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError({"reason": "Say why: a status change needs a reason."})
    use_case = version.model.use_case
    if (
        to_status in (VersionStatus.APPROVED, VersionStatus.DEPLOYED)
        and use_case
        and use_case.risk_tier == RiskTier.PROHIBITED
    ):
        raise ValidationError({"to_status": "The model's use case is a prohibited practice."})
    from_status = version.status
    transition = ModelVersionTransition(
        version=version,
        from_status=from_status,
        to_status=to_status,
        reason=reason.strip(),
        actor=actor,
        actor_name=actor.get_username(),
    )
    transition.full_clean()
    version.status = to_status
    version.save(update_fields=["status"])
    transition.save()
    record_event(
        AuditEventType.MODEL_VERSION_STATUS_CHANGED,
        actor=actor,
        target=version,
        team=team,
        before={"status": from_status},
        after={"status": to_status, "reason": transition.reason},
    )
    return version


@transaction.atomic
def do_record_artifact_corruption(version: ModelVersion, *, actor: Any, detail: str) -> None:
    """Record that a stored artifact failed its digest check when read: evidence of tampering or bit rot."""
    record_event(
        AuditEventType.ARTIFACT_CORRUPTED,
        actor=actor,
        target=version,
        team=version.model.team,
        metadata={"sha256": version.artifact_sha256, "detail": detail},
    )


# --- Feature views and feature-set versions -----------------------------------------------------------------------

FEATURE_VIEW_FIELDS = ("name", "entity", "source_dataset", "event_time_column", "features", "owner", "description")
FEATURE_KEYS = frozenset({"name", "definition", "aggregation", "window", "description"})
_WINDOW = re.compile(r"\A[1-9][0-9]{0,5}(s|m|h|d|w)\Z")
_EVENT_TIME_TYPES = frozenset({"timestamp", "timestamp_ntz", "date"})


def _identifier(value: Any, kind: str, field: str) -> str:
    try:
        return validate_identifier(value, kind)
    except NameRefused as refused:
        raise ValidationError({field: f"{value!r} {refused.reason}"}) from None


def _clean_features(raw: Any) -> list[dict[str, Any]]:
    """The features list in its stored shape, or a ValidationError naming the offending item."""
    if not isinstance(raw, list) or not raw:
        raise ValidationError({"features": "Must be a non-empty list of feature definitions."})
    if len(raw) > 500:
        raise ValidationError({"features": "A feature view holds at most 500 features."})
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where = f"features[{index}]"
        if not isinstance(item, dict):
            raise ValidationError({"features": f"{where} must be an object."})
        unknown = sorted(set(item) - FEATURE_KEYS)
        if unknown:
            raise ValidationError({"features": f"{where} has unknown keys: {', '.join(unknown)}."})
        name = _identifier(item.get("name"), "feature", "features")
        if name in seen:
            raise ValidationError({"features": f"{where}.name {name!r} repeats an earlier feature."})
        seen.add(name)
        definition = item.get("definition")
        if not isinstance(definition, str) or not definition.strip() or len(definition) > 4000:
            raise ValidationError({"features": f"{where}.definition must be an expression of 1 to 4000 characters."})
        aggregation = item.get("aggregation", Aggregation.NONE)
        if aggregation not in Aggregation.values:
            allowed = ", ".join(Aggregation.values)
            raise ValidationError({"features": f"{where}.aggregation {aggregation!r} is not one of {allowed}."})
        window = item.get("window", "")
        if not isinstance(window, str):
            raise ValidationError({"features": f"{where}.window must be a string such as '7d'."})
        if aggregation == Aggregation.NONE and window:
            raise ValidationError({"features": f"{where}.window needs an aggregation; 'none' takes no window."})
        if aggregation != Aggregation.NONE and not _WINDOW.match(window):
            raise ValidationError(
                {"features": f"{where}.window {window!r} must be a count and a unit s, m, h, d or w ('7d', '24h')."}
            )
        description = item.get("description", "")
        if not isinstance(description, str):
            raise ValidationError({"features": f"{where}.description must be a string."})
        cleaned.append(
            {
                "name": name,
                "definition": definition.strip(),
                "aggregation": aggregation,
                "window": window,
                "description": description,
            }
        )
    return cleaned


def _check_feature_view(view: FeatureView) -> None:
    view.name = _identifier(view.name, "feature_view", "name")
    view.entity = _identifier(view.entity, "entity", "entity")
    view.features = _clean_features(view.features)
    _require_member(view.team, view.owner if view.owner_id else None, "owner")
    if view.source_dataset_id is not None and view.source_dataset.team_id != view.team_id:
        raise ValidationError({"source_dataset": f'Invalid pk "{view.source_dataset_id}" - object does not exist.'})
    latest = DatasetVersion.objects.filter(dataset_id=view.source_dataset_id).order_by("-number").first()
    if latest is not None:
        # Checked against the newest version of the source: a typo here would surface only when a job runs.
        column = next(
            (item for item in latest.schema["columns"] if item["name"].casefold() == view.event_time_column.casefold()),
            None,
        )
        if column is None:
            raise ValidationError({"event_time_column": f"{view.event_time_column!r} is not a column of {latest}."})
        if column["type"] not in _EVENT_TIME_TYPES:
            raise ValidationError(
                {
                    "event_time_column": (
                        f"{view.event_time_column!r} is a {column['type']}; it must be a timestamp or a date."
                    )
                }
            )
    if FeatureView.objects.filter(team_id=view.team_id, name=view.name).exclude(pk=view.pk).exists():
        raise ValidationError({"name": f"{view.name!r} is already taken in team {view.team.slug}."})
    view.full_clean(validate_unique=False)


@transaction.atomic
def do_create_feature_view(team: Team, *, actor: Any, **fields: Any) -> FeatureView:
    _require(actor, team)
    view = FeatureView(team=team, created_by=actor)
    _apply(view, FEATURE_VIEW_FIELDS, fields)
    _check_feature_view(view)
    view.save()
    record_event(
        AuditEventType.FEATURE_VIEW_CREATED,
        actor=actor,
        target=view,
        team=team,
        after=_snapshot(view, FEATURE_VIEW_FIELDS),
    )
    return view


@transaction.atomic
def do_update_feature_view(view: FeatureView, *, actor: Any, **changes: Any) -> FeatureView:
    """Change a view's definitions or documentation. Versions already registered keep the definitions they pinned."""
    _require(actor, view.team)
    view = FeatureView.objects.select_for_update(of=("self",)).select_related("team", "owner").get(pk=view.pk)
    before = _snapshot(view, FEATURE_VIEW_FIELDS)
    _apply(view, FEATURE_VIEW_FIELDS, changes)
    _check_feature_view(view)
    after = _snapshot(view, FEATURE_VIEW_FIELDS)
    changed = _changed(before, after)
    if not changed:
        return view
    view.save()
    record_event(
        AuditEventType.FEATURE_VIEW_UPDATED,
        actor=actor,
        target=view,
        team=view.team,
        before={key: before[key] for key in changed},
        after={key: after[key] for key in changed},
    )
    return view


def _check_statistics(statistics: Any, feature_names: set[str]) -> None:
    if not isinstance(statistics, dict):
        raise ValidationError({"statistics": "Must be an object mapping feature names to statistics."})
    for name, values in statistics.items():
        if name not in feature_names:
            raise ValidationError({"statistics": f"{name!r} is not a feature of this view."})
        if not isinstance(values, dict):
            raise ValidationError({"statistics": f"statistics[{name!r}] must be an object of numbers."})
        for key, value in values.items():
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or value != value
                or value
                in (
                    float("inf"),
                    float("-inf"),
                )
            ):
                raise ValidationError({"statistics": f"statistics[{name!r}][{key!r}] must be a finite number."})


@transaction.atomic
def do_register_feature_set_version(
    view: FeatureView,
    *,
    actor: Any,
    dataset_versions: Iterable[int],
    statistics: dict[str, Any] | None = None,
    description: str = "",
) -> FeatureSetVersion:
    """Pin the view's current definitions and the dataset versions they were built from, as the next version.

    At least one pinned version must be of the view's source dataset; all must belong to the view's team.
    """
    _require(actor, view.team)
    # The lock serializes numbering and keeps the definitions from changing under us while they are copied.
    view = FeatureView.objects.select_for_update(of=("self",)).select_related("team").get(pk=view.pk)
    pinned = _same_team_dataset_versions(view.team, dataset_versions)
    if not any(version.dataset_id == view.source_dataset_id for version in pinned):
        raise ValidationError({"dataset_versions": "Pin at least one version of the view's source dataset."})
    _check_statistics(statistics or {}, {feature["name"] for feature in view.features})
    latest = view.versions.order_by("-number").values_list("number", flat=True).first()
    inputs = [
        {"dataset_version": row.pk, "content_fingerprint": row.content_fingerprint}
        for row in sorted(pinned, key=lambda row: row.pk)
    ]
    version = FeatureSetVersion(
        feature_view=view,
        number=(latest or 0) + 1,
        features=view.features,
        fingerprint=canonical_digest(
            {
                "entity": view.entity,
                "event_time_column": view.event_time_column,
                "features": view.features,
                "inputs": inputs,
            }
        ),
        statistics=statistics or {},
        description=description,
        created_by=actor,
    )
    version.full_clean()
    version.save()
    version.dataset_versions.set(pinned)
    record_event(
        AuditEventType.FEATURE_SET_VERSION_REGISTERED,
        actor=actor,
        target=version,
        team=view.team,
        after={"number": version.number, "fingerprint": version.fingerprint, "inputs": inputs},
    )
    return version


def _same_team_feature_set_versions(team: Team, ids: Iterable[int]) -> list[FeatureSetVersion]:
    wanted = list(dict.fromkeys(ids))
    found = {row.pk: row for row in FeatureSetVersion.objects.filter(pk__in=wanted, feature_view__team=team)}
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        raise ValidationError(
            {"feature_set_versions": [f'Invalid pk "{pk}" - object does not exist.' for pk in missing]}
        )
    return [found[pk] for pk in wanted]
