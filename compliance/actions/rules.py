"""Rules the compliance actions share: who may write compliance records."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied

from core.actors import is_compliance_officer
from core.models import Team


def is_officer(actor: User, team: Team | int) -> bool:
    """A compliance officer of ``team``, or a platform superuser (core.actors, shared with the audits)."""
    return is_compliance_officer(actor, team)


def require_officer(actor: User, team: Team) -> None:
    if not is_officer(actor, team):
        raise PermissionDenied(f"Only compliance officers of team {team.slug} may do this.")
