"""Placing a legal hold and releasing it (two different compliance officers: one asks, another confirms)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from compliance.actions.rules import require_officer
from compliance.choices import HoldScope, HoldStatus
from compliance.holds import holds_lock
from compliance.models import LegalHold, LegalHoldEvent
from core.audit import record_event
from core.choices import AuditEventType
from core.models import Team
from core.refusals import Refusal, refusals_recorded
from registry.models import Dataset, RegisteredModel, UseCase

SCOPE_FIELDS = {HoldScope.DATASET: "dataset", HoldScope.MODEL: "model", HoldScope.USE_CASE: "use_case"}


def hold_summary(hold: LegalHold) -> dict[str, Any]:
    return {
        "scope": hold.scope,
        "covers": hold.scope_label,
        "case_reference": hold.case_reference,
        "reason": hold.reason,
        "status": hold.status,
    }


def _record_step(hold: LegalHold, *, actor: User, action: str, before: str, note: str) -> None:
    LegalHoldEvent.objects.create(
        hold=hold,
        action=action,
        from_status=before,
        to_status=hold.status,
        note=note,
        actor=actor,
        actor_name=actor.get_username(),
    )


def do_place_hold(
    team: Team,
    *,
    actor: User,
    scope: str,
    case_reference: str,
    reason: str,
    dataset: Dataset | None = None,
    model: RegisteredModel | None = None,
    use_case: UseCase | None = None,
    subject_identifier: str = "",
) -> LegalHold:
    """Place a hold on ``scope`` of ``team``'s records. It takes the holds lock (compliance.holds) around its
    transaction, so that a purge under way finishes the record it is on and every later one sees the hold."""
    require_officer(actor, team)
    with holds_lock():
        return _place_hold(
            team,
            actor=actor,
            scope=scope,
            case_reference=case_reference,
            reason=reason,
            dataset=dataset,
            model=model,
            use_case=use_case,
            subject_identifier=subject_identifier,
        )


@transaction.atomic
def _place_hold(team: Team, *, actor: User, scope: str, **fields: Any) -> LegalHold:
    if scope not in HoldScope.values:
        raise ValidationError({"scope": f"Must be one of {', '.join(HoldScope.values)}."})
    wanted = SCOPE_FIELDS.get(HoldScope(scope))
    for name in SCOPE_FIELDS.values():
        value = fields.get(name)
        if name == wanted and value is None:
            raise ValidationError({name: f"A hold on a {name.replace('_', ' ')} names one."})
        if name != wanted and value is not None:
            raise ValidationError({name: f"A hold of scope {scope} names no {name.replace('_', ' ')}."})
        if value is not None and value.team_id != team.pk:
            # Read like a missing object: another team's records are not this team's to hold.
            raise ValidationError({name: f'Invalid pk "{value.pk}" - object does not exist.'})
    subject = (fields.get("subject_identifier") or "").strip()
    if scope == HoldScope.SUBJECT and not subject:
        raise ValidationError({"subject_identifier": "A hold on a data subject names the subject's identifier."})
    if scope != HoldScope.SUBJECT and subject:
        raise ValidationError({"subject_identifier": "Only a hold on a data subject names one."})
    hold = LegalHold(
        team=team,
        scope=scope,
        dataset=fields.get("dataset"),
        model=fields.get("model"),
        use_case=fields.get("use_case"),
        subject_identifier=subject,
        case_reference=(fields.get("case_reference") or "").strip(),
        reason=(fields.get("reason") or "").strip(),
        placed_by=actor,
    )
    hold.full_clean()
    hold.save()
    _record_step(hold, actor=actor, action="placed", before="", note=hold.reason)
    record_event(AuditEventType.LEGAL_HOLD_PLACED, actor=actor, target=hold, team=team, after=hold_summary(hold))
    return hold


def do_request_hold_release(hold: LegalHold, *, actor: User, note: str) -> LegalHold:
    """The first of the two officers a release takes: the hold still holds until another confirms."""
    require_officer(actor, hold.team)
    with refusals_recorded(actor=actor, target=hold, team=hold.team):
        return _request_release(hold, actor=actor, note=note)


@transaction.atomic
def _request_release(hold: LegalHold, *, actor: User, note: str) -> LegalHold:
    hold = LegalHold.objects.select_for_update().select_related("team").get(pk=hold.pk)
    if not note.strip():
        raise ValidationError({"note": "Say why the hold may be released."})
    if hold.status != HoldStatus.ACTIVE:
        raise Refusal(
            "hold_not_active",
            f"The hold is {hold.get_status_display().lower()}: only an active hold's release can be requested.",
            event_type=AuditEventType.LEGAL_HOLD_REFUSED,
            status=409,
            metadata={"reason": "hold_not_active", "status": hold.status, "step": "request_release"},
        )
    before = hold.status
    hold.status = HoldStatus.RELEASE_REQUESTED
    hold.save(update_fields=["status"])
    _record_step(hold, actor=actor, action="release_requested", before=before, note=note.strip())
    record_event(
        AuditEventType.LEGAL_HOLD_RELEASE_REQUESTED,
        actor=actor,
        target=hold,
        team=hold.team,
        before={"status": before},
        after={"status": hold.status},
        metadata={"note": note.strip()},
    )
    return hold


def do_confirm_hold_release(hold: LegalHold, *, actor: User, note: str = "") -> LegalHold:
    """The second officer confirms; the one who asked cannot (``same_officer``, recorded)."""
    require_officer(actor, hold.team)
    with refusals_recorded(actor=actor, target=hold, team=hold.team):
        return _confirm_release(hold, actor=actor, note=note)


@transaction.atomic
def _confirm_release(hold: LegalHold, *, actor: User, note: str) -> LegalHold:
    # Race: two confirmations at once, or a confirmation and a second request. The row lock orders them.
    hold = LegalHold.objects.select_for_update().select_related("team").get(pk=hold.pk)
    if hold.status != HoldStatus.RELEASE_REQUESTED:
        raise Refusal(
            "release_not_requested",
            "No release of this hold is waiting for confirmation: one officer requests it, another confirms.",
            event_type=AuditEventType.LEGAL_HOLD_REFUSED,
            status=409,
            metadata={"reason": "release_not_requested", "status": hold.status, "step": "confirm_release"},
        )
    request = hold.events.filter(action="release_requested").order_by("-occurred_at", "-id").first()
    if request is not None and request.actor_id == actor.pk:
        raise Refusal(
            "same_officer",
            "You requested this release: a second compliance officer must confirm it.",
            event_type=AuditEventType.LEGAL_HOLD_REFUSED,
            status=403,
            metadata={"reason": "same_officer", "step": "confirm_release"},
        )
    before = hold.status
    hold.status = HoldStatus.RELEASED
    hold.save(update_fields=["status"])
    _record_step(hold, actor=actor, action="released", before=before, note=note.strip())
    record_event(
        AuditEventType.LEGAL_HOLD_RELEASED,
        actor=actor,
        target=hold,
        team=hold.team,
        before={"status": before},
        after={"status": hold.status},
        metadata={"requested_by": request.actor_name if request else "", "note": note.strip()},
    )
    return hold
