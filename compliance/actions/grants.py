"""Data access grants between teams (docs/grants.md): requesting one, each side's decision, revoking, withdrawing.

A team (an engineer or admin of it) asks to use another team's dataset for one of its use cases and a purpose,
until a bounded expiry. The owning team's admin (side ``owner``) and a compliance officer of the owning team or a
platform superuser (side ``compliance``) each decide; two different people, neither of them the requester. Both
approving makes the grant ``approved``; one refusal makes it ``refused``, final. Each decision moves the status
under a row lock on the grant, so two deciders racing are serialized and the second sees the first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from compliance.choices import GrantDecision, GrantSide, GrantStatus
from compliance.grants import may_end, may_judge, may_withdraw
from compliance.models import DataAccessGrant, DataAccessGrantDecision
from compliance.notifications import notify_awaiting, notify_decided
from core.audit import record_event
from core.choices import AuditEventType
from core.models import Team
from registry.actions.rules import require
from registry.models import Dataset, UseCase

MAX_TEXT_CHARS = 4000


def max_days() -> int:
    return int(getattr(settings, "DATA_GRANT_MAX_DAYS", 365))


def grant_summary(grant: DataAccessGrant) -> dict[str, Any]:
    """What the audit log keeps of a grant's terms (as text, so that it reads after a deletion)."""
    return {
        "dataset": grant.dataset.name,
        "dataset_id": grant.dataset_id,
        "owner_team": grant.owner_team.slug,
        "team": grant.team.slug,
        "use_case": grant.use_case.name,
        "purpose": grant.purpose,
        "expires_at": grant.expires_at.isoformat(),
        "status": grant.status,
    }


def _text(value: Any, field: str, *, required: bool) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
        raise ValidationError({field: f"Text of at most {MAX_TEXT_CHARS} characters."})
    cleaned = value.strip()
    if required and not cleaned:
        raise ValidationError({field: "Say what the data is for."})
    return cleaned


def _expiry(value: Any, now: datetime) -> datetime:
    if not isinstance(value, datetime) or timezone.is_naive(value):
        raise ValidationError({"expires_at": "A date and time with its time zone."})
    if value <= now:
        raise ValidationError({"expires_at": "Must be in the future."})
    longest = max_days()
    if value > now + timedelta(days=longest):
        raise ValidationError({"expires_at": f"At most {longest} days ahead (DATA_GRANT_MAX_DAYS)."})
    return value


@transaction.atomic
def do_request_grant(
    team: Team,
    *,
    actor: User,
    dataset: Dataset,
    use_case: UseCase,
    purpose: Any,
    expires_at: Any,
) -> DataAccessGrant:
    """Ask for ``team`` (the actor an engineer or admin of it) to use ``dataset`` (another team's, named from the
    catalogue, compliance.grants.catalogue) for ``use_case`` (one of ``team``'s) and ``purpose`` until
    ``expires_at`` (in the future, at most DATA_GRANT_MAX_DAYS ahead). One open request per (team, dataset)."""
    require(actor, team)
    now = timezone.now()
    if dataset.team_id == team.pk:
        raise ValidationError({"dataset": f"{dataset.name} is team {team.slug}'s own: it needs no grant."})
    if use_case.team_id != team.pk:
        # Read like a missing one: another team's use case is not this team's to name.
        raise ValidationError({"use_case": f'Invalid pk "{use_case.pk}" - object does not exist.'})
    cleaned_purpose = _text(purpose, "purpose", required=True)
    expiry = _expiry(expires_at, now)
    # Serialize two requests of one team for one dataset: the second sees the first.
    Team.objects.select_for_update().get(pk=team.pk)
    pending = DataAccessGrant.objects.filter(team=team, dataset=dataset, status=GrantStatus.REQUESTED).first()
    if pending is not None:
        raise ValidationError(
            {"dataset": f"Grant #{pending.pk} for {dataset.name} is still awaiting approval; withdraw it first."}
        )
    grant = DataAccessGrant(
        dataset=dataset,
        owner_team_id=dataset.team_id,
        team=team,
        use_case=use_case,
        purpose=cleaned_purpose,
        expires_at=expiry,
        requested_by=actor,
    )
    grant.full_clean()
    grant.save()
    grant = DataAccessGrant.objects.select_related("dataset", "owner_team", "team", "use_case").get(pk=grant.pk)
    record_event(AuditEventType.DATA_GRANT_REQUESTED, actor=actor, target=grant, team=team, after=grant_summary(grant))
    notify_awaiting(grant)
    return grant


