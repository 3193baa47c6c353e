"""The notification tasks (core.notifications raises, core.mailer and core.webhooks send; docs/notifications.md).

Each task receives a primary key only and is safe to repeat: a row already sent, or leased by another sender, is
left alone. A failure is recorded on the row and retried by the sweep after its backoff, not by Celery.
"""

from __future__ import annotations

from celery import shared_task

from core import mailer, webhooks
from core.notifications import EMAIL_TASK, WEBHOOK_TASK


@shared_task(name=EMAIL_TASK, ignore_result=True)
def send_notification_email(notification_id: int) -> None:
    mailer.send_notification(int(notification_id))


@shared_task(name=WEBHOOK_TASK, ignore_result=True)
def send_webhook(delivery_id: int) -> None:
    webhooks.send_delivery(int(delivery_id))


@shared_task(name="assay.schedule.notification_deliveries", ignore_result=True)
def scheduled_notification_deliveries() -> None:
    """Beat's periodic entry: send the emails and webhooks that are due (first tries lost with the broker, retries)."""
    mailer.send_due()
    webhooks.send_due()


@shared_task(name="assay.schedule.notification_digest", ignore_result=True)
def scheduled_notification_digest() -> None:
    """Beat's daily entry: one email per user with their pending digest notifications."""
    mailer.send_digests()
