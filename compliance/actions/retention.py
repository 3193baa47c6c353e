"""Retention policies, the purge of one record (by a policy or by a person), and the retention run.

A purge goes in three steps, under the holds lock (compliance.holds): in a first transaction the holds are checked
and a *pending* tombstone written (``retention.purge_started``); then the bytes are deleted; then, in a second
transaction, the tombstone is marked done (``retention.purged``). A purge that fails between the steps leaves a
pending tombstone, which says the bytes may be partly gone (pages and the artifact download treat it as purged), and
the next run resumes it. So no row ever points at missing bytes without a tombstone saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone

from compliance.actions.rules import require_officer
from compliance.choices import OnExpiry, PurgeState
from compliance.holds import check_not_held, describe_holds, holds_covering, holds_lock
from compliance.models import Purge, RetentionPolicy, RetentionPolicyVersion
from compliance.models.retention import MAX_KEEP_DAYS
from compliance.retention import Candidate, RetentionTarget, target_for, target_of_record, targets
from core.audit import record_event
from core.choices import AuditEventType, Role
from core.jobs import dispatch_job
from core.models import Job, Membership, Team
from core.refusals import Refusal, refusals_recorded
from registry.choices import Classification, VersionStatus
from registry.models import DatasetVersion, ModelVersion


def clock() -> datetime:
    """The time retention compares expiry dates with (tests move it forward rather than age the frozen rows)."""
    return timezone.now()


# --- Policies ---------------------------------------------------------------------------------------------------------


def _check_rules(target: RetentionTarget | None, *, keep_days: Any, counted_from: Any, on_expiry: Any) -> None:
    errors: dict[str, str] = {}
    if isinstance(keep_days, bool) or not isinstance(keep_days, int):
        errors["keep_days"] = "A whole number of days."
    elif keep_days < 1 or keep_days > MAX_KEEP_DAYS:
        errors["keep_days"] = f"Keep records between 1 and {MAX_KEEP_DAYS} days (a hundred years)."
    if target is not None and counted_from not in target.counted_from:
        errors["counted_from"] = f"{target.label} count from one of: {', '.join(target.counted_from)}."
    if target is not None and on_expiry not in target.on_expiry:
        errors["on_expiry"] = f"{target.label} support: {', '.join(target.on_expiry)}."
    if errors:
        raise ValidationError(errors)


def policy_rules(version: RetentionPolicyVersion) -> dict[str, Any]:
    return {
        "number": version.number,
        "keep_days": version.keep_days,
        "counted_from": version.counted_from,
        "on_expiry": version.on_expiry,
        "active": version.active,
    }


@transaction.atomic
def do_create_retention_policy(
    team: Team,
    *,
    actor: User,
    target_kind: str,
    classification: str,
    keep_days: int,
    counted_from: str,
    on_expiry: str = OnExpiry.DELETE,
    note: str = "",
) -> RetentionPolicy:
    """A policy for one kind of ``team``'s records of one classification, with its first version."""
    require_officer(actor, team)
    if target_kind not in targets():
        raise ValidationError({"target_kind": f"Must be one of {', '.join(sorted(targets()))}."})
    if classification not in Classification.values:
        raise ValidationError({"classification": f"Must be one of {', '.join(Classification.values)}."})
    target = target_for(target_kind)
    _check_rules(target, keep_days=keep_days, counted_from=counted_from, on_expiry=on_expiry)
    if RetentionPolicy.objects.filter(team=team, target_kind=target_kind, classification=classification).exists():
        raise ValidationError(
            {"target_kind": f"Team {team.slug} has a policy for {target_kind} of {classification}: change it."}
        )
    policy = RetentionPolicy.objects.create(
        team=team, target_kind=target_kind, classification=classification, created_by=actor
    )
    version = RetentionPolicyVersion(
        policy=policy,
        number=1,
        keep_days=keep_days,
        counted_from=counted_from,
        on_expiry=on_expiry,
        note=note,
        created_by=actor,
    )
    version.full_clean()
    version.save()
    record_event(
        AuditEventType.RETENTION_POLICY_CREATED,
        actor=actor,
        target=policy,
        team=team,
        after={"target_kind": target_kind, "classification": classification, **policy_rules(version)},
    )
    return policy


