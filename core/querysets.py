"""Permission filtering in SQL.

Every model that belongs to a team names the lookup path to its team's id in ``team_lookup`` (``"team_id"``,
``"dataset__team_id"``) and may set ``access_policy``, a map
from action to the team roles that allow it. ``Model.objects.restrict(user, action)`` narrows the queryset before
it is evaluated, so lists and single-object lookups share one rule and an object out of scope is simply absent
(a 404, exactly like a missing one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from django.apps import apps
from django.db import models

from core.choices import Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User

VIEW = "view"
CHANGE = "change"

ALL_ROLES: tuple[str, ...] = tuple(Role.values)
DEFAULT_POLICY: dict[str, tuple[str, ...]] = {VIEW: ALL_ROLES, CHANGE: (Role.ADMIN,)}


def member_team_ids(user: AbstractBaseUser | AnonymousUser, roles: tuple[str, ...]) -> models.QuerySet[Any]:
    """The ids of the teams in which ``user`` holds one of ``roles``, as a subquery."""
    # By the app registry, not an import: core.models builds its managers from this module.
    membership = apps.get_model("core", "Membership")
    return membership.objects.filter(user_id=user.pk or 0, role__in=roles).values("team_id")


class RestrictedQuerySet(models.QuerySet[Any]):
    def restrict(self, user: User | AnonymousUser, action: str = VIEW) -> Self:
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if getattr(user, "is_superuser", False):
            return self
        policy: dict[str, tuple[str, ...]] = getattr(self.model, "access_policy", DEFAULT_POLICY)
        roles = policy.get(action)
        if not roles:
            return self.none()
        lookup: str = self.model.team_lookup
        return self.filter(**{f"{lookup}__in": member_team_ids(user, roles)})
