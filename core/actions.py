"""Every write to the core models goes through one of these functions.

Each is atomic, takes the acting user as the keyword-only ``actor``, validates with ``full_clean()`` and writes its
audit event inside the same transaction. Views, serializers, forms, commands and tasks call these; they never save
models themselves.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from core.audit import record_event
from core.choices import AuditEventType, BoardRole, MembershipSource, NotificationDelivery, Role, TokenKind
from core.models import (
    ApiToken,
    ExternalIdentity,
    GroupMapping,
    Membership,
    Notification,
    NotificationPreference,
    ServiceAccount,
    Team,
    WebhookEndpoint,
)
from core.models.tokens import digest_secret
from core.notifications import kinds as notification_kinds
from core.querysets import CHANGE
from core.webhooks import WebhookRefused, check_webhook_url

User = get_user_model()


def _require(actor: Any, team: Team, action: str = CHANGE) -> None:
    if not Team.objects.restrict(actor, action).filter(pk=team.pk).exists():
        raise PermissionDenied(f"You may not {action} team {team.slug}.")


# --- People -------------------------------------------------------------------------------------------------------


@transaction.atomic
def do_create_user(
    *,
    actor: Any | None,
    username: str,
    password: str | None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    is_superuser: bool = False,
) -> Any:
    """Create a person. Platform administrators create people; ``actor=None`` only bootstraps the first superuser."""
    if actor is None:
        if not is_superuser or User.objects.filter(is_superuser=True).exists():
            raise PermissionDenied("Only platform administrators create users.")
    elif not actor.is_superuser:
        raise PermissionDenied("Only platform administrators create users.")
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_staff=is_superuser,
        is_superuser=is_superuser,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    record_event(
        AuditEventType.USER_CREATED,
        actor=actor,
        target=user,
        after={"username": username, "email": email, "is_superuser": is_superuser},
    )
    return user


# --- Teams --------------------------------------------------------------------------------------------------------


@transaction.atomic
def do_create_team(*, actor: Any, slug: str, name: str, description: str = "") -> Team:
    if not actor.is_superuser:
        raise PermissionDenied("Only platform administrators create teams.")
    team = Team(slug=slug, name=name, description=description, created_by=actor)
    team.full_clean()
    team.save()
    record_event(
        AuditEventType.TEAM_CREATED,
        actor=actor,
        target=team,
        team=team,
        after={"slug": slug, "name": name, "description": description},
    )
    return team


@transaction.atomic
def do_update_team(team: Team, *, actor: Any, name: str | None = None, description: str | None = None) -> Team:
    _require(actor, team)
    # Lock the row so that two concurrent edits each record the true "before".
    team = Team.objects.select_for_update().get(pk=team.pk)
    before = {"name": team.name, "description": team.description}
    if name is not None:
        team.name = name
    if description is not None:
        team.description = description
    team.full_clean()
    after = {"name": team.name, "description": team.description}
    if after == before:
        return team
    team.save(update_fields=["name", "description"])
    changed = [key for key in after if after[key] != before[key]]
    record_event(
        AuditEventType.TEAM_UPDATED,
        actor=actor,
        target=team,
        team=team,
        before={key: before[key] for key in changed},
        after={key: after[key] for key in changed},
    )
    return team


# --- Memberships --------------------------------------------------------------------------------------------------


@transaction.atomic
def do_grant_membership(
    team: Team, *, actor: Any | None, user: Any, role: str, board_role: str = "", source: str = MembershipSource.LOCAL
) -> Membership:
    """Grant ``role`` in ``team``. ``source=sso`` rows are granted by the sign-in itself (``actor=None``, on the
    provider's word through a platform admin's group mapping) and follow the provider's groups thereafter."""
    _require_membership_writer(actor, team, source)
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    if board_role and board_role not in BoardRole.values:
        raise ValidationError({"board_role": f"Unknown board role {board_role!r}."})
    if role == Role.REVIEWER and not board_role:
        raise ValidationError({"board_role": "A reviewer needs a board role."})
    if role != Role.REVIEWER and board_role:
        raise ValidationError({"board_role": "Only reviewers hold a board role."})
    if hasattr(user, "service_account") and role not in (Role.ENGINEER, Role.AUDITOR):
        raise ValidationError({"role": "A service account may only be an engineer or an auditor."})
    membership = Membership(team=team, user=user, role=role, board_role=board_role, granted_by=actor, source=source)
    membership.full_clean()
    membership.save()
    record_event(
        AuditEventType.MEMBERSHIP_GRANTED,
        actor=actor,
        target=membership,
        team=team,
        after={"user": user.get_username(), "role": role, "board_role": board_role, "source": source},
    )
    return membership


