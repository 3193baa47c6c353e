from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Model
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from core.choices import Role
from core.models import Membership
from core.querysets import CHANGE

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User
    from rest_framework.views import APIView

AUDIT_READER_ROLES = (Role.COMPLIANCE_OFFICER, Role.AUDITOR, Role.ADMIN)


def is_audit_reader(user: User | AnonymousUser) -> bool:
    if not user.is_authenticated:
        return False
    return bool(user.is_superuser) or Membership.objects.filter(user_id=user.pk, role__in=AUDIT_READER_ROLES).exists()


class IsAuditReader(BasePermission):
    """Compliance officers, auditors and team admins of any team, and platform administrators."""

    message = "Only compliance officers, auditors and administrators may do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return is_audit_reader(request.user)


class IsNotServiceAccount(BasePermission):
    """Service accounts act for an application; people do the rest (tokens, verification)."""

    message = "Service accounts cannot do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return not hasattr(request.user, "service_account")


class RestrictedObjectPermission(BasePermission):
    """Writes to an object need it to be in ``Model.objects.restrict(user, view.write_action)`` (default ``change``).

    The view's queryset is already restricted for reading, so an object out of reach is a 404 before this runs;
    this turns "you may see it but not change it" into a 403 *before* the request body is validated, so that
    a validation error never tells a reader more than a refusal would.
    """

    message = "You may see this, but not change it."

    def has_object_permission(self, request: Request, view: APIView, obj: Model) -> bool:
        if request.method in SAFE_METHODS:
            return True
        action: str = getattr(view, "write_action", CHANGE)
        manager: Any = type(obj)._default_manager
        return bool(manager.restrict(request.user, action).filter(pk=obj.pk).exists())


class IsSuperuserToCreate(BasePermission):
    """Only platform administrators may POST to the list (creating teams); everyone else is told so up front."""

    message = "Only platform administrators create teams."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return getattr(view, "action", None) != "create" or bool(request.user and request.user.is_superuser)


class IsSuperuser(BasePermission):
    """Platform administrators only (group mappings: who the identity provider's groups make what)."""

    message = "Only platform administrators may do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.is_superuser)
