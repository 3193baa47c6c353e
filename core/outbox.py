"""The outbox pattern Assay's deliveries share (lineage events to an external backend, notification emails and
webhooks): a row written in the transaction of the change it tells of is owed; a task asked for after commit sends it;
a beat sweep sends what is due (first tries whose broker message was lost, and retries).

A row is owed while its state is pending. ``next_attempt_at`` is when it may be tried: null or past is due. A sender
first *leases* the row with a conditional update that pushes ``next_attempt_at`` past the send; only the sender whose
update changed the row sends it, which closes the race between the after-commit task and a sweep (or two sweeps)
sending the same row at once, on PostgreSQL and SQLite alike, without holding a lock during a slow send. A failure
sets ``next_attempt_at`` by ``backoff``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.utils import timezone


def due(now: datetime | None = None) -> models.Q:
    """The rows whose next attempt is due at ``now``."""
    return models.Q(next_attempt_at__isnull=True) | models.Q(next_attempt_at__lte=now or timezone.now())


def lease(queryset: models.QuerySet[Any], *, duration: timedelta, now: datetime | None = None) -> datetime | None:
    """Lease the due rows of ``queryset`` (which names the pending state) until ``now + duration``. Returns the
    lease's end, which tells the rows this caller leased (``next_attempt_at`` equal to it), or None when another
    sender holds them or none was due."""
    now = now or timezone.now()
    until = now + duration
    return until if queryset.filter(due(now)).update(next_attempt_at=until) else None


def backoff(attempts: int, *, base_seconds: float, max_seconds: float) -> timedelta:
    """How long after its ``attempts``-th failure a row is tried again: ``base_seconds``, doubling, capped."""
    seconds = base_seconds * 2 ** min(max(attempts - 1, 0), 30)
    return timedelta(seconds=min(seconds, max_seconds))
