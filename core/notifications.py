"""The one notification layer: the kinds apps register, and ``notify``, which raises one (docs/notifications.md).

An app registers its kinds at start-up (``register_kind`` from its AppConfig.ready, as governance and serving do),
then calls ``notify`` inside the transaction of the change it tells of. ``notify`` writes one ``Notification`` per
recipient and one ``WebhookDelivery`` per endpoint subscribed to the kind, in that transaction, and asks a worker to
send them only after commit (a rollback sends nothing; delivery never runs on a request). Sending, retries and the
daily digest are core.mailer's and core.webhooks', run by the tasks in workers/notifications.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models, transaction
from django.utils import timezone

from assay.celery import app
from core.choices import NotificationDelivery, NotificationStatus
from core.models import Notification, NotificationPreference, Team, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

EMAIL_TASK = "assay.notifications.send_email"
WEBHOOK_TASK = "assay.notifications.send_webhook"


@dataclass(frozen=True)
class Kind:
    """A kind of notification: ``name`` is stored on each notification (``app.event``, at most 64 characters);
    ``label`` and ``description`` are shown on the preferences page; ``default_delivery`` applies to a user without
    a preference for it; ``webhooks`` false keeps it from webhook endpoints (a message only for a person)."""

    name: str
    label: str
    description: str = ""
    default_delivery: str = NotificationDelivery.IMMEDIATE
    webhooks: bool = True


_KINDS: dict[str, Kind] = {}


class UnknownKind(ValueError):
    """No kind of that name is registered."""


def register_kind(kind: Kind) -> Kind:
    """Make ``kind`` known (idempotent for the same kind; a different kind under a taken name is a mistake)."""
    if len(kind.name) > 64 or not kind.name:
        raise ValueError(f"A notification kind's name is 1 to 64 characters: {kind.name!r}.")
    if kind.default_delivery not in NotificationDelivery.values:
        raise ValueError(f"{kind.name}: default_delivery must be one of {NotificationDelivery.values}.")
    existing = _KINDS.get(kind.name)
    if existing is not None and existing != kind:
        raise ValueError(f"The notification kind {kind.name!r} is already registered differently.")
    _KINDS[kind.name] = kind
    return kind


def kinds() -> list[Kind]:
    """The registered kinds, by name."""
    return [_KINDS[name] for name in sorted(_KINDS)]


def get_kind(name: str) -> Kind:
    try:
        return _KINDS[name]
    except KeyError:
        raise UnknownKind(f"No notification kind {name!r} is registered.") from None


def absolute_url(link: str) -> str:
    """``link`` (a path) made absolute with ``SITE_URL``."""
    if not link or "://" in link:
        return link
    return f"{settings.SITE_URL}/{link.lstrip('/')}"


def notify(
    kind: str,
    *,
    recipients: Iterable[User],
    subject: str,
    body: str,
    link: str,
    dedupe_key: str,
    target: models.Model | None = None,
    team: Team | None = None,
    payload: dict[str, Any] | None = None,
) -> list[Notification]:
    """Raise a notification of ``kind`` (registered) inside the caller's transaction; returns the notifications
    this call wrote (none for a repeat of ``dedupe_key``).

    - ``recipients``: users; inactive users and service accounts are skipped, and each recipient gets one
      notification per ``dedupe_key`` (a retried action or task writes nothing more).
    - ``subject``/``body``: the message, plain text, as true now; ``link``: the path of the page to act on.
    - ``target``: the object it is about (its type, id and name are kept); ``team``: whose webhook endpoints hear
      of it, besides the organisation's (no team: only the organisation's); ``payload``: extra JSON for webhooks.
    - delivery: each recipient's preference for the kind, else the kind's default; ``off`` is kept in the inbox
      as skipped, ``digest`` waits for the daily digest, ``immediate`` is emailed after commit.
    """
    spec = get_kind(kind)
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("notify() runs inside the transaction of the change it tells of.")
    people = {
        user.pk: user
        for user in User.objects.filter(
            pk__in={recipient.pk for recipient in recipients}, is_active=True, service_account__isnull=True
        )
    }
    preferences = dict(
        NotificationPreference.objects.filter(user_id__in=people, kind=kind).values_list("user_id", "delivery")
    )
    target_fields = _target_fields(target)
    rows = []
    for user_id, user in sorted(people.items()):
        delivery = preferences.get(user_id, spec.default_delivery)
        skipped = delivery == NotificationDelivery.OFF or not user.email
        rows.append(
            Notification(
                kind=kind,
                recipient_id=user_id,
                subject=subject[:200],
                body=body,
                link=link[:500],
                dedupe_key=dedupe_key[:200],
                delivery=delivery,
                status=NotificationStatus.SKIPPED if skipped else NotificationStatus.PENDING,
                **target_fields,
            )
        )
    before = set(
        Notification.objects.filter(recipient_id__in=people, dedupe_key=dedupe_key[:200]).values_list("pk", flat=True)
    )
    # ON CONFLICT DO NOTHING on (recipient, dedupe_key): a repeat, or a concurrent raise of the same key, is one row.
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    written = list(
        Notification.objects.filter(recipient_id__in=people, dedupe_key=dedupe_key[:200]).exclude(pk__in=before)
    )
    deliveries = _webhook_deliveries(
        spec,
        team=team,
        dedupe_key=dedupe_key[:200],
        message=_message(spec, subject=subject, body=body, link=link, team=team, target=target_fields, payload=payload),
    )
    emails = [
        row.pk
        for row in written
        if row.status == NotificationStatus.PENDING and row.delivery == NotificationDelivery.IMMEDIATE
    ]
    if emails or deliveries:
        transaction.on_commit(lambda: enqueue(emails=emails, webhooks=deliveries))
    return written


def _target_fields(target: models.Model | None) -> dict[str, str]:
    if target is None:
        return {}
    meta = target._meta
    return {
        "target_type": f"{meta.app_label}.{meta.model_name}"[:64],
        "target_id": str(target.pk)[:64],
        "target_repr": str(target)[:255],
    }


def _message(
    kind: Kind,
    *,
    subject: str,
    body: str,
    link: str,
    team: Team | None,
    target: dict[str, str],
    payload: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "kind": kind.name,
        "subject": subject,
        "body": body,
        "link": absolute_url(link),
        "team": team.slug if team is not None else None,
        "target": {"type": target.get("target_type"), "id": target.get("target_id"), "name": target.get("target_repr")}
        if target
        else None,
        "raised_at": timezone.now().isoformat(),
        "data": payload or {},
    }


def _webhook_deliveries(kind: Kind, *, team: Team | None, dedupe_key: str, message: dict[str, Any]) -> list[int]:
    """One delivery per active endpoint of ``team`` or of the organisation that subscribes to ``kind``."""
    if not kind.webhooks:
        return []
    owners = models.Q(team__isnull=True) | (models.Q(team=team) if team is not None else models.Q(pk__in=[]))
    # ``kinds`` is a JSON list: read in Python, since SQLite has no JSON containment (a handful of endpoints).
    endpoints = [
        endpoint.pk
        for endpoint in WebhookEndpoint.objects.filter(owners, active=True).only("pk", "kinds")
        if kind.name in endpoint.kinds
    ]
    if not endpoints:
        return []
    before = set(
        WebhookDelivery.objects.filter(endpoint_id__in=endpoints, dedupe_key=dedupe_key).values_list("pk", flat=True)
    )
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(endpoint_id=endpoint, kind=kind.name, payload=message, dedupe_key=dedupe_key)
            for endpoint in endpoints
        ],
        ignore_conflicts=True,
    )
    return list(
        WebhookDelivery.objects.filter(endpoint_id__in=endpoints, dedupe_key=dedupe_key)
        .exclude(pk__in=before)
        .values_list("pk", flat=True)
    )


def enqueue(*, emails: Iterable[int] = (), webhooks: Iterable[int] = ()) -> None:
    """Ask a worker to send these now (after commit). The broker being down loses nothing: the sweep sends them."""
    for task, ids in ((EMAIL_TASK, emails), (WEBHOOK_TASK, webhooks)):
        for pk in ids:
            try:
                app.send_task(task, args=[pk])
            except Exception:
                logger.warning("could not queue %s for %s; the next sweep sends it", task, pk, exc_info=True)