@transaction.atomic
def do_change_retention_policy(
    policy: RetentionPolicy,
    *,
    actor: User,
    note: str,
    keep_days: int | None = None,
    counted_from: str | None = None,
    on_expiry: str | None = None,
    active: bool | None = None,
) -> RetentionPolicyVersion:
    """A new version of ``policy`` (what is not given is kept); the number is taken under a lock on the policy."""
    require_officer(actor, policy.team)
    policy = RetentionPolicy.objects.select_for_update().select_related("team").get(pk=policy.pk)
    current = current_version(policy)
    if not note.strip():
        raise ValidationError({"note": "Say why the policy changes."})
    version = RetentionPolicyVersion(
        policy=policy,
        number=current.number + 1,
        keep_days=current.keep_days if keep_days is None else keep_days,
        counted_from=current.counted_from if counted_from is None else counted_from,
        on_expiry=current.on_expiry if on_expiry is None else on_expiry,
        active=current.active if active is None else active,
        note=note.strip(),
        created_by=actor,
    )
    target = targets().get(policy.target_kind)
    _check_rules(target, keep_days=version.keep_days, counted_from=version.counted_from, on_expiry=version.on_expiry)
    version.full_clean()
    version.save()
    record_event(
        AuditEventType.RETENTION_POLICY_CHANGED,
        actor=actor,
        target=policy,
        team=policy.team,
        before=policy_rules(current),
        after=policy_rules(version),
        metadata={"note": version.note},
    )
    return version


def current_version(policy: RetentionPolicy) -> RetentionPolicyVersion:
    return policy.versions.order_by("-number").first()  # type: ignore[return-value]  # every policy has one


def current_versions(team_ids: list[int] | None = None) -> dict[tuple[int, str, str], RetentionPolicyVersion]:
    """The current version of every policy (of ``team_ids``), by (team, kind, classification)."""
    versions = RetentionPolicyVersion.objects.select_related("policy", "policy__team").order_by("policy_id", "-number")
    if team_ids is not None:
        versions = versions.filter(policy__team_id__in=team_ids)
    found: dict[tuple[int, str, str], RetentionPolicyVersion] = {}
    for version in versions:
        key = (version.policy.team_id, version.policy.target_kind, version.policy.classification)
        found.setdefault(key, version)
    return found


# --- Purging one record -----------------------------------------------------------------------------------------------


def _tombstone_summary(purge: Purge) -> dict[str, Any]:
    return {
        "target": f"{purge.target_type}:{purge.target_id}",
        "what": purge.target_repr,
        "kind": purge.target_kind,
        "digest": purge.digest,
        "size": purge.size,
        "policy_version": purge.policy_version_id,
        "job": str(purge.job.public_id) if purge.job_id and purge.job else None,
        "reason": purge.reason,
    }


@transaction.atomic
def _start_purge(
    candidate: Candidate,
    *,
    actor: User | None,
    on_expiry: str,
    policy_version: RetentionPolicyVersion | None,
    job: Job | None,
    reason: str,
    subject: str | None,
) -> Purge:
    record = candidate.record
    # Lock the record's row: two purges of one record (a person and the job) take turns here.
    type(record)._default_manager.select_for_update().filter(pk=record.pk).first()
    existing = Purge.objects.filter(target_type=candidate.target_type, target_id=candidate.target_id).first()
    if existing is not None and existing.state == PurgeState.DONE:
        raise Refusal(
            "already_purged",
            f"{record} was already {existing.notice}.",
            event_type=AuditEventType.RETENTION_DELETION_REFUSED,
            status=409,
            metadata={"reason": "already_purged", "purge": existing.pk},
        )
    check_not_held(record, subject=subject)
    if existing is not None:
        return existing  # a pending purge, resumed: the bytes may already be partly gone
    team = Team.objects.get(pk=candidate.team_id)
    purge = Purge.objects.create(
        team=team,
        target_kind=candidate.kind,
        target_type=candidate.target_type,
        target_id=candidate.target_id,
        target_repr=str(record)[:255],
        classification=candidate.classification,
        on_expiry=on_expiry,
        digest=candidate.digest,
        size=candidate.size,
        policy_version=policy_version,
        job=job,
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "retention job",
        reason=reason,
    )
    record_event(
        AuditEventType.RETENTION_PURGE_STARTED, actor=actor, target=record, team=team, after=_tombstone_summary(purge)
    )
    return purge


@transaction.atomic
def _finish_purge(purge: Purge, *, actor: User | None, detail: dict[str, Any]) -> Purge:
    purge = (
        Purge.objects.select_for_update(of=("self",)).select_related("team", "job", "policy_version").get(pk=purge.pk)
    )
    if purge.state == PurgeState.DONE:
        return purge
    purge.state = PurgeState.DONE
    purge.detail = detail
    purge.completed_at = timezone.now()
    purge.save(update_fields=["state", "detail", "completed_at"])
    record_event(
        AuditEventType.RETENTION_PURGED,
        actor=actor,
        target_type=purge.target_type,
        target_id=purge.target_id,
        target_repr=purge.target_repr,
        team=purge.team,
        after={**_tombstone_summary(purge), "detail": detail, "completed_at": purge.completed_at.isoformat()},
    )
    return purge


