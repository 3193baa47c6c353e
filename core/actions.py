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
from core.choices import AuditEventType, BoardRole, NotificationDelivery, Role, TokenKind
from core.models import (
    ApiToken,
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
def do_grant_membership(team: Team, *, actor: Any, user: Any, role: str, board_role: str = "") -> Membership:
    _require(actor, team)
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
    membership = Membership(team=team, user=user, role=role, board_role=board_role, granted_by=actor)
    membership.full_clean()
    membership.save()
    record_event(
        AuditEventType.MEMBERSHIP_GRANTED,
        actor=actor,
        target=membership,
        team=team,
        after={"user": user.get_username(), "role": role, "board_role": board_role},
    )
    return membership


@transaction.atomic
def do_revoke_membership(membership: Membership, *, actor: Any) -> None:
    _require(actor, membership.team)
    # Lock the team: two admins revoking each other at once would each see the other remain and leave none.
    team = Team.objects.select_for_update().get(pk=membership.team_id)
    current = Membership.objects.select_related("user").filter(pk=membership.pk).first()
    if current is None:
        return  # revoked meanwhile by someone else, who wrote the event
    membership = current
    # Superusers too: a team without an admin can be run only by platform administrators, which is not a state
    # to reach by accident. Grant the new admin first.
    if (
        membership.role == Role.ADMIN
        and not Membership.objects.filter(team=team, role=Role.ADMIN).exclude(pk=membership.pk).exists()
    ):
        raise ValidationError({"role": "A team keeps at least one admin; grant another before revoking this one."})
    before = {"user": membership.user.get_username(), "role": membership.role, "board_role": membership.board_role}
    record_event(AuditEventType.MEMBERSHIP_REVOKED, actor=actor, target=membership, team=team, before=before)
    membership.delete()


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
