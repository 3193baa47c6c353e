"""Rules the compliance actions share: who may write compliance records."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied

from compliance.querysets import OFFICER_ROLES
from core.models import Membership, Team


def is_officer(actor: User, team: Team | int) -> bool:
    """A compliance officer of ``team``, or a platform superuser."""
    if not actor.is_authenticated or not actor.is_active:
        return False
    if actor.is_superuser:
        return True
    team_id = team if isinstance(team, int) else team.pk
    return Membership.objects.filter(user=actor, team_id=team_id, role__in=OFFICER_ROLES).exists()


def require_officer(actor: User, team: Team) -> None:
    if not is_officer(actor, team):
        raise PermissionDenied(f"Only compliance officers of team {team.slug} may do this.")
