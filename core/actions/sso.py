"""Actions of single sign-on (core/sso.py, docs/sso.md): sign-in and re-check, refusals, deactivation, group
mappings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from core.actions.people import do_grant_membership, do_revoke_membership
from core.audit import record_event
from core.choices import AuditEventType, MembershipSource, Role
from core.models import (
    ExternalIdentity,
    GroupMapping,
    Membership,
    Team,
)

User = get_user_model()


# --- Single sign-on (core/sso.py, docs/sso.md) --------------------------------------------------------------------

# Group names no mapping may use, whatever the provider calls its administrators: there is no superuser or staff
# role in Assay to map to, and a mapping named like one reads as if there were. SSO_SUPERUSER_GROUPS adds the
# organisation's own.
RESERVED_GROUPS = frozenset(
    {"superuser", "superusers", "staff", "root", "admin", "admins", "administrators", "platform-admin"}
)


class SsoSignInRefused(Exception):
    """The provider vouched for someone Assay will not sign in; ``reason`` is the audit log's code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _sso_username(claims: dict[str, Any], subject: str) -> str:
    base = str(claims.get("preferred_username") or str(claims.get("email", "")).split("@")[0] or subject)
    base = "".join(char for char in base if char.isalnum() or char in "@.+-_")[:120] or "sso-user"
    candidate, suffix = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        suffix += 1
        candidate = f"{base}-{suffix}"
    return candidate


def _sync_sso_memberships(user: Any, groups: list[str]) -> None:
    """Make the user's ``sso`` memberships those the mappings of ``groups`` grant. Local memberships are a team
    admin's and stay; a grant that a local membership already covers is not duplicated."""
    wanted = {
        (mapping.team_id, mapping.role, mapping.board_role): mapping.team
        for mapping in GroupMapping.objects.select_related("team").filter(idp_group__in=groups)
    }
    held = {(m.team_id, m.role, m.board_role): m for m in Membership.objects.filter(user=user).select_related("team")}
    for key, membership in held.items():
        if membership.source == MembershipSource.SSO and key not in wanted:
            do_revoke_membership(membership, actor=None)
    for key, team in wanted.items():
        if key not in held:
            do_grant_membership(
                team, actor=None, user=user, role=key[1], board_role=key[2], source=MembershipSource.SSO
            )


@transaction.atomic
def do_sso_sign_in(
    *, issuer: str, subject: str, claims: dict[str, Any], groups: list[str], refresh_token_sealed: str
) -> Any:
    """The user the provider vouched for as ``(issuer, subject)``, created on first sign-in, with their memberships
    following ``groups``. Nothing in ``claims`` reaches is_superuser or is_staff.

    A first sign-in whose email an existing account already uses is refused rather than linked: the provider's
    word about an address is no proof that its holder owns the local account (docs/sso.md)."""
    # Lock the identity row so that two sign-ins of one person apply their groups one after the other. Two first
    # sign-ins at once both find none: the unique (issuer, subject) constraint fails the second, which rolls back.
    identity = (
        ExternalIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=issuer, subject=subject)
        .first()
    )
    email = str(claims.get("email", ""))[:254]
    if identity is None:
        if email and User.objects.filter(email__iexact=email).exists():
            raise SsoSignInRefused(
                "email_in_use",
                "An Assay account already uses this email address. A platform administrator must link it before "
                "you can sign in with the identity provider.",
            )
        user = User(
            username=_sso_username(claims, subject),
            email=email,
            first_name=str(claims.get("given_name", ""))[:150],
            last_name=str(claims.get("family_name", ""))[:150],
        )
        user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save()
        identity = ExternalIdentity(user=user, issuer=issuer, subject=subject)
        record_event(
            AuditEventType.USER_CREATED,
            actor=None,
            target=user,
            after={"username": user.username, "email": email, "is_superuser": False, "issuer": issuer},
            metadata={"source": "sso", "subject": subject},
        )
    else:
        user = identity.user
        if not user.is_active:
            raise SsoSignInRefused("account_deactivated", "Your Assay account is deactivated.")
        if email and email != user.email and not User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
            user.email = email
            user.save(update_fields=["email"])
    identity.groups = groups
    identity.last_checked_at = timezone.now()
    if refresh_token_sealed:
        identity.refresh_token_sealed = refresh_token_sealed
    identity.full_clean(exclude=["user"])
    identity.save()
    _sync_sso_memberships(user, groups)
    return user


