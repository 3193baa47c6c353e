"""Actions on registered models, their ONNX versions and the versions' lifecycle."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, prefetch_related_objects

from core.audit import record_event
from core.choices import AuditEventType
from core.models import Job, Team
from core.querysets import CHANGE
from core.refusals import Refusal, refusals_recorded
from core.transactions import outside_transaction
from registry import artifacts
from registry.access import records_access_refusals, usable_dataset_versions
from registry.actions.rules import (
    create_named,
    max_artifact_bytes,
    require,
    require_member,
    same_team_feature_set_versions,
    update_named,
)
from registry.choices import VERSION_TRANSITIONS, RiskTier, VersionStatus
from registry.editable import MODEL_FIELDS
from registry.models import (
    DatasetVersion,
    FeatureSetVersion,
    ModelVersion,
    ModelVersionTransition,
    RegisteredModel,
)
from registry.models.registered_models import RegisteredModelTag, load_links
from registry.onnx_validation import JOB_SLOT_WAIT_SECONDS, OnnxValidationError, validate_onnx
from registry.prohibited import prohibited_input

# --- Registered models --------------------------------------------------------------------------------------------


def _check_model(model: RegisteredModel) -> None:
    require_member(model.team, model.owner if model.owner_id else None, "owner")
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
def do_create_model(team: Team, *, actor: User, **fields: Any) -> RegisteredModel:
    require(actor, team)
    created: RegisteredModel = create_named(
        RegisteredModel(team=team, created_by=actor),
        actor=actor,
        fields=MODEL_FIELDS,
        values=fields,
        check=_check_model,
        event=AuditEventType.MODEL_CREATED,
    )
    _write_tag_rows(created, before=[])
    return created


@transaction.atomic
def do_update_model(model: RegisteredModel, *, actor: User, **changes: Any) -> RegisteredModel:
    require(actor, model.team)
    model = (
        RegisteredModel.objects.select_for_update(of=("self",))
        .select_related("team", "owner", "use_case")
        .get(pk=model.pk)
    )
    tags_before = list(model.tags)
    updated: RegisteredModel = update_named(
        model,
        actor=actor,
        fields=MODEL_FIELDS,
        changes=changes,
        check=_check_model,
        event=AuditEventType.MODEL_UPDATED,
    )
    _write_tag_rows(updated, before=tags_before)
    return updated


def _write_tag_rows(model: RegisteredModel, *, before: list[str]) -> None:
    """Keep the model's ``RegisteredModelTag`` rows (what tag filters look up) in step with its ``tags``."""
    tags = list(dict.fromkeys(model.tags or []))
    if tags == list(dict.fromkeys(before)):
        return
    if before:
        RegisteredModelTag.objects.filter(model=model).delete()
    RegisteredModelTag.objects.bulk_create(RegisteredModelTag(model=model, tag=tag) for tag in tags)


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


@records_access_refusals
@outside_transaction  # it validates the file before it takes any lock: a caller's transaction would hold one
def do_register_model_version(
    model: RegisteredModel,
    *,
    actor: User,
    chunks: Iterable[bytes],
    filename: str = "",
    training_params: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    dataset_versions: Iterable[int] = (),
    feature_set_versions: Iterable[int] = (),
    authors: Iterable[str] | None = None,
    description: str = "",
    job: Job | None = None,
) -> ModelVersion:
    """Receive, validate and store an ONNX file and register it as the model's next version, all or nothing.

    The file is streamed into the artifact store's staging folder and validated in a child process before any
    database lock is taken; it is moved to its content address only inside the transaction that writes the row,
    and removed again if that transaction fails, unless a committed version already references the same content.
    Raises (and records, MODEL_VERSION_REFUSED) a ``Refusal`` for a file that is not a valid ONNX model or is too
    large, whoever calls it (the API, a training job). The version returned has its model (with its team), its
    ``links`` (see registry.models.load_links) and its (empty) transitions loaded.

    ``job`` is the job that produced the file (a training job): a job registers one version at most, so a retried job
    gets the version its earlier attempt registered, unchanged, and the file is neither validated nor stored again.
    """
    with refusals_recorded(actor=actor, team=model.team, target=model):
        return _register_model_version(
            model,
            actor=actor,
            chunks=chunks,
            filename=filename,
            training_params=training_params,
            metrics=metrics,
            dataset_versions=dataset_versions,
            feature_set_versions=feature_set_versions,
            authors=authors,
            description=description,
            job=job,
        )


