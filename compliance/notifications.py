"""What data access grants tell people (core.notifications; docs/grants.md): a grant awaits your side (the owning
team's admins for the owner side, its compliance officers for the compliance side), and a grant you requested was
approved, refused or revoked. Raised by the grant actions in their transaction; each links to the grant's page."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.urls import reverse

from compliance.choices import GrantSide, GrantStatus
from compliance.models import DataAccessGrant
from core.choices import Role
from core.notifications import Kind, notify, register_kind

AWAITING = register_kind(
    Kind(
        "compliance.grant_awaiting",
        "A data access grant awaits your decision",
        "Another team asks to use a dataset of your team: as its admin or compliance officer you decide a side.",
    )
)
DECIDED = register_kind(
    Kind(
        "compliance.grant_decided",
        "Your data access grant was decided",
        "A grant you requested was approved by both sides, refused, or revoked by the owning team.",
    )
)

SIDE_ROLES = {GrantSide.OWNER: Role.ADMIN, GrantSide.COMPLIANCE: Role.COMPLIANCE_OFFICER}


def grant_link(grant: DataAccessGrant) -> str:
    return reverse("compliance-grant", args=[grant.pk])


def _title(grant: DataAccessGrant) -> str:
    return f"team {grant.team.slug} to use {grant.dataset.name} (team {grant.owner_team.slug})"


def notify_awaiting(grant: DataAccessGrant) -> None:
    """Tell the people who may decide a side still open that the grant awaits them: not the requester, nor whoever
    decided the other side (a second person decides it)."""
    if grant.status != GrantStatus.REQUESTED:
        return
    decided = {decision.side: decision.decided_by_id for decision in grant.decisions.all()}
    open_roles = [role for side, role in SIDE_ROLES.items() if side not in decided]
    recipients = list(
        User.objects.filter(memberships__team_id=grant.owner_team_id, memberships__role__in=open_roles, is_active=True)
        .exclude(pk__in=[grant.requested_by_id, *decided.values()])
        .distinct()
    )
    if not recipients:
        return
    waiting = ", ".join(str(GrantSide(side).label).lower() for side in SIDE_ROLES if side not in decided)
    notify(
        AWAITING.name,
        recipients=recipients,
        subject=f"Data access grant #{grant.pk} awaits your decision: {_title(grant)}",
        body=(
            f"{grant.requested_by} asks for {_title(grant)}, for use case {grant.use_case.name}, until "
            f"{grant.expires_at:%Y-%m-%d}. Purpose: {grant.purpose}\n\nStill to decide: {waiting}. Approve or refuse "
            "on the grant's page."
        ),
        link=grant_link(grant),
        target=grant,
        team=grant.owner_team,
        dedupe_key=f"grant:{grant.pk}:awaiting:{len(decided)}",
        payload={"grant": grant.pk, "dataset": grant.dataset_id, "team": grant.team.slug},
    )


def notify_decided(grant: DataAccessGrant, *, actor: User, note: str = "") -> None:
    """Tell the requester that their grant is approved (both sides), refused or revoked."""
    if grant.status not in (GrantStatus.APPROVED, GrantStatus.REFUSED, GrantStatus.REVOKED):
        return
    outcome = {
        GrantStatus.APPROVED: f"approved by both sides; it covers use until {grant.expires_at:%Y-%m-%d}",
        GrantStatus.REFUSED: f"refused by {actor}",
        GrantStatus.REVOKED: f"revoked by {actor}: the dataset may no longer be used, and releases relying on it "
        "fail the gate",
    }[GrantStatus(grant.status)]
    notify(
        DECIDED.name,
        recipients=[grant.requested_by],
        subject=f"Data access grant #{grant.pk} {grant.status}: {_title(grant)}",
        body=f"Your grant for {_title(grant)} was {outcome}." + (f"\n\n{note}" if note else ""),
        link=grant_link(grant),
        target=grant,
        team=grant.team,
        dedupe_key=f"grant:{grant.pk}:{grant.status}",
        payload={"grant": grant.pk, "status": grant.status},
    )