@transaction.atomic
def do_revoke_membership(membership: Membership, *, actor: Any | None) -> None:
    """Revoke a membership. ``actor=None`` is the sign-in removing an ``sso`` row whose group the provider no longer
    asserts; it may leave a team without an admin (platform administrators still run it), because keeping a role the
    provider withdrew would be worse."""
    _require_membership_writer(actor, membership.team, membership.source)
    # Lock the team: two admins revoking each other at once would each see the other remain and leave none.
    team = Team.objects.select_for_update().get(pk=membership.team_id)
    current = Membership.objects.select_related("user").filter(pk=membership.pk).first()
    if current is None:
        return  # revoked meanwhile by someone else, who wrote the event
    membership = current
    # Superusers too: a team without an admin can be run only by platform administrators, which is not a state
    # to reach by accident. Grant the new admin first.
    if (
        actor is not None
        and membership.role == Role.ADMIN
        and not Membership.objects.filter(team=team, role=Role.ADMIN).exclude(pk=membership.pk).exists()
    ):
        raise ValidationError({"role": "A team keeps at least one admin; grant another before revoking this one."})
    before = {
        "user": membership.user.get_username(),
        "role": membership.role,
        "board_role": membership.board_role,
        "source": membership.source,
    }
    record_event(AuditEventType.MEMBERSHIP_REVOKED, actor=actor, target=membership, team=team, before=before)
    membership.delete()


def _require_membership_writer(actor: Any | None, team: Team, source: str) -> None:
    if actor is None:
        # Only the provider's sign-in acts without a person, and only on the rows it keeps.
        if source != MembershipSource.SSO:
            raise PermissionDenied("Only the identity provider's sign-in changes memberships without an actor.")
        return
    _require(actor, team)


# --- Service accounts and tokens ----------------------------------------------------------------------------------


@transaction.atomic
def do_create_service_account(
    team: Team, *, actor: Any, username: str, description: str = "", role: str = Role.ENGINEER
) -> ServiceAccount:
    _require(actor, team)
    user = User(username=username, is_active=True)
    user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    account = ServiceAccount(user=user, team=team, description=description, created_by=actor)
    account.full_clean()
    account.save()
    record_event(
        AuditEventType.SERVICE_ACCOUNT_CREATED,
        actor=actor,
        target=account,
        team=team,
        after={"username": username, "description": description},
    )
    do_grant_membership(team, actor=actor, user=user, role=role)
    return account