@transaction.atomic
def do_decide_grant(
    grant: DataAccessGrant, *, actor: User, side: Any, decision: Any, comment: Any = ""
) -> DataAccessGrant:
    """Record ``actor``'s ``decision`` (approve or refuse) for ``side`` of an open ``grant``.

    PermissionDenied when the actor may not judge that side, requested the grant, or decided the other side
    already (two different people); ValidationError when the grant is no longer open or the side was decided."""
    if side not in GrantSide.values:
        raise ValidationError({"side": f"One of {', '.join(GrantSide.values)}."})
    if decision not in GrantDecision.values:
        raise ValidationError({"decision": f"One of {', '.join(GrantDecision.values)}."})
    note = _text(comment, "comment", required=decision == GrantDecision.REFUSE)
    # Race: both sides (or two admins of one side) deciding at once. The row lock orders them; the second reads the
    # first's decision and the status it left, and the unique (grant, side) constraint is the backstop.
    grant = (
        DataAccessGrant.objects.select_for_update(of=("self",))
        .select_related("dataset", "owner_team", "team", "use_case")
        .get(pk=grant.pk)
    )
    if not may_judge(actor, grant, side):
        who = "an admin" if side == GrantSide.OWNER else "a compliance officer"
        raise PermissionDenied(f"Only {who} of team {grant.owner_team.slug} decides the {side} side of this grant.")
    if actor.pk == grant.requested_by_id:
        raise PermissionDenied("You requested this grant: others decide it.")
    decided = {row.side: row for row in grant.decisions.all()}
    other = decided.get(GrantSide.COMPLIANCE if side == GrantSide.OWNER else GrantSide.OWNER)
    if other is not None and other.decided_by_id == actor.pk:
        raise PermissionDenied("You decided the other side of this grant: a second person decides this one.")
    if grant.status != GrantStatus.REQUESTED:
        state = grant.get_status_display().lower()
        raise ValidationError({"side": f"The grant is {state}: nothing is left to decide."})
    if side in decided:
        raise ValidationError({"side": f"The {side} side was already decided by {decided[side].decided_by}."})
    now = timezone.now()
    if decision == GrantDecision.APPROVE and grant.expires_at <= now:
        raise ValidationError({"decision": "The grant expired before it was approved: the team must request again."})
    DataAccessGrantDecision.objects.create(grant=grant, side=side, decision=decision, comment=note, decided_by=actor)
    before = grant.status
    if decision == GrantDecision.REFUSE:
        grant.status, grant.decided_at = GrantStatus.REFUSED, now
    elif len(decided) + 1 == len(GrantSide.values):
        grant.status, grant.decided_at = GrantStatus.APPROVED, now
    if grant.status != before:
        grant.save(update_fields=["status", "decided_at"])
    refused = decision == GrantDecision.REFUSE
    event = AuditEventType.DATA_GRANT_REFUSED if refused else AuditEventType.DATA_GRANT_APPROVED
    record_event(
        event,
        actor=actor,
        target=grant,
        team=grant.team,
        before={"status": before},
        after={"status": grant.status},
        metadata={"side": side, "decision": decision, "comment": note, "owner_team": grant.owner_team.slug},
    )
    notify_awaiting(grant)  # the other side, when this one approved
    notify_decided(grant, actor=actor, note=note)
    return grant


def _end(grant: DataAccessGrant, *, actor: User, to_status: str, reason: str, step: str) -> DataAccessGrant:
    before = grant.status
    grant.status, grant.decided_at = to_status, timezone.now()
    grant.save(update_fields=["status", "decided_at"])
    record_event(
        AuditEventType.DATA_GRANT_REVOKED,
        actor=actor,
        target=grant,
        team=grant.team,
        before={"status": before},
        after={"status": grant.status},
        metadata={"step": step, "reason": reason, "owner_team": grant.owner_team.slug},
    )
    notify_decided(grant, actor=actor, note=reason)
    return grant


def _locked(grant: DataAccessGrant) -> DataAccessGrant:
    # Race: a revocation and a decision (or a withdrawal) at once; the row lock orders them.
    locked: DataAccessGrant = (
        DataAccessGrant.objects.select_for_update(of=("self",))
        .select_related("dataset", "owner_team", "team", "use_case")
        .get(pk=grant.pk)
    )
    return locked


@transaction.atomic
def do_revoke_grant(grant: DataAccessGrant, *, actor: User, reason: Any) -> DataAccessGrant:
    """End an approved ``grant`` (an admin or compliance officer of the owning team): the requesting team may no
    longer use the dataset, and releases relying on it fail the gate (check ``data_access``)."""
    grant = _locked(grant)
    if not may_end(actor, grant):
        raise PermissionDenied(f"Only admins and compliance officers of team {grant.owner_team.slug} revoke grants.")
    why = _text(reason, "reason", required=True)
    if grant.status != GrantStatus.APPROVED:
        state = grant.get_status_display().lower()
        raise ValidationError({"reason": f"The grant is {state}: only an approved one is revoked."})
    return _end(grant, actor=actor, to_status=GrantStatus.REVOKED, reason=why, step="revoked")


@transaction.atomic
def do_withdraw_grant(grant: DataAccessGrant, *, actor: User, reason: Any = "") -> DataAccessGrant:
    """The requesting team gives up a grant (its requester or an admin), open or approved. Recorded as
    ``data_grant.revoked`` with ``step: withdrawn``: either way the grant no longer covers use."""
    grant = _locked(grant)
    if not may_withdraw(actor, grant):
        raise PermissionDenied(f"Only the requester or an admin of team {grant.team.slug} withdraws this grant.")
    why = _text(reason, "reason", required=False)
    if grant.status not in (GrantStatus.REQUESTED, GrantStatus.APPROVED):
        raise ValidationError({"reason": f"The grant is {grant.get_status_display().lower()}: it cannot be withdrawn."})
    return _end(grant, actor=actor, to_status=GrantStatus.WITHDRAWN, reason=why, step="withdrawn")
