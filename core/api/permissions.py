from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from core.choices import Role
from core.models import Membership

AUDIT_READER_ROLES = (Role.COMPLIANCE_OFFICER, Role.AUDITOR, Role.ADMIN)


def is_audit_reader(user: Any) -> bool:
    if not user.is_authenticated:
        return False
    return bool(user.is_superuser) or Membership.objects.filter(user_id=user.pk, role__in=AUDIT_READER_ROLES).exists()


class IsAuditReader(BasePermission):
    """Compliance officers, auditors and team admins of any team, and platform administrators."""

    message = "Only compliance officers, auditors and administrators may do this."

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_audit_reader(request.user)


class IsNotServiceAccount(BasePermission):
    message = "Service accounts cannot do this."

    def has_permission(self, request: Any, view: Any) -> bool:
        return not hasattr(request.user, "service_account")
