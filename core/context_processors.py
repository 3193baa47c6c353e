from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from core.api.permissions import AUDIT_READER_ROLES
from core.choices import Role


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The signed-in user's roles, so the navigation frame shows what they can use."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    roles = set(user.memberships.values_list("role", flat=True))
    return {
        "nav_roles": sorted(roles),
        "nav_can_read_audit": user.is_superuser or bool(roles & set(AUDIT_READER_ROLES)),
        "nav_is_compliance_officer": user.is_superuser or Role.COMPLIANCE_OFFICER in roles,
    }
