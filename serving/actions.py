"""Deployments: the only way a model version reaches an environment is through the gate (governance.gate).

``do_deploy``, ``do_rollback`` and ``do_promote`` follow the rules of every action (core.actions), with one
difference in their transactions, on purpose: a refused deployment must leave its record behind. The deployment
itself is made in a transaction that is rolled back when the gate refuses; the gate's evaluation, the
``gate.failed`` event (and an ``artifact.corrupted`` event when the bytes no longer match) are then written in a
transaction of their own, and ``GateRefused`` carries the stored evaluation to the caller. Call them outside any
transaction of your own: inside one, your rollback would take that record with it.

``do_end_trial`` and ``do_retire`` stop serving something: they need no gate and are ordinary atomic actions. Every
action here changes the model's ``Route`` (and its ``revision``) in its own transaction, under the model row's lock.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.audit import record_event
from core.choices import AuditEventType
from core.idempotency import clean_idempotency_key
from core.models import ApiToken, Team
from core.querysets import CHANGE
from governance import notifications as governance_notifications
from governance.choices import EvaluationPurpose, ReleaseStatus
from governance.evaluation import release_state
from governance.gate import GateRun, probe_artifact, record_gate, run_gate
from governance.models import Environment, GateEvaluation, Release
from registry.actions import do_change_version_status, record_release_transition
from registry.choices import VersionStatus
from registry.models import ModelVersion, RegisteredModel
from serving import notifications
from serving.choices import DeploymentRole
from serving.models import Deployment, InferenceScope, Route


# The steps a model version takes to "deployed", from each status it may be in when its release passes the gate.
class GateRefused(Exception):
    """The gate refused a deployment. ``evaluation`` is stored; ``failed`` lists the checks that did not pass."""

    def __init__(self, evaluation: GateEvaluation) -> None:
        self.evaluation = evaluation
        self.failed = [check for check in evaluation.checks if not check["passed"]]
        names = ", ".join(check["name"] for check in self.failed)
        super().__init__(f"The deployment gate refused release {evaluation.release_id}: {names} failed.")


class IdempotencyConflict(Exception):
    """The idempotency key was already used for a deployment of another release to this environment."""

    def __init__(self, key: str, deployment: Deployment | None) -> None:
        self.key = key
        self.deployment = deployment
        other = f" (deployment {deployment.pk}, release {deployment.release_id})" if deployment else ""
        super().__init__(f"The idempotency key {key!r} was already used for another deployment{other}.")


class _Refused(Exception):
    """Raised inside the deploy transaction to roll it back; carries the unsaved gate run out of it."""

    def __init__(self, run: GateRun) -> None:
        self.run = run


def _require_deployer(actor: User, release: Release) -> None:
    if not Release.objects.restrict(actor, CHANGE).filter(pk=release.pk).exists():
        raise PermissionDenied("Only engineers and admins of the model's team deploy its releases.")


def _replayed(release: Release, key: str) -> Deployment | None:
    """The deployment an earlier request with this key made, if it was of this release; a conflict if not."""
    if not key:
        return None
    earlier = Deployment.objects.filter(environment_id=release.environment_id, idempotency_key=key).first()
    if earlier is None:
        return None
    if earlier.release_id != release.pk:
        raise IdempotencyConflict(key, earlier)
    return earlier


def _mark_version_deployed(version: ModelVersion, *, actor: User, release: Release) -> None:
    """Walk the version to ``deployed`` (through ``approved``, which the gate's quorum check just confirmed)."""
    reason = f"Deployed to {release.environment.slug} through release {release.pk}, which passed the gate."
    record_release_transition(version, actor=actor, to_status=VersionStatus.DEPLOYED, reason=reason)


def _clean_traffic(role: str, traffic_percent: int | None) -> int:
    if role == DeploymentRole.PRIMARY:
        if traffic_percent not in (None, 100):
            raise ValidationError({"traffic_percent": "A primary deployment takes the traffic no canary takes."})
        return 100
    if role == DeploymentRole.SHADOW:
        if traffic_percent not in (None, 0):
            raise ValidationError({"traffic_percent": "A shadow is never returned: it takes no share of traffic."})
        return 0
    if role == DeploymentRole.CANARY:
        if traffic_percent is None or isinstance(traffic_percent, bool) or not 1 <= traffic_percent <= 50:
            raise ValidationError({"traffic_percent": "A canary takes between 1 and 50 percent of the traffic."})
        return traffic_percent
    raise ValidationError({"role": f"Unknown role {role!r}: primary, canary or shadow."})


def _route_before(release: Release, model: RegisteredModel, role: str) -> Route | None:
    """The model's route in the release's environment (locked by the model row the caller holds), checked for a
    canary or shadow: those run beside a primary, of another version than the ones serving."""
    route = Route.objects.filter(model_id=model.pk, environment_id=release.environment_id).first()
    if role == DeploymentRole.PRIMARY:
        return route
    if route is None or route.primary_id is None:
        raise ValidationError({"role": f"A {role} runs beside a primary: {model.name} serves nothing here yet."})
    serving = Deployment.objects.filter(pk__in=[route.primary_id, route.canary_id, route.shadow_id])
    if serving.filter(model_version_id=release.model_version_id).exists():
        raise ValidationError(
            {"role": f"Version {release.model_version.number} already serves here; a {role} is another version."}
        )
    return route


def _write_route(route: Route | None, deployment: Deployment, *, actor: User) -> Route:
    """Point the route at ``deployment`` in its role; a new primary ends a canary or shadow of its own version (a
    promotion). The revision moves on every change, which is how the inference service sees it."""
    now = deployment.deployed_at
    if route is None:
        route = Route(environment_id=deployment.environment_id, model_id=deployment.model_id, revision=0)
    if deployment.role == DeploymentRole.PRIMARY:
        route.primary = deployment
        version_id = deployment.model_version_id
        if route.canary_id and Deployment.objects.filter(pk=route.canary_id, model_version_id=version_id).exists():
            route.canary = None
        if route.shadow_id and Deployment.objects.filter(pk=route.shadow_id, model_version_id=version_id).exists():
            route.shadow = None
    elif deployment.role == DeploymentRole.CANARY:
        route.canary = deployment
    else:
        route.shadow = deployment
    return _save_route(route, actor=actor, at=now)


def _save_route(route: Route, *, actor: User, at: Any = None) -> Route:
    """Save a changed route: the revision moves on every change, which is how the inference service sees it."""
    route.revision += 1
    route.changed_at = at or timezone.now()
    route.changed_by = actor
    route.save()
    return route


def _trial_of(route: Route | None, release: Release, model: RegisteredModel) -> Deployment:
    """The canary or shadow of ``release`` on the route: the deployment a promotion takes over from."""
    trials = [route.canary_id, route.shadow_id] if route is not None else []
    trial = Deployment.objects.filter(pk__in=[pk for pk in trials if pk], release_id=release.pk).first()
    if trial is None:
        raise ValidationError(
            {"role": f"Release {release.pk} no longer runs as a canary or shadow of {model.name}: nothing to promote."}
        )
    return trial


def _deploy(
    release: Release,
    *,
    actor: User,
    key: str,
    redeploy: bool,
    artifact: Any,
    role: str = DeploymentRole.PRIMARY,
    traffic_percent: int | None = None,
    promoting: bool = False,
) -> Deployment:
    # The race: two deploy requests of one release (a retried click, two CI jobs) both pass the gate and both create
    # a deployment. Locking the release row makes the second wait for the first to commit, then read the release as
    # deployed (and its idempotency key as used). Locking the model row serializes deployments of *different*
    # releases of one model to one environment, so that each takes over from the one before it (``replaces``) and
    # history never forks. Locks are taken release first, then model, everywhere.
    release = Release.objects.select_for_update(of=("self",)).get(pk=release.pk)
    model = RegisteredModel.objects.select_for_update(of=("self",)).get(pk=release.model_version.model_id)
    earlier = _replayed(release, key)
    if earlier is not None:
        return earlier
    traffic = _clean_traffic(role, traffic_percent)
    route = _route_before(release, model, role)
    # A promotion is of the trial running now: one ended (or replaced) while this request waited for the locks is
    # not promoted behind its back.
    trial = _trial_of(route, release, model) if promoting else None
    # What this deployment takes over from: the primary for a primary, the canary or shadow for those.
    previous_id = getattr(route, f"{role}_id", None) if route is not None else None
    if route is None and role == DeploymentRole.PRIMARY:
        # Deployed before routes existed: the newest deployment is the primary.
        newest = Deployment.objects.filter(model_id=model.pk, environment_id=release.environment_id)
        previous_id = newest.order_by("-deployed_at", "-id").values_list("pk", flat=True).first()
    previous = Deployment.objects.filter(pk=previous_id).first() if previous_id else None
    if redeploy and previous is not None and previous.release_id == release.pk:
        raise ValidationError({"release": f"Release {release.pk} is the one serving in this environment now."})
    run = run_gate(release, actor=actor, purpose=EvaluationPurpose.DEPLOY, redeploy=redeploy, artifact=artifact)
    if not run.passed:
        raise _Refused(run)
    evaluation = record_gate(run, actor=actor)
    release = run.release  # with its model version, environment and policy loaded
    deployment = Deployment(
        environment_id=release.environment_id,
        release=release,
        gate_evaluation=evaluation,
        model=model,
        model_version=release.model_version,
        replaces=previous,
        is_rollback=redeploy and not promoting,
        role=role,
        traffic_percent=traffic,
        deployed_by=actor,
        deployed_at=timezone.now(),
        idempotency_key=key,
    )
    deployment.full_clean(exclude=["idempotency_key"] if key else None)
    try:
        with transaction.atomic():
            deployment.save()
    except IntegrityError:
        # Another release took this key in this environment between our check and our insert (its transaction
        # committed while we held other locks): the unique constraint caught it.
        raise IdempotencyConflict(key, None) from None
    if release.status != ReleaseStatus.DEPLOYED:
        release.status = ReleaseStatus.DEPLOYED
        release.save(update_fields=["status"])
    _mark_version_deployed(release.model_version, actor=actor, release=release)
    route = _write_route(route, deployment, actor=actor)
    record_event(
        AuditEventType.DEPLOYMENT_CREATED,
        actor=actor,
        target=deployment,
        team=model.team,
        after={
            "release": str(release.uid),
            "release_id": release.pk,
            "environment": release.environment.slug,
            "model": model.name,
            "model_version": release.model_version.number,
            "artifact_sha256": release.model_version.artifact_sha256,
            "manifest_digest": evaluation.manifest_digest,
            "gate_evaluation": evaluation.pk,
            "replaces": previous.pk if previous else None,
            "is_rollback": deployment.is_rollback,
            "promotes": trial.pk if trial else None,
            "role": role,
            "traffic_percent": traffic,
            "route_revision": route.revision,
            "idempotency_key": key,
        },
    )
    notifications.notify_deployed(deployment)
    return deployment


def _deploy_through_gate(
    release: Release,
    *,
    actor: User,
    key: str,
    redeploy: bool,
    role: str = DeploymentRole.PRIMARY,
    traffic_percent: int | None = None,
    promoting: bool = False,
) -> Deployment:
    # The artifact is re-hashed (governance.gate.probe_artifact, the gate's artifact_integrity check) before any
    # lock is taken: reading hundreds of megabytes while holding the release row (or, on SQLite, the database's
    # write lock) would stall every other writer. Bytes changed between this read and the commit are not caught by
    # this deploy. What does catch them today: stored files are read-only (0444) under a name derived from their
    # digest; every later deploy, rollback and API gate preview re-hashes them again (the release page's preview
    # only checks presence and size); and every download through the artifact store
    # (registry.artifacts.open_verified) checks the digest of what it hands out. Nothing loads a model for serving
    # yet: when inference comes, it must re-hash the bytes it loads.
    version = release.model_version
    artifact = probe_artifact(version.artifact_sha256, version.artifact_size)
    try:
        with transaction.atomic():
            return _deploy(
                release,
                actor=actor,
                key=key,
                redeploy=redeploy,
                artifact=artifact,
                role=role,
                traffic_percent=traffic_percent,
                promoting=promoting,
            )
    except _Refused as refused:
        with transaction.atomic():
            # The release row first, as every writer of a release does, and only then the audit chain's lock: the
            # evaluation's foreign key to the release is checked at COMMIT (PostgreSQL's deferred constraints) with a
            # share lock on that row, which would otherwise wait on a deploy or approval that holds the row and
            # waits in turn for the chain lock we hold.
            Release.objects.select_for_update(of=("self",)).values_list("pk", flat=True).get(pk=release.pk)
            evaluation = record_gate(refused.run, actor=actor)
            record_event(
                AuditEventType.GATE_FAILED,
                actor=actor,
                target=refused.run.release,
                team=refused.run.release.model_version.model.team,
                metadata={
                    "release": str(refused.run.release.uid),
                    "environment": refused.run.release.environment.slug,
                    "gate_evaluation": evaluation.pk,
                    "is_rollback": redeploy,
                    "failed": [{"name": check["name"], "reason": check["reason"]} for check in refused.run.failed],
                },
            )
            if any(check["name"] == "manifest_current" for check in refused.run.failed):
                # The gate found the manifest changed since it was signed: the signers and the board hear of it.
                governance_notifications.notify_stale(
                    refused.run.release,
                    release_state(refused.run.release, current_digest=refused.run.manifest_digest),
                )
        raise GateRefused(evaluation) from None


def do_deploy(
    release: Release,
    *,
    actor: User,
    idempotency_key: str = "",
    role: str = DeploymentRole.PRIMARY,
    traffic_percent: int | None = None,
) -> Deployment:
    """Deploy ``release`` to its environment if the gate passes; raise ``GateRefused`` (with the stored evaluation)
    if not. The same ``idempotency_key`` again returns the deployment it made; used for another release of the same
    environment it raises ``IdempotencyConflict``. ``role`` canary (with ``traffic_percent``, 1 to 50) or shadow
    runs the release beside the primary serving now; the model's ``Route`` says what serves."""
    _require_deployer(actor, release)
    key = clean_idempotency_key(idempotency_key)
    return _deploy_through_gate(
        release, actor=actor, key=key, redeploy=False, role=role, traffic_percent=traffic_percent
    )


def do_rollback(
    model: RegisteredModel,
    environment: Environment,
    *,
    actor: User,
    to_release: Release | None = None,
    idempotency_key: str = "",
) -> Deployment:
    """Put an earlier release of ``model`` back into ``environment`` as its primary. The release must have been
    deployed there before and must not be the one serving now; it goes through the gate again, so its approvals must
    still count (unexpired, not stale, keys unrevoked). The new deployment is marked ``is_rollback``.

    Without ``to_release``: the previous primary's release (``previous_primary``), which makes rollback one command.
    """
    _require_model_deployer(actor, model)
    key = clean_idempotency_key(idempotency_key)
    if to_release is None:
        to_release = previous_primary(model, environment)
    _require_deployer(actor, to_release)
    release = Release.objects.select_related("model_version", "environment").get(pk=to_release.pk)
    if release.model_version.model_id != model.pk:
        raise ValidationError({"release": f"Release {release.pk} is not a release of model {model.name}."})
    if release.environment_id != environment.pk:
        raise ValidationError(
            {"release": f"Release {release.pk} is for {release.environment.slug}, not {environment.slug}."}
        )
    if not Deployment.objects.filter(release_id=release.pk).exists():
        raise ValidationError({"release": f"Release {release.pk} was never deployed: there is nothing to return to."})
    return _deploy_through_gate(release, actor=actor, key=key, redeploy=True)


def previous_primary(model: RegisteredModel, environment: Environment) -> Release:
    """The release a one-command rollback returns to: the primary that the one serving now took over from
    (``replaces``, skipping any canary or shadow on the way); for a retired model, the primary that served last."""
    route = Route.objects.filter(model_id=model.pk, environment_id=environment.pk).select_related("primary").first()
    if route is not None and route.primary is not None:
        earlier = route.primary.replaces
        while earlier is not None and earlier.role != DeploymentRole.PRIMARY:
            earlier = earlier.replaces
    else:
        earlier = Deployment.objects.filter(
            model_id=model.pk, environment_id=environment.pk, role=DeploymentRole.PRIMARY
        ).first()
    if earlier is None:
        raise ValidationError(
            {"release": f"{model.name} has no earlier primary in {environment.slug} to return to; name a release."}
        )
    release: Release = earlier.release
    return release


def _require_model_deployer(actor: User, model: RegisteredModel) -> None:
    if not RegisteredModel.objects.restrict(actor, CHANGE).filter(pk=model.pk).exists():
        raise PermissionDenied("Only engineers and admins of the model's team deploy, promote and retire it.")


def _locked_route(model: RegisteredModel, environment: Environment) -> tuple[RegisteredModel, Route | None]:
    """The model row locked (the lock ``_deploy`` takes second, after a release's: nothing here takes a release's
    lock after it), then the model's route in ``environment``."""
    model = RegisteredModel.objects.select_for_update(of=("self",)).select_related("team").get(pk=model.pk)
    route = Route.objects.filter(model_id=model.pk, environment_id=environment.pk).first()
    return model, route


def do_promote(
    model: RegisteredModel,
    environment: Environment,
    *,
    actor: User,
    role: str = "",
    idempotency_key: str = "",
) -> Deployment:
    """Make the release of the canary (or the shadow) running beside the primary the new primary, through the gate
    again (its approvals must still count: a stale or revoked one refuses the promotion and the route stays as it
    was). The trial of that version ends with it (``_write_route``). ``role`` picks the canary or the shadow when
    both run; alone, the one running is promoted."""
    _require_model_deployer(actor, model)
    key = clean_idempotency_key(idempotency_key)
    if role not in ("", DeploymentRole.CANARY, DeploymentRole.SHADOW):
        raise ValidationError({"role": f"Promote a canary or a shadow, not {str(role)!r}."})
    route = Route.objects.filter(model_id=model.pk, environment_id=environment.pk).first()
    running = {
        name: pk
        for name, pk in (
            (DeploymentRole.CANARY, route.canary_id if route else None),
            (DeploymentRole.SHADOW, route.shadow_id if route else None),
        )
        if pk and (not role or name == role)
    }
    if not running:
        what = f"no {role}" if role else "no canary or shadow"
        raise ValidationError({"role": f"{model.name} has {what} in {environment.slug}: nothing to promote."})
    if len(running) > 1:
        raise ValidationError({"role": "Both a canary and a shadow run here: say which to promote."})
    trial = Deployment.objects.select_related("release").get(pk=next(iter(running.values())))
    _require_deployer(actor, trial.release)
    return _deploy_through_gate(trial.release, actor=actor, key=key, redeploy=True, promoting=True)


@transaction.atomic
def do_end_trial(model: RegisteredModel, environment: Environment, *, actor: User, role: str) -> Route:
    """Stop the canary or the shadow of ``model`` in ``environment``: the primary takes all the traffic again. No
    gate: stopping serving something needs no approval. Recorded as ``deployment.trial_ended``."""
    if role not in (DeploymentRole.CANARY, DeploymentRole.SHADOW):
        raise ValidationError({"role": f"End a canary or a shadow, not {str(role)!r}."})
    _require_model_deployer(actor, model)
    model, route = _locked_route(model, environment)
    trial_id = getattr(route, f"{role}_id", None) if route is not None else None
    if route is None or trial_id is None:
        raise ValidationError({"role": f"{model.name} has no {role} in {environment.slug}."})
    trial = Deployment.objects.select_related("model_version").get(pk=trial_id)
    setattr(route, role, None)
    route = _save_route(route, actor=actor)
    record_event(
        AuditEventType.DEPLOYMENT_TRIAL_ENDED,
        actor=actor,
        target=trial,
        team=model.team,
        before={"role": role, "deployment": trial.pk, "traffic_percent": trial.traffic_percent},
        after={
            "environment": environment.slug,
            "model": model.name,
            "model_version": trial.model_version.number,
            "route_revision": route.revision,
        },
    )
    return route


@transaction.atomic
def do_retire(model: RegisteredModel, environment: Environment, *, actor: User, reason: str) -> Route:
    """Stop serving ``model`` in ``environment``: the primary, canary and shadow are cleared (the route stays, with
    no primary, so the inference service drops it). Recorded as ``deployment.retired`` with the reason.

    A version that serves nowhere any more becomes ``deprecated`` (not ``retired``): a retired version can never
    pass the gate again, whereas a retirement from one environment is undone by a rollback, which needs the version
    deployable. Retiring the version for good stays the registry's own status change.
    """
    _require_model_deployer(actor, model)
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError({"reason": "Say why the model stops being served here."})
    model, route = _locked_route(model, environment)
    if route is None or route.primary_id is None:
        raise ValidationError({"environment": f"{model.name} is not served in {environment.slug}: nothing to retire."})
    ended = {
        role: pk
        for role, pk in (
            (DeploymentRole.PRIMARY, route.primary_id),
            (DeploymentRole.CANARY, route.canary_id),
            (DeploymentRole.SHADOW, route.shadow_id),
        )
        if pk
    }
    primary = Deployment.objects.get(pk=route.primary_id)
    route.primary = route.canary = route.shadow = None
    route = _save_route(route, actor=actor)
    record_event(
        AuditEventType.DEPLOYMENT_RETIRED,
        actor=actor,
        target=primary,
        team=model.team,
        before={str(role): pk for role, pk in ended.items()},
        after={
            "environment": environment.slug,
            "model": model.name,
            "reason": reason.strip(),
            "route_revision": route.revision,
        },
    )
    _deprecate_idle_versions(list(ended.values()), actor=actor, environment=environment)
    return route


def _deprecate_idle_versions(deployment_ids: list[int], *, actor: User, environment: Environment) -> None:
    version_ids = set(Deployment.objects.filter(pk__in=deployment_ids).values_list("model_version_id", flat=True))
    still = Deployment.objects.filter(model_version_id__in=version_ids).filter(
        Q(pk__in=Route.objects.exclude(primary=None).values("primary_id"))
        | Q(pk__in=Route.objects.exclude(canary=None).values("canary_id"))
        | Q(pk__in=Route.objects.exclude(shadow=None).values("shadow_id"))
    )
    idle = version_ids - set(still.values_list("model_version_id", flat=True))
    for version in ModelVersion.objects.filter(pk__in=idle, status=VersionStatus.DEPLOYED).order_by("pk"):
        do_change_version_status(
            version,
            actor=actor,
            to_status=VersionStatus.DEPRECATED,
            reason=f"Retired from {environment.slug}; it serves in no environment now.",
        )


# --- Inference scopes ---------------------------------------------------------------------------------------------


def _scope_state(scope: InferenceScope | None) -> dict[str, Any] | None:
    if scope is None:
        return None
    return {
        "environments": sorted(scope.environments.values_list("slug", flat=True)),
        "models": sorted(scope.registered_models.values_list("name", flat=True)),
        "requests_per_second": scope.requests_per_second,
        "burst": scope.burst,
    }


@transaction.atomic
def do_set_inference_scope(
    token: ApiToken,
    *,
    actor: User,
    environments: list[Environment],
    models: list[RegisteredModel],
    requests_per_second: int = 100,
    burst: int = 200,
) -> InferenceScope:
    """Say what the service-account ``token`` may score against in the inference service: ``environments`` (at
    least one) and ``models`` (none: every model of the account's team), at most ``requests_per_second`` with
    bursts of ``burst``. Only admins of the account's team set it; setting it again replaces the scope."""
    token = (
        ApiToken.objects.select_related("user__service_account__team").select_for_update(of=("self",)).get(pk=token.pk)
    )
    account = getattr(token.user, "service_account", None)
    if account is None:
        raise ValidationError({"token": "Only a service account's token scores in the inference service."})
    if not Team.objects.restrict(actor, CHANGE).filter(pk=account.team_id).exists():
        raise PermissionDenied(f"Only admins of team {account.team.slug} set the scope of its service accounts.")
    if not token.is_active:
        raise ValidationError({"token": f"Token {token.key_id} is {token.state}: it scores nothing."})
    if not environments:
        raise ValidationError({"environments": "Name at least one environment the token may score in."})
    foreign = [model.name for model in models if model.team_id != account.team_id]
    if foreign:
        raise ValidationError({"models": f"Not models of team {account.team.slug}: {', '.join(sorted(foreign))}."})
    for field, value in (("requests_per_second", requests_per_second), ("burst", burst)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError({field: "A whole number of at least 1."})
    if burst < requests_per_second:
        raise ValidationError({"burst": f"At least requests_per_second ({requests_per_second})."})
    before = InferenceScope.objects.filter(token_id=token.pk).first()
    before_state = _scope_state(before)
    if before is not None:
        before.delete()
    scope = InferenceScope(
        token=token,
        requests_per_second=requests_per_second,
        burst=burst,
        created_at=timezone.now(),
        created_by=actor,
    )
    scope.full_clean(exclude=["token"])
    scope.save()
    scope.environments.set(environments)
    scope.registered_models.set(models)
    record_event(
        AuditEventType.INFERENCE_SCOPE_SET,
        actor=actor,
        target=token,
        team=account.team,
        before=before_state,
        after=_scope_state(scope),
    )
    return scope


# --- What the inference service reports (no user acts: the service does) ------------------------------------------


@transaction.atomic
def do_record_load_refused(deployment: Deployment, *, expected_sha256: str, found: str, reason: str) -> None:
    """The inference service refused to load ``deployment``'s artifact: its bytes are not the approved ones (or
    are gone). It keeps serving what it served before; this event and an alert say so."""
    record_event(
        AuditEventType.SERVING_LOAD_REFUSED,
        actor=None,
        target=deployment,
        team=deployment.model.team,
        metadata={
            "environment": deployment.environment.slug,
            "model": deployment.model.name,
            "model_version": deployment.model_version.number,
            "role": deployment.role,
            "expected_sha256": expected_sha256,
            "found": found,
            "reason": reason,
        },
    )


@transaction.atomic
def do_record_logs_dropped(count: int, *, since: Any, process: str) -> None:
    """``count`` prediction logs did not fit the inference process's buffer since ``since`` and were dropped."""
    record_event(
        AuditEventType.PREDICTION_LOGS_DROPPED,
        actor=None,
        target_type="serving.inferenceprocess",
        target_id=process,
        target_repr=f"inference process {process}",
        metadata={"dropped": count, "since": since, "process": process},
    )
