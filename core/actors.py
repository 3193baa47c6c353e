"""Who acts. Every action takes the acting ``User`` as its keyword-only ``actor``; a view hands over its request's
user through ``acting_user``, which turns what Django types as "a user or AnonymousUser" into the user the
view's own authentication already required."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.core.exceptions import PermissionDenied

from core.choices import Role
from core.models import Membership, Team

OFFICER_ROLES: tuple[str, ...] = (Role.COMPLIANCE_OFFICER,)


def acting_user(user: AbstractBaseUser | AnonymousUser) -> User:
    """``user`` as the actor of an action; PermissionDenied for anyone not signed in (views require a signed-in
    user before they get here, so this only makes that requirement visible to the type checker)."""
    if not isinstance(user, User) or not user.is_authenticated:
        raise PermissionDenied("Sign in first.")
    return user


def is_compliance_officer(actor: User, team: Team | int) -> bool:
    """A compliance officer of ``team``, or a platform superuser: who may write compliance records (compliance/) and
    justify a flagged proxy (audits/)."""
    if not actor.is_authenticated or not actor.is_active:
        return False
    if actor.is_superuser:
        return True
    team_id = team if isinstance(team, int) else team.pk
    return Membership.objects.filter(user=actor, team_id=team_id, role__in=OFFICER_ROLES).exists()