@transaction.atomic
def do_sso_recheck_passed(identity: ExternalIdentity, *, groups: list[str], refresh_token_sealed: str) -> None:
    """The provider still vouches for the user: keep its rotated refresh token and follow its groups."""
    identity = ExternalIdentity.objects.select_for_update().select_related("user").get(pk=identity.pk)
    identity.groups = groups
    identity.last_checked_at = timezone.now()
    identity.refresh_token_sealed = refresh_token_sealed
    identity.save(update_fields=["groups", "last_checked_at", "refresh_token_sealed"])
    _sync_sso_memberships(identity.user, groups)


@transaction.atomic
def do_record_sso_refusal(*, reason: str, subject: str, remote_addr: str) -> None:
    record_event(
        AuditEventType.SSO_LOGIN_REFUSED,
        actor=None,
        target_type="auth.user",
        target_id=subject[:64],
        target_repr=subject[:255] or "(unknown)",
        metadata={"reason": reason, "remote_addr": remote_addr},
    )


@transaction.atomic
def do_deactivate_user(user: Any, *, reason: str) -> bool:
    """The provider no longer vouches for ``user``: deactivate them (their sessions and API tokens stop working,
    core.tokens) and forget the refresh token. Returns whether this call deactivated them."""
    # Conditional update: of two re-checks at once only one deactivates and writes the event.
    changed = User.objects.filter(pk=user.pk, is_active=True).update(is_active=False)
    if not changed:
        return False
    ExternalIdentity.objects.filter(user=user).update(refresh_token_sealed="", last_checked_at=timezone.now())
    user.is_active = False
    record_event(
        AuditEventType.USER_DEACTIVATED,
        actor=None,
        target=user,
        before={"is_active": True},
        after={"is_active": False},
        metadata={"reason": reason},
    )
    return True


def _check_mapping_group(idp_group: str) -> None:
    name = idp_group.strip()
    if not name:
        raise ValidationError({"idp_group": "Name the provider's group."})
    reserved = {group.lower() for group in (*RESERVED_GROUPS, *settings.SSO_SUPERUSER_GROUPS)}
    if name.lower() in reserved:
        raise ValidationError(
            {
                "idp_group": f"The group {name!r} is reserved for platform administrators: no mapping may name it, "
                "and no mapping can make anyone a superuser."
            }
        )


@transaction.atomic
def do_create_group_mapping(*, actor: Any, idp_group: str, team: Team, role: str, board_role: str = "") -> GroupMapping:
    """Members of the provider's ``idp_group`` will hold ``role`` in ``team`` from their next sign-in. Platform
    administrators only; the roles are the team roles, so no mapping reaches superuser or staff."""
    if not actor.is_superuser:
        raise PermissionDenied("Only platform administrators edit group mappings.")
    _check_mapping_group(idp_group)
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}: a mapping grants a team role, nothing more."})
    if role == Role.REVIEWER and not board_role:
        raise ValidationError({"board_role": "A reviewer needs a board role."})
    if role != Role.REVIEWER and board_role:
        raise ValidationError({"board_role": "Only reviewers hold a board role."})
    mapping = GroupMapping(idp_group=idp_group.strip(), team=team, role=role, board_role=board_role, created_by=actor)
    mapping.full_clean()
    mapping.save()
    record_event(
        AuditEventType.SSO_MAPPING_CREATED,
        actor=actor,
        target=mapping,
        team=team,
        after={"idp_group": mapping.idp_group, "team": team.slug, "role": role, "board_role": board_role},
    )
    return mapping


@transaction.atomic
def do_delete_group_mapping(mapping: GroupMapping, *, actor: Any) -> None:
    """Existing memberships stay until each member's next sign-in or re-check, which removes them."""
    if not actor.is_superuser:
        raise PermissionDenied("Only platform administrators edit group mappings.")
    record_event(
        AuditEventType.SSO_MAPPING_DELETED,
        actor=actor,
        target=mapping,
        team=mapping.team,
        before={
            "idp_group": mapping.idp_group,
            "team": mapping.team.slug,
            "role": mapping.role,
            "board_role": mapping.board_role,
        },
    )
    mapping.delete()
