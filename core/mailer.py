"""Sending notifications by email (core.notifications raises them): one at once, the due ones, and the daily digest.

Every send goes through the outbox pattern (core.outbox): a notification is leased before it is sent, so the
after-commit task, the sweep and a repeat of either send it once; a notification already sent is never sent again.
A failure (the SMTP server down, a refused recipient) is recorded on the row (``attempts``, ``last_error``) and tried
again after a doubling backoff; after ``NOTIFICATION_MAX_ATTEMPTS`` the row is failed. Runs in a worker only.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import models
from django.utils import timezone

from core import outbox
from core.choices import NotificationDelivery, NotificationStatus
from core.models import Notification
from core.notifications import absolute_url

logger = logging.getLogger(__name__)

# A send in progress holds its row this long: longer than any SMTP timeout.
SEND_LEASE = timedelta(minutes=2)
SWEEP_BATCH = 500


def backoff(attempts: int) -> timedelta:
    return outbox.backoff(
        attempts,
        base_seconds=settings.NOTIFICATION_BACKOFF_SECONDS,
        max_seconds=settings.NOTIFICATION_MAX_BACKOFF_SECONDS,
    )


def render(notification: Notification) -> str:
    """The text of one notification's email: its body, then the link to act on (absolute)."""
    text = notification.body.rstrip()
    if notification.link:
        text += f"\n\nOpen: {absolute_url(notification.link)}"
    return text + "\n\nChange what Assay emails you: " + absolute_url("/notifications/preferences/") + "\n"


def send_notification(notification_id: int) -> bool:
    """Email one pending immediate notification that is due; True when the server accepted it."""
    pending = Notification.objects.filter(
        pk=notification_id, status=NotificationStatus.PENDING, delivery=NotificationDelivery.IMMEDIATE
    )
    if outbox.lease(pending, duration=SEND_LEASE) is None:
        return False
    notification = Notification.objects.select_related("recipient").get(pk=notification_id)
    message = EmailMessage(
        subject=f"[Assay] {notification.subject}",
        body=render(notification),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient.email],
        headers={"X-Assay-Notification": str(notification.uid), "X-Assay-Kind": notification.kind},
    )
    try:
        message.send(fail_silently=False)
    except Exception as error:  # SMTP, socket and backend errors alike: each is recorded and retried
        record_failure([notification], error)
        return False
    record_sent([notification.pk], status=NotificationStatus.SENT)
    return True


def record_sent(ids: list[int], *, status: str) -> None:
    Notification.objects.filter(pk__in=ids, status=NotificationStatus.PENDING).update(
        status=status, sent_at=timezone.now(), attempts=models.F("attempts") + 1, next_attempt_at=None, last_error=""
    )


def record_failure(notifications: list[Notification], error: Exception) -> None:
    now = timezone.now()
    message = f"{type(error).__name__}: {error}"[:10_000]
    for notification in notifications:
        attempts = notification.attempts + 1
        failed = attempts >= settings.NOTIFICATION_MAX_ATTEMPTS
        Notification.objects.filter(pk=notification.pk, status=NotificationStatus.PENDING).update(
            attempts=attempts,
            last_error=message,
            status=NotificationStatus.FAILED if failed else NotificationStatus.PENDING,
            next_attempt_at=None if failed else now + backoff(attempts),
        )
        logger.warning("notification %s email failed (attempt %s): %s", notification.pk, attempts, message)


def send_due(*, limit: int = SWEEP_BATCH) -> tuple[int, int]:
    """Email the immediate notifications that are due (first tries lost with the broker, and retries):
    (sent, failed)."""
    due = list(
        Notification.objects.filter(
            outbox.due(), status=NotificationStatus.PENDING, delivery=NotificationDelivery.IMMEDIATE
        )
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    sent = sum(send_notification(pk) for pk in due)
    return sent, len(due) - sent


def send_digests(*, now: datetime | None = None) -> int:
    """Send each user one email with their pending digest notifications; returns how many emails went out."""
    now = now or timezone.now()
    waiting: dict[int, list[int]] = defaultdict(list)
    for pk, user_id in Notification.objects.filter(
        outbox.due(now), status=NotificationStatus.PENDING, delivery=NotificationDelivery.DIGEST, created_at__lte=now
    ).values_list("pk", "recipient_id"):
        waiting[user_id].append(pk)
    sent = 0
    connection = get_connection()
    for ids in waiting.values():
        until = outbox.lease(
            Notification.objects.filter(pk__in=ids, status=NotificationStatus.PENDING), duration=SEND_LEASE, now=now
        )
        if until is None:
            continue
        # Only the rows this run leased (another run may hold some of them).
        rows = list(
            Notification.objects.filter(pk__in=ids, next_attempt_at=until)
            .select_related("recipient")
            .order_by("created_at", "pk")
        )
        if not rows:
            continue
        try:
            digest_message(rows, connection=connection).send(fail_silently=False)
        except Exception as error:
            record_failure(rows, error)
            continue
        record_sent([row.pk for row in rows], status=NotificationStatus.DIGESTED)
        sent += 1
    return sent


def digest_message(rows: list[Notification], *, connection: BaseEmailBackend) -> EmailMessage:
    recipient = rows[0].recipient
    parts = [f"{len(rows)} notification{'s' if len(rows) != 1 else ''} from Assay since your last digest.\n"]
    for row in rows:
        parts.append(f"* {row.subject}\n  {row.body.strip()}")
        if row.link:
            parts.append(f"  Open: {absolute_url(row.link)}")
        parts.append("")
    parts.append("Change what Assay emails you: " + absolute_url("/notifications/preferences/"))
    return EmailMessage(
        subject=f"[Assay] Your daily digest: {len(rows)} notification{'s' if len(rows) != 1 else ''}",
        body="\n".join(parts) + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient.email],
        connection=connection,
    )