def _register_model_version(
    model: RegisteredModel,
    *,
    actor: User,
    chunks: Iterable[bytes],
    filename: str = "",
    training_params: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    dataset_versions: Iterable[int] = (),
    feature_set_versions: Iterable[int] = (),
    authors: Iterable[str] | None = None,
    description: str = "",
    job: Job | None = None,
) -> ModelVersion:
    require(actor, model.team)
    if job is not None and (registered := _version_of_job(model, job)) is not None:
        return registered
    display_name = ""
    if filename:
        try:
            display_name = artifacts.sanitize_display_name(filename)
        except ValueError as error:
            raise ValidationError({"file": str(error)}) from None
    # Cheap checks first, so that a bad request does not cost a validation child process.
    version_check = ModelVersion(metrics=metrics or {}, training_params=training_params or {}, interface={})
    # The fields' own validators; the constraints concern the number and the artifact, which come later.
    version_check.full_clean(
        exclude=["model", "number", "artifact_sha256", "artifact_size", "interface", "status"],
        validate_unique=False,
        validate_constraints=False,
    )
    dataset_ids, feature_ids = list(dataset_versions), list(feature_set_versions)
    dataset_rows = usable_dataset_versions(model.team, dataset_ids, "dataset_versions") if dataset_ids else []
    feature_rows = same_team_feature_set_versions(model.team, feature_ids) if feature_ids else []
    author_rows = _team_members(model.team, authors if authors is not None else [actor.get_username()])
    try:
        staged = artifacts.receive(chunks, max_bytes=max_artifact_bytes())
    except artifacts.ArtifactTooLarge as error:
        raise Refusal(
            "artifact_too_large",
            str(error),
            event_type=AuditEventType.MODEL_VERSION_REFUSED,
            status=413,
            field="file",
            metadata={"reason": "too_large", "filename": display_name, "max_bytes": max_artifact_bytes()},
        ) from None
    with staged:
        try:
            # A web request does not wait for a validation slot (ValidatorBusy: 503); a training job does.
            report = validate_onnx(Path(staged.path), wait_for_slot_seconds=JOB_SLOT_WAIT_SECONDS if job else 0.0)
        except OnnxValidationError as error:
            raise Refusal(
                str(error.code),
                f"{error.message} ({error.code})",
                event_type=AuditEventType.MODEL_VERSION_REFUSED,
                field="file",
                metadata={
                    "reason": str(error.code),
                    "filename": display_name,
                    "sha256": staged.sha256,
                    "size": staged.size,
                },
            ) from None
        # What the model reads is known only now, from the validated graph.
        prohibited = prohibited_input(report.as_dict(), dataset_rows, feature_rows)
        if prohibited is not None:
            raise Refusal(
                "prohibited_input",
                prohibited.message,
                event_type=AuditEventType.MODEL_VERSION_REFUSED,
                field=prohibited.field,
                metadata={
                    "reason": "prohibited_input",
                    "column": prohibited.column,
                    "dataset_version": prohibited.dataset_version.pk,
                    "feature": prohibited.feature,
                    "filename": display_name,
                    "sha256": staged.sha256,
                    "size": staged.size,
                },
            )
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
                    job=job,
                )
                # Last, so that every check has passed before the file takes its permanent place.
                artifacts.commit(staged)
        except BaseException as error:
            if not existed:
                _forget_unreferenced(staged.store.path_for(staged.sha256), staged.sha256)
            # Race: two attempts of one job both found no version above; the unique job column let one commit.
            registered = _version_of_job(model, job) if isinstance(error, IntegrityError) and job else None
            if registered is not None:
                return registered
            raise
    return version


def _version_of_job(model: RegisteredModel, job: Job) -> ModelVersion | None:
    version = ModelVersion.objects.select_related("model__team").filter(job=job).first()
    if version is None:
        return None
    if version.model_id != model.pk:
        raise ValidationError({"job": f"Job {job.public_id} registered a version of another model."})
    load_links([version])
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
    actor: User,
    staged: artifacts.StagedArtifact,
    display_name: str,
    interface: dict[str, Any],
    training_params: dict[str, Any],
    metrics: dict[str, Any],
    dataset_rows: list[DatasetVersion],
    feature_rows: list[FeatureSetVersion],
    author_rows: list[Any],
    description: str,
    job: Job | None = None,
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
        job=job,
    )
    # Every field was checked before the lock (version_check above, the report from the validator) or is derived
    # here: the model is the row just locked, the creator is the actor, the number is taken under the lock. The
    # unique number and the check constraints are the database's own, so asking them again first would only cost
    # a query each (five), not add a rule.
    version.full_clean(exclude=["model", "created_by"], validate_unique=False, validate_constraints=False)
    version.save()
    # A new row has no links yet: they are inserted as given (their order is kept: load_links reads them back in
    # it), without set()'s read of the current ones, one statement per kind of link.
    for relation, rows in (
        (ModelVersion.dataset_versions, dataset_rows),
        (ModelVersion.feature_set_versions, feature_rows),
        (ModelVersion.authors, author_rows),
    ):
        if rows:
            through: Any = relation.through
            target = relation.field.m2m_reverse_field_name()
            through.objects.bulk_create(through(**{"modelversion": version, target: row}) for row in rows)
    # What the answer shows, known without reading it back (registry.models.load_links reads the same for a list).
    version.links = {
        "dataset_versions": [row.pk for row in dataset_rows],
        "feature_set_versions": [row.pk for row in feature_rows],
        "authors": [user.get_username() for user in author_rows],
    }
    # A new version has no transitions yet: prefetched as the empty set (a none() queryset runs no query), so whoever
    # serialises the answer does not read back what cannot be there.
    prefetch_related_objects([version], Prefetch("transitions", queryset=ModelVersionTransition.objects.none()))
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
            **({"job": str(job.public_id)} if job is not None else {}),
        },
    )
    return version


