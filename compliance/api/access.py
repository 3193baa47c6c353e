"""Which teams a user may act for in compliance (as SQL filters), shared by the API and the pages."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from compliance.querysets import OFFICER_ROLES
from core.models import Team
from core.querysets import ALL_ROLES, member_team_ids


def officer_teams(user: Any) -> QuerySet[Team]:
    """The teams whose compliance records ``user`` writes: every team for a superuser."""
    if not user.is_authenticated or not user.is_active:
        return Team.objects.none()
    if user.is_superuser:
        return Team.objects.all()
    return Team.objects.filter(pk__in=member_team_ids(user, OFFICER_ROLES))


def visible_team_ids(user: Any) -> list[int] | None:
    """The teams whose compliance records ``user`` reads (None: every team, for a superuser)."""
    if not user.is_authenticated or not user.is_active:
        return []
    if user.is_superuser:
        return None
    return list(Team.objects.filter(pk__in=member_team_ids(user, ALL_ROLES)).values_list("pk", flat=True))