@transaction.atomic
def do_create_token(
    *,
    actor: Any,
    name: str,
    owner: Any | None = None,
    ttl_days: int | None = None,
    presented_token: ApiToken | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for ``owner`` (default: the actor). Returns the row and the one-time plaintext token.

    ``presented_token`` is the token the request authenticated with, if any: a new token never outlives it, so that
    a leaked short-lived token cannot be turned into a long-lived one.
    """
    owner = owner or actor
    assert owner is not None
    account = getattr(owner, "service_account", None)
    if owner.pk != actor.pk:
        if account is None:
            raise PermissionDenied("You may only create tokens for yourself or your teams' service accounts.")
        _require(actor, account.team)
    elif account is not None:
        raise PermissionDenied("A service account cannot create tokens; a team admin creates them.")
    ttl = settings.API_TOKEN_DEFAULT_TTL_DAYS if ttl_days is None else ttl_days
    if not 1 <= ttl <= settings.API_TOKEN_MAX_TTL_DAYS:
        raise ValidationError({"ttl_days": f"Must be between 1 and {settings.API_TOKEN_MAX_TTL_DAYS} days."})
    key_id, secret = ApiToken.new_secret()
    now = timezone.now()
    expires_at = now + timedelta(days=ttl)
    if presented_token is not None and presented_token.expires_at < expires_at:
        expires_at = presented_token.expires_at
    token = ApiToken(
        user=owner,
        name=name,
        kind=TokenKind.SERVICE if account else TokenKind.PERSONAL,
        key_id=key_id,
        digest=digest_secret(secret),
        created_at=now,
        created_by=actor,
        expires_at=expires_at,
    )
    token.full_clean()
    token.save()
    record_event(
        AuditEventType.TOKEN_CREATED,
        actor=actor,
        target=token,
        team=account.team if account else None,
        after={
            "name": name,
            "owner": owner.get_username(),
            "kind": token.kind,
            "key_id": key_id,
            "expires_at": token.expires_at,
        },
    )
    return token, ApiToken.compose(key_id, secret)


@transaction.atomic
def do_revoke_token(token: ApiToken, *, actor: Any) -> ApiToken:
    if not ApiToken.objects.restrict(actor).filter(pk=token.pk).exists():
        raise PermissionDenied("You may only revoke your own tokens and those of your teams' service accounts.")
    # Conditional update: of two concurrent revocations only one changes the row and writes the event.
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor
    )
    token.refresh_from_db()
    if changed:
        account = getattr(token.user, "service_account", None)
        record_event(
            AuditEventType.TOKEN_REVOKED,
            actor=actor,
            target=token,
            team=account.team if account else None,
            after={"key_id": token.key_id, "owner": token.user.get_username()},
        )
    return token


# --- Authentication events ----------------------------------------------------------------------------------------


@transaction.atomic
def do_record_auth_event(event_type: AuditEventType, *, actor: Any | None, username: str, remote_addr: str) -> None:
    record_event(
        event_type,
        actor=actor,
        target_type="auth.user",
        target_id=username[:64],
        target_repr=username[:255],
        metadata={"remote_addr": remote_addr},
    )


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


# --- Notifications (docs/notifications.md) ------------------------------------------------------------------------


@transaction.atomic
def do_set_notification_preferences(*, actor: Any, preferences: Any) -> dict[str, str]:
    """Set how ``actor`` receives each named kind (``{kind: "immediate" | "digest" | "off"}``); kinds left out keep
    their setting. Returns the actor's full settings, every registered kind included."""
    if not getattr(actor, "is_authenticated", False):
        raise PermissionDenied("Sign in to set your notification preferences.")
    if not isinstance(preferences, dict) or not preferences:
        raise ValidationError({"preferences": "A map from notification kind to immediate, digest or off."})
    known = {kind.name for kind in notification_kinds()}
    for kind, delivery in preferences.items():
        if kind not in known:
            raise ValidationError({"preferences": f"No notification kind {kind!r} is registered."})
        if delivery not in NotificationDelivery.values:
            raise ValidationError(
                {"preferences": f"{kind}: {delivery!r} is not one of {', '.join(NotificationDelivery.values)}."}
            )
    before = notification_settings(actor)
    for kind, delivery in preferences.items():
        NotificationPreference.objects.update_or_create(user=actor, kind=kind, defaults={"delivery": delivery})
    after = notification_settings(actor)
    changed = {kind: after[kind] for kind in after if after[kind] != before[kind]}
    if changed:
        record_event(
            AuditEventType.NOTIFICATION_PREFERENCES_SET,
            actor=actor,
            target=actor,
            before={kind: before[kind] for kind in changed},
            after=changed,
        )
    return after


def notification_settings(user: Any) -> dict[str, str]:
    """How ``user`` receives each registered kind: their preference, else the kind's default."""
    chosen = dict(NotificationPreference.objects.filter(user_id=user.pk).values_list("kind", "delivery"))
    return {kind.name: chosen.get(kind.name, kind.default_delivery) for kind in notification_kinds()}


@transaction.atomic
def do_mark_notifications_read(*, actor: Any, ids: list[int] | None = None) -> int:
    """Mark ``actor``'s own notifications read (``ids``, or all unread). Reading changes nothing anyone else sees,
    so no audit event. Returns how many were marked."""
    unread = Notification.objects.filter(recipient_id=actor.pk or 0, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())


def _require_webhook_admin(actor: Any, team: Team | None) -> None:
    if team is None:
        if not getattr(actor, "is_superuser", False):
            raise PermissionDenied("Only platform administrators manage the organisation's webhooks.")
    else:
        _require(actor, team)


@transaction.atomic
def do_create_webhook(*, actor: Any, team: Team | None, name: str, url: str, kinds: Any) -> tuple[WebhookEndpoint, str]:
    """Create a webhook endpoint for ``team`` (its admins) or the organisation (``team`` None: platform
    administrators). The URL must pass core.webhooks.check_webhook_url; ``kinds`` are registered kinds that go to
    webhooks. Returns the endpoint and its secret, which is shown this once (the receiver verifies signatures with
    it)."""
    _require_webhook_admin(actor, team)
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "Name the endpoint."})
    if not isinstance(url, str):
        raise ValidationError({"url": "A URL."})
    try:
        check_webhook_url(url)
    except WebhookRefused as error:
        raise ValidationError({"url": str(error)}) from None
    webhook_kinds = {kind.name for kind in notification_kinds() if kind.webhooks}
    if not isinstance(kinds, list) or not kinds or not all(isinstance(kind, str) for kind in kinds):
        raise ValidationError({"kinds": "A non-empty list of notification kinds."})
    unknown = sorted(set(kinds) - webhook_kinds)
    if unknown:
        raise ValidationError({"kinds": f"Not notification kinds sent to webhooks: {', '.join(unknown)}."})
    secret = secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint(
        team=team, name=name.strip(), url=url, secret=secret, kinds=sorted(set(kinds)), created_by=actor
    )
    endpoint.full_clean()
    endpoint.save()
    record_event(
        AuditEventType.WEBHOOK_CREATED,
        actor=actor,
        target=endpoint,
        team=team,
        after={"name": endpoint.name, "url": endpoint.url, "kinds": endpoint.kinds},
    )
    return endpoint, secret


@transaction.atomic
def do_delete_webhook(endpoint: WebhookEndpoint, *, actor: Any) -> None:
    """Delete a webhook endpoint and its delivery records (its team's admins, or platform administrators)."""
    # of=self: the team is on the nullable side of an outer join, which PostgreSQL does not lock.
    endpoint = WebhookEndpoint.objects.select_for_update(of=("self",)).select_related("team").get(pk=endpoint.pk)
    _require_webhook_admin(actor, endpoint.team)
    record_event(
        AuditEventType.WEBHOOK_DELETED,
        actor=actor,
        target=endpoint,
        team=endpoint.team,
        before={"name": endpoint.name, "url": endpoint.url, "kinds": endpoint.kinds},
    )
    endpoint.delete()
