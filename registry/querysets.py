"""Who may do what with registry objects, as SQL filters (see core.querysets).

Everyone in a team reads its registry; engineers and admins register and edit; approving a version for use is a
judgement engineers do not make about their own work, so ``review`` belongs to reviewers, compliance officers and
admins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from core.choices import Role
from core.models import Team
from core.querysets import ALL_ROLES, CHANGE, VIEW, member_team_ids

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

REVIEW = "review"

WRITER_ROLES: tuple[str, ...] = (Role.ENGINEER, Role.ADMIN)
REVIEWER_ROLES: tuple[str, ...] = (Role.REVIEWER, Role.COMPLIANCE_OFFICER, Role.ADMIN)

REGISTRY_POLICY: dict[str, tuple[str, ...]] = {VIEW: ALL_ROLES, CHANGE: WRITER_ROLES, REVIEW: REVIEWER_ROLES}


def teams_for(user: User | AnonymousUser, action: str = CHANGE) -> QuerySet[Any]:
    """The teams in which ``user`` may do ``action`` to registry objects."""
    if not user.is_authenticated or not user.is_active:
        return Team.objects.none()
    if user.is_superuser:
        return Team.objects.all()
    return Team.objects.filter(pk__in=member_team_ids(user, REGISTRY_POLICY.get(action, ())))
