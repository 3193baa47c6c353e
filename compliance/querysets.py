"""Who may do what with compliance records, as SQL filters (see core.querysets).

Everyone in a team reads its retention policies, holds and tombstones (an auditor must); only its compliance
officers write them (and platform superusers, whom ``restrict`` lets through everywhere).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from django.db.models import Q

from core.choices import Role
from core.querysets import ALL_ROLES, CHANGE, VIEW, RestrictedQuerySet, member_team_ids

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

OFFICER_ROLES: tuple[str, ...] = (Role.COMPLIANCE_OFFICER,)

COMPLIANCE_POLICY: dict[str, tuple[str, ...]] = {VIEW: ALL_ROLES, CHANGE: OFFICER_ROLES}


class GrantQuerySet(RestrictedQuerySet):
    """Data access grants (and, with ``grant_prefix``, their decisions): a grant concerns two teams, so the members
    of both, whatever their role, see it (the requesting team uses it, the owning team judges it). Other actions
    are the actions' own rules (compliance.actions.grants): ``restrict`` answers only ``view``."""

    grant_prefix = ""

    def restrict(self, user: User | AnonymousUser, action: str = VIEW) -> Self:
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if getattr(user, "is_superuser", False):
            return self
        if action != VIEW:
            return self.none()
        teams = member_team_ids(user, ALL_ROLES)
        prefix = self.grant_prefix
        return self.filter(Q(**{f"{prefix}team_id__in": teams}) | Q(**{f"{prefix}owner_team_id__in": teams}))


class GrantDecisionQuerySet(GrantQuerySet):
    grant_prefix = "grant__"