def purge_record(
    candidate: Candidate,
    *,
    actor: User | None,
    on_expiry: str = OnExpiry.DELETE,
    policy_version: RetentionPolicyVersion | None = None,
    job: Job | None = None,
    reason: str = "",
    subject: str | None = None,
    before_erase: Callable[[Purge], None] | None = None,
) -> Purge:
    """Purge one record: pending tombstone, bytes, done (see the module docstring). Raises a 409 ``Refusal`` when a
    hold covers it (``under_legal_hold``) or it was purged already; the caller records the refusal. Call it outside
    any transaction. ``before_erase`` runs between the first transaction and the deletion (tests use it to place a
    hold or fail there)."""
    target = target_for(candidate.kind)
    with holds_lock():
        fresh = target.load(candidate.record.pk)
        if fresh is None:
            raise Refusal(
                "record_gone",
                f"{candidate.record} no longer exists.",
                event_type=AuditEventType.RETENTION_DELETION_REFUSED,
                status=404,
                metadata={"reason": "record_gone"},
            )
        purge = _start_purge(
            fresh,
            actor=actor,
            on_expiry=on_expiry,
            policy_version=policy_version,
            job=job,
            reason=reason,
            subject=subject,
        )
        if before_erase is not None:
            before_erase(purge)
        detail = target.erase(fresh, purge.on_expiry)
        return _finish_purge(purge, actor=actor, detail=detail)


# --- Manual deletion (owner, team admin, superuser) -------------------------------------------------------------------


def may_delete(actor: User, record: models.Model) -> bool:
    """The owner of the dataset or model, an admin of its team, or a superuser."""
    if not actor.is_authenticated or not actor.is_active:
        return False
    if actor.is_superuser:
        return True
    if isinstance(record, DatasetVersion):
        owner_id, team_id = record.dataset.owner_id, record.dataset.team_id
    elif isinstance(record, ModelVersion):
        owner_id, team_id = record.model.owner_id, record.model.team_id
    else:
        return False
    if owner_id == actor.pk and Membership.objects.filter(user=actor, team_id=team_id).exists():
        return True
    return Membership.objects.filter(user=actor, team_id=team_id, role=Role.ADMIN).exists()


def do_delete_record_bytes(record: DatasetVersion | ModelVersion, *, actor: User, reason: str) -> Purge:
    """A person deletes a dataset version's files or a retired model version's artifact, through the same purge as
    the retention job: refused (409, recorded) under a legal hold, for a version not retired, or twice."""
    if not may_delete(actor, record):
        raise PermissionDenied("Only the owner, a team admin or a superuser may delete these bytes.")
    if not reason.strip():
        raise ValidationError({"reason": "Say why the bytes are deleted."})
    team = record.dataset.team if isinstance(record, DatasetVersion) else record.model.team
    with refusals_recorded(actor=actor, target=record, team=team, context={"path": "manual"}):
        if isinstance(record, ModelVersion) and record.status != VersionStatus.RETIRED:
            raise Refusal(
                "not_retired",
                f"{record} is {record.get_status_display().lower()}: only a retired version's artifact is deleted.",
                event_type=AuditEventType.RETENTION_DELETION_REFUSED,
                status=409,
                metadata={"reason": "not_retired", "status": record.status},
            )
        target = target_of_record(record)
        candidate = target.load(record.pk)
        assert candidate is not None
        return purge_record(candidate, actor=actor, reason=reason.strip())


# --- The retention run ------------------------------------------------------------------------------------------------


@dataclass
class Due:
    candidate: Candidate
    policy: RetentionPolicyVersion
    expires_at: datetime


def expiry_of(candidate: Candidate, policy: RetentionPolicyVersion) -> datetime | None:
    start = candidate.dates.get(policy.counted_from)
    if start is None or not policy.active:
        return None
    return start + timedelta(days=policy.keep_days)


