"""Forwarding Assay's own events to an external OpenLineage backend (Marquez, DataHub, another Assay), through an
outbox so that the backend being down never fails a job.

Configured the client's standard way: an ``openlineage.yml`` (``OPENLINEAGE_CONFIG``, its ``transport`` section, any
transport type the client knows) or ``OPENLINEAGE_URL`` (+ ``OPENLINEAGE_ENDPOINT``, ``OPENLINEAGE_API_KEY``) for its
HTTP transport; the transport itself is built by the client's factory. ``queue_delivery`` writes a
``LineageDelivery`` in the caller's transaction and asks for ``assay.lineage.deliver`` after commit; ``deliver``
sends once and records the outcome (a failure is retried later with a doubling backoff, by the beat sweep
``assay.schedule.lineage_deliveries``, which calls ``deliver_due``). Only Assay's own jobs' events are forwarded:
a producer posting to Assay's endpoint can be pointed at the other backend itself. docs/lineage.md, "Emitting".
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from openlineage.client.transport import get_default_factory
from openlineage.client.transport.http_common import DEFAULT_RETRY_CONFIG

from assay.celery import app
from core import outbox
from lineage.choices import DeliveryState
from lineage.models import LineageDelivery

if TYPE_CHECKING:
    from openlineage.client.transport.transport import Transport

    from core.models import Job

logger = logging.getLogger(__name__)

DELIVER_TASK = "assay.lineage.deliver"
# A send in progress holds its row this long (another sweep skips it meanwhile); longer than any transport timeout.
SEND_LEASE = timedelta(minutes=2)
# The most deliveries one sweep sends: a backlog drains over several sweeps rather than in one long task.
SWEEP_BATCH = 500
# The outbox does the retrying (with its record): the HTTP transport's own retries would hide the failures.
NO_TRANSPORT_RETRIES: dict[str, Any] = {**DEFAULT_RETRY_CONFIG, "total": 0, "connect": 0, "read": 0}


class ForwardingMisconfigured(ValueError):
    """The forwarding settings cannot be read (the lineage.E001-E003 checks say which)."""


def forwarding_config() -> dict[str, Any] | None:
    """The transport configuration events are forwarded with, or None when forwarding is off."""
    if settings.OPENLINEAGE_CONFIG:
        path = Path(settings.OPENLINEAGE_CONFIG)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise ForwardingMisconfigured(f"OPENLINEAGE_CONFIG={str(path)!r} cannot be read: {error}") from error
        transport = loaded.get("transport") if isinstance(loaded, dict) else None
        if not isinstance(transport, dict) or not isinstance(transport.get("type"), str):
            raise ForwardingMisconfigured(
                f"OPENLINEAGE_CONFIG={str(path)!r} has no transport section with a type (transport: {{type: http, "
                "url: ...}})."
            )
        return dict(transport)
    if settings.OPENLINEAGE_URL:
        config: dict[str, Any] = {
            "type": "http",
            "url": settings.OPENLINEAGE_URL,
            "endpoint": settings.OPENLINEAGE_ENDPOINT,
        }
        if settings.OPENLINEAGE_API_KEY:
            config["auth"] = {"type": "api_key", "apiKey": settings.OPENLINEAGE_API_KEY}
        return config
    return None


def forwarding_target(config: dict[str, Any]) -> str:
    """Where ``config`` sends, for display: the URL and endpoint of an HTTP transport, else its type (never a key)."""
    if config.get("type") == "http" and config.get("url"):
        return f"{str(config['url']).rstrip('/')}/{str(config.get('endpoint') or 'api/v1/lineage').lstrip('/')}"
    return str(config.get("type"))


def forward_transport(config: dict[str, Any]) -> Transport:
    """The client's transport for ``config`` (its own factory), without the HTTP transport's retries."""
    if config.get("type") == "http" and "retry" not in config:
        config = {**config, "retry": NO_TRANSPORT_RETRIES}
    return get_default_factory().create(config)


def queue_delivery(payload: dict[str, Any], *, job: Job | None) -> LineageDelivery | None:
    """Owe ``payload`` to the external backend, if one is configured: a pending delivery written in the caller's
    transaction, sent after commit. A misconfiguration (the system checks report it) forwards nothing."""
    try:
        config = forwarding_config()
    except ForwardingMisconfigured:
        logger.exception("OpenLineage forwarding is misconfigured; the event stays in Assay's store only")
        return None
    if config is None:
        return None
    run = payload.get("run") or {}
    delivery = LineageDelivery.objects.create(
        payload=payload,
        run_id=run.get("runId"),
        event_type=payload.get("eventType") or "",
        job=job,
        team=job.team if job is not None else None,
        target=forwarding_target(config)[:2048],
    )
    transaction.on_commit(lambda: send_delivery_task(delivery.pk))
    return delivery


def send_delivery_task(delivery_id: int) -> None:
    """Ask a worker to send the delivery now. The broker being down loses nothing: the sweep sends it later."""
    try:
        app.send_task(DELIVER_TASK, args=[delivery_id])
    except Exception:
        logger.warning("could not queue lineage delivery %s; the next sweep sends it", delivery_id, exc_info=True)


def backoff(attempts: int) -> timedelta:
    """How long after its ``attempts``-th failure a delivery is tried again: doubling, capped."""
    return outbox.backoff(
        attempts,
        base_seconds=settings.LINEAGE_DELIVERY_BACKOFF_SECONDS,
        max_seconds=settings.LINEAGE_DELIVERY_MAX_BACKOFF_SECONDS,
    )


def deliver(delivery_id: int, *, transport: Transport | None = None) -> bool:
    """Send one pending delivery that is due; returns True when the backend accepted it.

    The delivery is leased first (core.outbox.lease), which closes the race between the after-commit task and a
    sweep sending the same event at once; the outcome is recorded after the send, outside any transaction (a slow
    backend holds no lock).
    """
    leased = outbox.lease(
        LineageDelivery.objects.filter(pk=delivery_id, state=DeliveryState.PENDING), duration=SEND_LEASE
    )
    if leased is None:
        return False
    delivery = LineageDelivery.objects.get(pk=delivery_id)
    try:
        config = forwarding_config()
        if transport is None:
            if config is None:
                raise ForwardingMisconfigured("forwarding was switched off after this event was queued")
            transport = forward_transport(config)
        # The stored payload is the event: the client's transports serialise a mapping as they do an event.
        transport.emit(delivery.payload)
    except Exception as error:
        record_failure(delivery, error)
        return False
    record_success(delivery)
    return True


def record_failure(delivery: LineageDelivery, error: Exception) -> None:
    now = timezone.now()
    attempts = delivery.attempts + 1
    message = f"{type(error).__name__}: {error}"[:10_000]
    LineageDelivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(
        attempts=attempts, last_attempt_at=now, last_error=message, next_attempt_at=now + backoff(attempts)
    )
    logger.warning("lineage delivery %s to %s failed (attempt %s): %s", delivery.pk, delivery.target, attempts, message)


def record_success(delivery: LineageDelivery) -> None:
    now = timezone.now()
    LineageDelivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(
        state=DeliveryState.DELIVERED,
        attempts=models.F("attempts") + 1,
        last_attempt_at=now,
        delivered_at=now,
        next_attempt_at=None,
    )


def deliver_due(*, limit: int = SWEEP_BATCH) -> tuple[int, int]:
    """Send the pending deliveries that are due, oldest first: (delivered, failed). One transport for the sweep."""
    due = list(
        LineageDelivery.objects.filter(outbox.due(), state=DeliveryState.PENDING)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    if not due:
        return 0, 0
    try:
        config = forwarding_config()
    except ForwardingMisconfigured:
        logger.exception("OpenLineage forwarding is misconfigured; %s deliveries wait", len(due))
        return 0, 0
    transport = forward_transport(config) if config is not None else None
    delivered = failed = 0
    for delivery_id in due:
        if deliver(delivery_id, transport=transport):
            delivered += 1
        else:
            failed += 1
    return delivered, failed
