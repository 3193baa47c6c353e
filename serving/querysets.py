"""Who sees deployments, as SQL filters (see core.querysets): every member of the model's team, and the members
of the board that judged the release. Deployments are only ever created through the gate (serving.actions)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from django.db.models import Q

from core.querysets import ALL_ROLES, VIEW, RestrictedQuerySet, member_team_ids
from governance.models import ReleasePolicy
from governance.querysets import boards_of

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


class DeploymentQuerySet(RestrictedQuerySet):
    def restrict(self, user: User | AnonymousUser, action: str = VIEW) -> Self:
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        if action != VIEW:
            return self.none()
        return self.filter(
            Q(model__team_id__in=member_team_ids(user, ALL_ROLES))
            | Q(release__policy_version__policy__board_id__in=boards_of(user))
        )


class RouteQuerySet(RestrictedQuerySet):
    """Who sees what serves: every member of the model's team, and the members of the boards that judge releases
    to the environment (as deployments)."""

    def restrict(self, user: User | AnonymousUser, action: str = VIEW) -> Self:
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        if action != VIEW:
            return self.none()
        return self.filter(
            Q(model__team_id__in=member_team_ids(user, ALL_ROLES))
            | Q(environment_id__in=ReleasePolicy.objects.filter(board_id__in=boards_of(user)).values("environment_id"))
        )


class PredictionQuerySet(RestrictedQuerySet):
    """Prediction logs and decision records: the members of the model's team (``team_lookup`` of the model)."""
