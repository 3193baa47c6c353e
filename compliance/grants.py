"""Reading data access grants (docs/grants.md): what covers use now, who may judge which side, the catalogue a
requesting team names another team's dataset from, and the grants a release relies on.

The writes are compliance.actions.grants. The registry asks ``granted_dataset_ids`` through registry.access (it is
registered from ComplianceConfig.ready): another team's dataset is usable only while an approved grant for (team,
dataset) has not expired.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.utils import timezone

from compliance.choices import GrantSide, GrantStatus
from compliance.models import DataAccessGrant
from core.actors import is_compliance_officer
from core.choices import Role
from core.models import Membership, Team
from registry.models import Dataset

# What the catalogue shows of every dataset: enough to name it in a request, nothing of its content (no location,
# description, schema, columns or versions). The owning team's slug and the dataset's name and classification are
# what a requester must know to ask; the rest it sees only once a grant covers it.
CATALOGUE_FIELDS = ("id", "name", "team__slug", "classification")


def covers(grant: DataAccessGrant, now: datetime | None = None) -> bool:
    """Whether ``grant`` covers use at ``now``: approved by both sides and not expired."""
    return grant.status == GrantStatus.APPROVED and grant.expires_at > (now or timezone.now())


def granted_dataset_ids(team: Team, now: datetime) -> QuerySet[Any]:
    """The ids of other teams' datasets that ``team`` may use at ``now`` (registry.access's source)."""
    return DataAccessGrant.objects.filter(team=team, status=GrantStatus.APPROVED, expires_at__gt=now).values(
        "dataset_id"
    )


def catalogue(*, exclude_team_ids: list[int] | None = None) -> QuerySet[Dataset]:
    """Every team's datasets as a requester may name them (``CATALOGUE_FIELDS`` only)."""
    rows = Dataset.objects.select_related("team").only("id", "name", "team__slug", "classification")
    if exclude_team_ids:
        rows = rows.exclude(team_id__in=exclude_team_ids)
    return rows.order_by("team__slug", "name")


def may_judge(actor: User, grant: DataAccessGrant, side: str) -> bool:
    """``owner``: an admin of the owning team. ``compliance``: a compliance officer of the owning team (it answers
    for its data) or a platform superuser. Neither may be the requester (checked by the action)."""
    if not actor.is_authenticated or not actor.is_active:
        return False
    if side == GrantSide.OWNER:
        return Membership.objects.filter(user=actor, team_id=grant.owner_team_id, role=Role.ADMIN).exists()
    if side == GrantSide.COMPLIANCE:
        return is_compliance_officer(actor, grant.owner_team_id)
    return False


def may_end(actor: User, grant: DataAccessGrant) -> bool:
    """Who may revoke: the owning team's admins and compliance officers (and platform superusers)."""
    return may_judge(actor, grant, GrantSide.OWNER) or may_judge(actor, grant, GrantSide.COMPLIANCE)


def may_withdraw(actor: User, grant: DataAccessGrant) -> bool:
    """Who may withdraw: the requester, or an admin of the requesting team."""
    if actor.pk == grant.requested_by_id:
        return True
    return Membership.objects.filter(user=actor, team_id=grant.team_id, role=Role.ADMIN).exists()


def open_sides(actor: User, grant: DataAccessGrant) -> list[str]:
    """The sides of an open ``grant`` that ``actor`` may still decide (none when they requested it or decided the
    other side)."""
    if grant.status != GrantStatus.REQUESTED or actor.pk == grant.requested_by_id:
        return []
    decided = {decision.side: decision.decided_by_id for decision in grant.decisions.all()}
    if actor.pk in decided.values():
        return []
    return [side for side in GrantSide.values if side not in decided and may_judge(actor, grant, side)]


def awaiting(user: User) -> QuerySet[DataAccessGrant]:
    """Open grants whose owning team is one where ``user`` judges a side (admin or compliance officer), not
    requested by them: the list's "awaiting my side" filter (the page narrows it with ``open_sides``)."""
    judged = Membership.objects.filter(user=user, role__in=(Role.ADMIN, Role.COMPLIANCE_OFFICER)).values("team_id")
    rows = DataAccessGrant.objects.filter(status=GrantStatus.REQUESTED).exclude(requested_by=user)
    if not user.is_superuser:
        rows = rows.filter(owner_team_id__in=judged)
    return rows.exclude(decisions__decided_by=user)


def relied_on(team: Team | int, dataset_ids: list[int]) -> dict[int, DataAccessGrant | None]:
    """For each of these datasets of other teams, the grant a release of ``team`` relies on: the approved one that
    runs longest (then the newest), else the newest of any status, else None. Chosen without reading the clock, so
    that the manifest stays the same while nothing changes: an expiry shows at the gate (check ``data_access``), a
    revocation or a new grant changes the manifest."""
    team_id = team if isinstance(team, int) else team.pk
    chosen: dict[int, DataAccessGrant | None] = dict.fromkeys(dataset_ids)
    rows = (
        DataAccessGrant.objects.filter(team_id=team_id, dataset_id__in=dataset_ids)
        .select_related("dataset", "owner_team")
        .order_by("-requested_at", "-id")
    )
    for grant in rows:
        current = chosen[grant.dataset_id]
        if current is None or _better(grant, current):
            chosen[grant.dataset_id] = grant
    return chosen


def _better(grant: DataAccessGrant, current: DataAccessGrant) -> bool:
    approved, held = grant.status == GrantStatus.APPROVED, current.status == GrantStatus.APPROVED
    if approved != held:
        return approved
    if approved:
        return (grant.expires_at, grant.pk) > (current.expires_at, current.pk)
    return False  # rows come newest first: the first of the rest stays


def grants_of_teams(user: User) -> QuerySet[DataAccessGrant]:
    """The grants ``user`` sees (either team's member), with what the list shows."""
    return (
        DataAccessGrant.objects.restrict(user)
        .select_related("dataset", "team", "owner_team", "use_case", "requested_by")
        .prefetch_related("decisions__decided_by")
    )


def search(rows: QuerySet[DataAccessGrant], text: str) -> QuerySet[DataAccessGrant]:
    text = text.strip()
    if not text:
        return rows
    return rows.filter(
        Q(dataset__name__icontains=text)
        | Q(team__slug__icontains=text)
        | Q(owner_team__slug__icontains=text)
        | Q(purpose__icontains=text)
    )
