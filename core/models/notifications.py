"""Notifications: what Assay tells people (by email) and systems (by signed webhook) about what needs them.

The layer is core's; the kinds are registered by the apps that raise them (core.notifications). A ``Notification``
is one message to one person, written in the transaction of the change it tells of and delivered by a worker after
commit; a ``WebhookDelivery`` is one signed POST of one event to one endpoint. Neither is ever sent on a request.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.choices import NotificationDelivery, NotificationStatus, WebhookStatus
from core.querysets import RestrictedQuerySet


class Notification(models.Model):
    """One message of one ``kind`` (a name registered in core.notifications) to one ``recipient``.

    ``subject``/``body`` are rendered when it is raised, so the message says what was true then; ``link`` is the
    path of the page to act on (made absolute with ``SITE_URL`` in the email). ``target_type``/``target_id``/
    ``target_repr`` name what it is about. ``dedupe_key`` makes raising idempotent: the same key for the same
    recipient is one notification (a retried action or task does not send twice). ``delivery`` is how the
    recipient wanted this kind when it was raised (their preference); ``status``, ``attempts``, ``last_error`` and
    ``sent_at`` are the delivery worker's. ``read_at`` is set when the recipient marks it read in the web UI.
    """

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=64)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    subject = models.CharField(max_length=200)
    body = models.TextField()
    link = models.CharField(max_length=500, blank=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=255, blank=True)
    dedupe_key = models.CharField(max_length=200)
    delivery = models.CharField(max_length=16, choices=NotificationDelivery.choices)
    status = models.CharField(max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # When the worker may next try (core.outbox): a send in progress pushes it past its lease, a failure by the backoff.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()
    # Nobody but the recipient reads their notifications: restrict() is not used; views filter by recipient.

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "dedupe_key"], name="notification_unique_dedupe"),
        ]
        indexes = [
            models.Index(fields=["status", "delivery"], name="notification_status_delivery"),
            models.Index(fields=["recipient", "-created_at"], name="notification_recipient_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient}: {self.subject}"


class NotificationPreference(models.Model):
    """How ``user`` wants notifications of ``kind`` by email. No row: the kind's default (core.notifications)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=64)
    delivery = models.CharField(max_length=16, choices=NotificationDelivery.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user_id", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_unique_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.kind} {self.delivery}"


class WebhookEndpoint(models.Model):
    """A URL that receives the notification ``kinds`` it subscribes to as signed JSON POSTs.

    ``team`` owns it (its admins manage it); no team is the organisation's, which platform administrators manage.
    ``url`` must pass core.urlpolicy (and the ``WEBHOOK_ALLOWED_HOSTS`` setting) when saved and again, by resolved
    address, when sent. ``secret`` is the HMAC-SHA256 key the receiver verifies the ``X-Assay-Signature`` header
    with; it is shown once, when the endpoint is created. ``active`` false: nothing is sent.
    """

    team = models.ForeignKey(
        "core.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="webhook_endpoints"
    )
    name = models.CharField(max_length=128)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=128)
    kinds = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "team_id"

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(models.Model):
    """One event of ``kind`` sent (or to be sent) to one endpoint. ``payload`` is the JSON body, fixed when the
    event is raised; ``uid`` travels as ``X-Assay-Delivery`` so a receiver can drop a repeat. ``dedupe_key`` as on
    ``Notification``. The worker records ``attempts``, the last ``response_status`` and ``last_error``."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=64)
    payload = models.JSONField()
    dedupe_key = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=WebhookStatus.choices, default=WebhookStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "endpoint__team_id"

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "dedupe_key"], name="webhook_delivery_unique_dedupe"),
            models.CheckConstraint(condition=~Q(kind=""), name="webhook_delivery_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.endpoint}"
