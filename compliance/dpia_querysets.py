"""Who may see and change DPIAs and column reclassifications, as SQL filters (see core.querysets).

Every member of the use case's team reads its DPIA (the engineers build what it assesses). Compliance officers and
admins of the team write it: create, edit a draft, screen, submit, start a new version, and reclassify a dataset's
columns. Approving or returning a submitted version is ``review``: a reviewer holding the privacy/DPO board role in
the use case's team, and nobody else, not even a platform administrator (the DPO's sign-off is a person's, by
role). The author is excluded by the action, which knows who the author is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from core.choices import BoardRole, Role
from core.models import Membership
from core.querysets import ALL_ROLES, CHANGE, VIEW, RestrictedQuerySet

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

REVIEW = "review"
DPIA_WRITER_ROLES: tuple[str, ...] = (Role.COMPLIANCE_OFFICER, Role.ADMIN)
DPIA_POLICY: dict[str, tuple[str, ...]] = {VIEW: ALL_ROLES, CHANGE: DPIA_WRITER_ROLES}


def privacy_team_ids(user: User | AnonymousUser) -> Any:
    """The ids of the teams in which ``user`` sits as a reviewer in the privacy/DPO board role, as a subquery."""
    return Membership.objects.filter(user_id=user.pk or 0, role=Role.REVIEWER, board_role=BoardRole.PRIVACY).values(
        "team_id"
    )


class DpiaQuerySet(RestrictedQuerySet):
    def restrict(self, user: User | AnonymousUser, action: str = VIEW) -> Self:
        if action != REVIEW:
            return super().restrict(user, action)
        if not user.is_authenticated or not user.is_active:
            return self.none()
        lookup: str = self.model.team_lookup
        return self.filter(**{f"{lookup}__in": privacy_team_ids(user)})
