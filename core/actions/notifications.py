"""Actions of the notification layer (core/notifications.py, docs/notifications.md): preferences, read marks,
webhook endpoints."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from core.actions.people import require_team
from core.audit import record_event
from core.choices import AuditEventType, NotificationDelivery
from core.models import (
    Notification,
    NotificationPreference,
    Team,
    WebhookEndpoint,
)
from core.notifications import kinds as notification_kinds
from core.webhooks import WebhookRefused, check_webhook_url

User = get_user_model()


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
        require_team(actor, team)


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