def scheduled(team_ids: list[int] | None, *, until: datetime) -> list[Due]:
    """Every live record whose policy expires it by ``until``, oldest expiry first."""
    policies = current_versions(team_ids)
    found: list[Due] = []
    for kind, target in targets().items():
        if not any(key[1] == kind for key in policies):
            continue
        for candidate in target.candidates(team_ids):
            policy = policies.get((candidate.team_id, kind, candidate.classification))
            if policy is None:
                continue
            expires = expiry_of(candidate, policy)
            if expires is not None and expires <= until:
                found.append(Due(candidate, policy, expires))
    found.sort(key=lambda due: due.expires_at)
    return found


def describe(due: Due, *, holds: str = "") -> dict[str, Any]:
    candidate = due.candidate
    return {
        "kind": candidate.kind,
        "target_type": candidate.target_type,
        "target_id": candidate.target_id,
        "record": str(candidate.record),
        "team_id": candidate.team_id,
        "classification": candidate.classification,
        "policy": str(due.policy),
        "policy_version": due.policy.pk,
        "expires_at": due.expires_at.isoformat(),
        "held_by": holds,
    }


def run_retention(
    *,
    job: Job | None,
    team_ids: list[int] | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Apply the policies: purge what expired (or, dry, list it), skip what a hold covers (and say which), resume
    the purges an earlier run left pending. Returns the report; ``failed`` lists what could not be deleted (the
    job fails naming them, and their pending tombstones are resumed by the next run). Call outside a transaction."""
    now = now or clock()
    report: dict[str, Any] = {"dry_run": dry_run, "at": now.isoformat(), "purged": [], "skipped": [], "failed": []}
    pending = Purge.objects.filter(state=PurgeState.PENDING).select_related("policy_version")
    if team_ids is not None:
        pending = pending.filter(team_id__in=team_ids)
    resumed: list[dict[str, Any]] = []
    for purge in list(pending):
        candidate = target_for(purge.target_kind).load(purge.target_id)
        entry = {"record": purge.target_repr, "target_type": purge.target_type, "target_id": purge.target_id}
        if candidate is None:
            continue
        if dry_run:
            resumed.append(entry)
            continue
        try:
            purge_record(candidate, actor=None, policy_version=purge.policy_version, job=job, reason=purge.reason)
            resumed.append(entry)
            log(f"resumed the pending purge of {purge.target_repr}")
        except Refusal as refusal:
            report["skipped"].append({**entry, "why": refusal.message, "code": refusal.reason})
        except OSError as error:
            report["failed"].append({**entry, "why": f"{type(error).__name__}: {error}"})
    report["resumed"] = resumed
    for due in scheduled(team_ids, until=now):
        holds = holds_covering(due.candidate.record)
        entry = describe(due, holds=describe_holds(holds))
        if holds:
            report["skipped"].append({**entry, "why": f"under legal hold: {entry['held_by']}", "code": "held"})
            log(f"kept {entry['record']}: under legal hold {entry['held_by']}")
            continue
        if dry_run:
            report["purged"].append(entry)
            continue
        try:
            purge_record(
                due.candidate,
                actor=None,
                on_expiry=due.policy.on_expiry,
                policy_version=due.policy,
                job=job,
                reason=f"expired under {due.policy} on {due.expires_at.date().isoformat()}",
            )
        except Refusal as refusal:
            # A hold placed since the listing above (re-checked under the holds lock), or a purge by a person.
            report["skipped"].append({**entry, "why": refusal.message, "code": refusal.reason})
            log(f"kept {entry['record']}: {refusal.message}")
            continue
        except OSError as error:
            report["failed"].append({**entry, "why": f"{type(error).__name__}: {error}"})
            log(f"could not purge {entry['record']}: {error}")
            continue
        report["purged"].append(entry)
        log(f"purged {entry['record']} under {due.policy}")
    return report


def expiring(team_ids: list[int] | None, *, within_days: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """What expires in the next ``within_days`` days (and what expired and waits for the next run)."""
    now = now or clock()
    rows = []
    for due in scheduled(team_ids, until=now + timedelta(days=within_days)):
        rows.append(describe(due, holds=describe_holds(holds_covering(due.candidate.record))))
    return rows


def do_request_retention_run(
    team: Team | None, *, actor: User, dry_run: bool, idempotency_key: str = ""
) -> tuple[Job, bool]:
    """Start the retention job for ``team`` (None: every team, superusers only), dry or real: ``(job, created)``."""
    if team is None:
        if not actor.is_superuser:
            raise PermissionDenied("Only platform administrators run retention for every team.")
    else:
        require_officer(actor, team)
    return dispatch_job(
        "compliance.retention",
        actor=actor,
        team=team,
        params={"dry_run": dry_run, "team_ids": [team.pk] if team is not None else None},
        idempotency_key=idempotency_key,
    )
