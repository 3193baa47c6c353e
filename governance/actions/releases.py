"""Actions on release requests: requesting one (the manifest is built here, from the database), withdrawing one,
exporting its bundle, and the model version's status moves that go with them."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from assay_trust import bundle as trust_bundle
from audits.actions import do_request_audit, newest_dataset_version
from audits.models import AuditPlan
from audits.selection import audit_verdict
from core.audit import record_event
from core.choices import AuditEventType
from core.jobs import BrokerUnavailable
from core.models import Job
from core.querysets import CHANGE, VIEW
from governance import notifications
from governance.audit_policy import release_audit_key, release_requirements
from governance.choices import ReleaseStatus
from governance.grants import foreign_datasets
from governance.manifest import build_manifest, manifest_digest, subject_name
from governance.models import Environment, Release, SigningKey
from governance.policies import policy_in_force
from registry.access import records_access_refusals, require_usable
from registry.actions import do_change_version_status, record_release_transition
from registry.choices import RiskTier, VersionStatus
from registry.models import ModelVersion
from registry.querysets import teams_for

MAX_JUSTIFICATION_CHARS = 4000

logger = logging.getLogger(__name__)


@records_access_refusals
@transaction.atomic
def do_request_release(
    model_version: ModelVersion, *, actor: User, environment: Environment, justification: str = ""
) -> Release:
    """Ask to put ``model_version`` into ``environment`` (engineers and admins of the model's team).

    Needs a use case with a risk tier that is not prohibited, and a policy in force for (team, environment, tier).
    Builds the manifest from the database with a fresh server nonce; a registered version moves to ``in_review``.
    One open release per version and environment. Another team's dataset among its inputs needs a data access
    grant covering it now (AccessRefused otherwise, recorded).
    """
    team = model_version.model.team
    if not teams_for(actor, CHANGE).filter(pk=team.pk).exists():
        raise PermissionDenied(f"Only engineers and admins of team {team.slug} request releases of its models.")
    if not isinstance(justification, str) or len(justification) > MAX_JUSTIFICATION_CHARS:
        raise ValidationError({"justification": f"Text of at most {MAX_JUSTIFICATION_CHARS} characters."})
    # Lock the version: two requests at once would both find no open release and both open one.
    version = (
        ModelVersion.objects.select_for_update(of=("self",))
        .select_related("model__team", "model__use_case", "model__owner", "created_by")
        .get(pk=model_version.pk)
    )
    use_case = version.model.use_case
    if use_case is None:
        raise ValidationError(
            {"model_version": f"Model {version.model} has no use case: a release needs one, with its risk tier."}
        )
    if use_case.risk_tier == RiskTier.PROHIBITED:
        raise ValidationError({"model_version": f"Use case {use_case} is a prohibited practice: it is never released."})
    if version.status == VersionStatus.RETIRED:
        raise ValidationError({"model_version": f"{version} is retired."})
    for dataset in foreign_datasets(version):
        # A release of another team's data only while a data access grant covers it (registry.access).
        require_usable(dataset, team, field="model_version")
    policy_version = policy_in_force(team, environment, use_case.risk_tier)
    if policy_version is None:
        raise ValidationError(
            {
                "environment": f"No release policy is in force for team {team.slug}, environment {environment.slug} "
                f"and {use_case.risk_tier} risk: a compliance officer must create one first."
            }
        )
    open_release = Release.objects.filter(
        model_version=version, environment=environment, status=ReleaseStatus.OPEN
    ).first()
    if open_release is not None:
        raise ValidationError(
            {
                "model_version": f"Release {open_release.pk} of {version} to {environment.slug} is still open; "
                "withdraw it before requesting another."
            }
        )
    release = Release(
        model_version=version,
        environment=environment,
        policy_version=policy_version,
        requested_by=actor,
        requested_at=timezone.now(),
        nonce=secrets.token_hex(16),
        justification=justification.strip(),
    )
    release.manifest = build_manifest(release)
    release.manifest_digest = manifest_digest(release.manifest)
    release.full_clean()
    release.save()
    record_event(
        AuditEventType.RELEASE_REQUESTED,
        actor=actor,
        target=release,
        team=team,
        after={
            "uid": str(release.uid),
            "model_version": str(version),
            "environment": environment.slug,
            "policy": policy_version.policy.name,
            "policy_version": policy_version.number,
            "manifest_digest": release.manifest_digest,
            "justification": release.justification,
        },
    )
    if version.status == VersionStatus.REGISTERED:
        do_change_version_status(
            version,
            actor=actor,
            to_status=VersionStatus.IN_REVIEW,
            reason=f"Release {release.pk} to {environment.slug} requested.",
        )
    start_planned_audits(release, actor=actor)
    notifications.notify_awaiting(release)
    return release


def start_planned_audits(release: Release, *, actor: User) -> list[Job]:
    """Start the audits the release's policy requires that have no passing report yet and have a plan
    (audits.AuditPlan): each on the newest version of the plan's dataset, once per release and kind (the idempotency
    key is the release's). Runs inside the release request's transaction, after the release is written; the jobs
    are sent after commit.

    A job service that is down does not lose the release request: the pre-flight check refuses before the job is
    written, and the release is kept with that audit not started (governance.audit_policy.release_audits says so;
    the gate refuses deployment until the audit passes). A plan whose parameters no longer fit the newest data is
    not started either, for the same reason."""
    version = release.model_version
    now = timezone.now()
    started = []
    for requirement in release_requirements(release):
        if audit_verdict(version, now=now, requirements=[requirement])[0]:
            continue
        plan = (
            AuditPlan.objects.filter(model_id=version.model_id, kind=requirement.kind).select_related("dataset").first()
        )
        newest = newest_dataset_version(plan.dataset) if plan is not None else None
        if plan is None or newest is None:
            continue
        try:
            # A savepoint of its own (do_request_audit is atomic): a refusal leaves the release written.
            job, _ = do_request_audit(
                version,
                kind=requirement.kind,
                actor=actor,
                dataset_version=newest.pk,
                params=plan.params,
                idempotency_key=release_audit_key(release, requirement.kind),
            )
        except BrokerUnavailable as error:
            logger.warning("release %s: %s audit not started: %s", release.pk, requirement.kind, error)
            continue
        except ValidationError as error:
            logger.warning("release %s: %s audit plan refused: %s", release.pk, requirement.kind, error)
            continue
        started.append(job)
    return started


@transaction.atomic
def do_withdraw_release(release: Release, *, actor: User, reason: Any) -> Release:
    """Close an open release without deploying it (engineers and admins of the model's team). Its approvals stay on
    record. A version in review with no other open release goes back to ``registered``."""
    if not Release.objects.restrict(actor, CHANGE).filter(pk=release.pk).exists():
        raise PermissionDenied("Only engineers and admins of the model's team withdraw its releases.")
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError({"reason": "Say why the release is withdrawn."})
    # Lock the release: a withdrawal racing a deployment or a final approval must see the other's outcome.
    release = Release.objects.select_for_update().select_related("model_version__model__team").get(pk=release.pk)
    if release.status != ReleaseStatus.OPEN:
        raise ValidationError(
            {"status": f"Release {release.pk} is {release.status}; only an open release is withdrawn."}
        )
    release.status = ReleaseStatus.WITHDRAWN
    release.withdrawn_at = timezone.now()
    release.withdrawn_by = actor
    release.withdrawal_reason = reason.strip()
    release.full_clean()
    release.save(update_fields=["status", "withdrawn_at", "withdrawn_by", "withdrawal_reason"])
    version = release.model_version
    record_event(
        AuditEventType.RELEASE_WITHDRAWN,
        actor=actor,
        target=release,
        team=version.model.team,
        before={"status": ReleaseStatus.OPEN},
        after={"status": ReleaseStatus.WITHDRAWN, "reason": release.withdrawal_reason},
    )
    others_open = Release.objects.filter(model_version=version, status=ReleaseStatus.OPEN).exists()
    if version.status == VersionStatus.IN_REVIEW and not others_open:
        do_change_version_status(
            version,
            actor=actor,
            to_status=VersionStatus.REGISTERED,
            reason=f"Release {release.pk} withdrawn: {release.withdrawal_reason}",
        )
    return release


def move_version_on_quorum(release: Release, *, actor: User) -> None:
    """Move the release's version to ``approved`` once its signatures meet the policy: the quorum decides, not the
    person whose signature completed it (who may sit on an organisation board with no role in the model's team)."""
    reason = f"Release {release.pk}: its review board's signatures meet policy {release.policy_version}."
    record_release_transition(release.model_version, actor=actor, to_status=VersionStatus.APPROVED, reason=reason)


# --- Bundles ------------------------------------------------------------------------------------------------------


def _deployment_of(release: Release) -> dict[str, Any] | None:
    # serving is the layer above: read its rows by name, without importing it.
    deployments = getattr(release, "deployments", None)
    if deployments is None:
        return None
    latest = deployments.order_by("-id").first()
    if latest is None:
        return None
    return {
        "id": latest.pk,
        "environment": release.environment.slug,
        "deployed_at": latest.deployed_at,
        "deployed_by": latest.deployed_by.get_username(),
        "is_rollback": latest.is_rollback,
    }


@transaction.atomic
def do_export_bundle(release: Release, *, actor: User) -> dict[str, Any]:
    """The release bundle (assay_trust.bundle, format v1) for offline verification: the current manifest, the
    approvals that signed it, the public keys that verify them, the policy and the artifact digest."""
    if not Release.objects.restrict(actor, VIEW).filter(pk=release.pk).exists():
        raise PermissionDenied("You may not read this release.")
    release = Release.objects.select_related(
        "model_version__model__team", "environment", "policy_version__policy", "requested_by"
    ).get(pk=release.pk)
    manifest = build_manifest(release)
    digest = manifest_digest(manifest)
    version = release.model_version
    policy_version = release.policy_version
    approvals = list(
        release.approvals.filter(manifest_digest=digest).select_related("key", "signer").order_by("received_at", "id")
    )
    keys = SigningKey.objects.filter(pk__in={approval.key_id for approval in approvals}).select_related("owner")
    bundle = trust_bundle.build_bundle(
        exported_at=timezone.now(),
        release={
            "id": str(release.uid),
            "environment": release.environment.slug,
            "model": subject_name(release).rsplit("@v", 1)[0],
            "version": version.number,
            "requested_by": release.requested_by.get_username(),
        },
        manifest=manifest,
        artifact={"sha256": version.artifact_sha256, "size": version.artifact_size},
        policy={
            "name": policy_version.policy.name,
            "version": policy_version.number,
            "environment": release.environment.slug,
            "risk_tier": policy_version.policy.risk_tier,
            "requirements": {
                "roles": policy_version.required_roles,
                "min_total": policy_version.min_total,
                "approval_valid_days": policy_version.approval_valid_days,
                "checks": policy_version.required_checks,
            },
        },
        approvals=[
            {
                "envelope": approval.envelope,
                "received_at": approval.received_at,
                "signer": approval.signer_name,
                "board_role": approval.board_role,
                "key": approval.key.fingerprint,
            }
            for approval in approvals
        ],
        public_keys=[
            {
                "fingerprint": key.fingerprint,
                "owner": key.owner.get_username(),
                "public_key": key.public_key,
                "created_at": key.created_at,
                "revoked_at": key.revoked_at,
                "revocation_reason": key.revocation_reason or None,
            }
            for key in keys
        ],
        deployment=_deployment_of(release),
    )
    record_event(
        AuditEventType.RELEASE_BUNDLE_EXPORTED,
        actor=actor,
        target=release,
        team=version.model.team,
        metadata={"manifest_digest": digest, "approvals": len(approvals)},
    )
    return bundle
