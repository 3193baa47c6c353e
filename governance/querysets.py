"""Who may see and change governance objects, as SQL filters (see core.querysets).

Boards, policies and environments either belong to a team or, with no team, to the whole organisation. A team's
own are read by its members and managed by its compliance officers and admins; the organisation's are read by
everyone signed in and managed by platform administrators (superusers) only, so that one team cannot change the
rules another team's releases are judged by. A board member reads the boards they sit on and the releases those
boards judge, whatever their team. Public signing keys are public: everyone signed in reads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from django.apps import apps
from django.db import models
from django.db.models import Q

from core.choices import Role
from core.models import Membership
from core.querysets import ALL_ROLES, CHANGE, VIEW, RestrictedQuerySet, member_team_ids
from registry.querysets import WRITER_ROLES

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

MANAGER_ROLES: tuple[str, ...] = (Role.COMPLIANCE_OFFICER, Role.ADMIN)
SIGN = "sign"


def _signed_in(user: User | AnonymousUser) -> bool:
    return bool(user.is_authenticated and user.is_active)


def boards_of(user: User | AnonymousUser) -> models.QuerySet[Any]:
    """The ids of the boards ``user`` sits on, as a subquery."""
    # Through the app registry: governance.models builds its managers from this module.
    board_member = apps.get_model("governance", "BoardMember")
    return board_member.objects.filter(user_id=user.pk or 0).values("board_id")


class TeamOrOrgQuerySet(RestrictedQuerySet):
    """Rows whose team (``team_lookup``) may be null, meaning organisation-wide; ``board_lookup``, when a model
    sets it, names the board whose members also read the row."""

    def restrict(self, user: User | AnonymousUser, action: str = VIEW) -> Self:
        if not _signed_in(user):
            return self.none()
        if user.is_superuser:
            return self
        lookup: str = self.model.team_lookup
        if action == VIEW:
            visible = Q(**{f"{lookup}__isnull": True}) | Q(**{f"{lookup}__in": member_team_ids(user, ALL_ROLES)})
            board_lookup: str | None = getattr(self.model, "board_lookup", None)
            if board_lookup:
                visible |= Q(**{f"{board_lookup}__in": boards_of(user)})
            return self.filter(visible)
        if action == CHANGE:
            return self.filter(**{f"{lookup}__in": member_team_ids(user, MANAGER_ROLES)})
        return self.none()


class EnvironmentQuerySet(models.QuerySet[Any]):
    def restrict(self, user: User | AnonymousUser, action: str = VIEW) -> Self:
        if not _signed_in(user):
            return self.none()
        if user.is_superuser or action == VIEW:
            return self
        return self.none()


class SigningKeyQuerySet(models.QuerySet[Any]):
    def restrict(self, user: User | AnonymousUser, action: str = VIEW) -> Self:
        """Everyone signed in reads public keys. A key is revoked by its owner, by a compliance officer of a team
        its owner belongs to (a reviewer's laptop is stolen on a Friday night), or by a platform administrator."""
        if not _signed_in(user):
            return self.none()
        if user.is_superuser or action == VIEW:
            return self
        if action == CHANGE:
            officer_teams = member_team_ids(user, (Role.COMPLIANCE_OFFICER,))
            members = Membership.objects.filter(team_id__in=officer_teams).values("user_id")
            return self.filter(Q(owner_id=user.pk) | Q(owner_id__in=members))
        return self.none()


class ReleaseQuerySet(RestrictedQuerySet):
    """Releases (and rows hanging off one, through ``release_lookup``) are read by every member of the model's
    team and by the members of the board that judges them; engineers and admins of the team request, withdraw and
    deploy. Who may *sign* is the board's membership, checked by the signing action."""

    def restrict(self, user: User | AnonymousUser, action: str = VIEW) -> Self:
        if not _signed_in(user):
            return self.none()
        if user.is_superuser:
            return self
        prefix: str = getattr(self.model, "release_lookup", "")
        team = f"{prefix}model_version__model__team_id"
        board = f"{prefix}policy_version__policy__board_id"
        if action == VIEW:
            return self.filter(
                Q(**{f"{team}__in": member_team_ids(user, ALL_ROLES)}) | Q(**{f"{board}__in": boards_of(user)})
            )
        if action == CHANGE:
            return self.filter(**{f"{team}__in": member_team_ids(user, WRITER_ROLES)})
        if action == SIGN:
            return self.filter(**{f"{board}__in": boards_of(user)})
        return self.none()