# Approved and deployed say what a review board signed and what the gate let through: only the release path
# (governance, serving) sets them, through ``record_release_transition``. A status field anyone could set to
# "approved" is exactly the kind of approval Assay exists to replace.
RELEASE_PATH_STATUSES = frozenset({VersionStatus.APPROVED, VersionStatus.DEPLOYED})
RELEASE_PATH_MESSAGE = (
    "A version becomes approved when its review board's signatures meet the release policy, and deployed through "
    "the deployment gate: request a release (POST /api/v1/releases/) instead."
)


@transaction.atomic
def do_change_version_status(version: ModelVersion, *, actor: User, to_status: str, reason: str) -> ModelVersion:
    """Move a version along its lifecycle (registry.choices.VERSION_TRANSITIONS), recording who, when and why.

    Engineers and admins of the team send a version to review and back, deprecate and retire it; ``approved`` and
    ``deployed`` are refused here (RELEASE_PATH_STATUSES).
    """
    if to_status in RELEASE_PATH_STATUSES:
        raise ValidationError({"to_status": RELEASE_PATH_MESSAGE})
    require(actor, version.model.team, CHANGE)
    return _transition(version, actor=actor, to_status=to_status, reason=reason)


def record_release_transition(version: ModelVersion, *, actor: User, to_status: str, reason: str) -> ModelVersion:
    """The release path's entry: move ``version`` to ``to_status`` (walking through ``approved`` on the way to
    ``deployed`` when it is not there yet) inside the caller's transaction, as ``actor``.

    For governance and serving actions only, which have checked their own permission (a quorum of the board, the
    gate): the signer who completes a quorum may sit on an organisation board without any role in the model's team.
    Every step is still a transition row with its audit event, and the lifecycle's rules still hold.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_release_transition runs inside the release action's transaction.")
    locked = ModelVersion.objects.select_for_update(of=("self",)).get(pk=version.pk)
    steps: dict[str, dict[str, tuple[str, ...]]] = {
        VersionStatus.APPROVED: {
            VersionStatus.REGISTERED: (VersionStatus.IN_REVIEW, VersionStatus.APPROVED),
            VersionStatus.IN_REVIEW: (VersionStatus.APPROVED,),
        },
        VersionStatus.DEPLOYED: {
            VersionStatus.REGISTERED: (VersionStatus.IN_REVIEW, VersionStatus.APPROVED, VersionStatus.DEPLOYED),
            VersionStatus.IN_REVIEW: (VersionStatus.APPROVED, VersionStatus.DEPLOYED),
            VersionStatus.APPROVED: (VersionStatus.DEPLOYED,),
            VersionStatus.DEPRECATED: (VersionStatus.DEPLOYED,),
        },
    }
    for step in steps.get(to_status, {}).get(locked.status, ()):
        locked = _transition(locked, actor=actor, to_status=step, reason=reason)
    return locked


def _transition(version: ModelVersion, *, actor: User, to_status: str, reason: str) -> ModelVersion:
    team = version.model.team
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
    if to_status in RELEASE_PATH_STATUSES and use_case and use_case.risk_tier == RiskTier.PROHIBITED:
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
def do_record_artifact_corruption(version: ModelVersion, *, actor: User, detail: str) -> None:
    """Record that a stored artifact failed its digest check when read: evidence of tampering or bit rot."""
    record_event(
        AuditEventType.ARTIFACT_CORRUPTED,
        actor=actor,
        target=version,
        team=version.model.team,
        metadata={"sha256": version.artifact_sha256, "detail": detail},
    )
