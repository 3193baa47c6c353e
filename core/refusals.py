"""One refusal type for every app, and one way to record it.

An action refuses a write that an investigator would want to see (a file that is not a model, a breaking schema
change, a forged signature, private key material sent to the server) by raising ``Refusal``. The action records the
refusal itself, after its own work rolled back, in a transaction of its own (``refusals_recorded`` around the
action's atomic body, or ``do_record_refusal``), so that every caller (API, web UI, CLI, jobs) leaves the same audit
event and no caller records one. The API turns a ``Refusal`` into its one JSON error shape (core.api.exceptions);
the web views show it on the field it names.

A refusal recorded inside a transaction of the caller's is rolled back with it: call the refusing actions outside
any transaction of your own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.contrib.auth.models import User
from django.db import models, transaction

from core.audit import record_event
from core.choices import AuditEventType
from core.models import Team


class Refusal(Exception):
    """A refused write worth an audit event.

    ``reason`` is a stable code (``stale_manifest``, ``artifact_too_large``): the API's error code. ``message`` is
    the sentence a person reads, ``status`` the HTTP status the API answers with, ``field`` the request field at
    fault (the API names it in ``fields`` for a 400; a form shows the message on it). ``event_type`` and
    ``metadata`` are what the audit log records: what was tried and why, never the submitted material (no
    envelope, no signature bytes, no key, no file content).
    """

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        event_type: AuditEventType,
        status: int = 400,
        field: str = "",
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.event_type = event_type
        self.status = status
        self.field = field
        self.metadata: dict[str, Any] = dict(metadata) if metadata is not None else {"reason": reason}
        self.recorded = False

    def __str__(self) -> str:
        return self.message


class Busy(Exception):
    """Not a verdict on the request: a bounded resource (say, the host's model validation slots) is taken, and the
    same request may succeed after ``retry_after`` seconds. Nothing was written and nothing is audited; the API
    answers 503 with ``Retry-After`` and ``code``."""

    code = "busy"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@transaction.atomic
def do_record_refusal(
    refusal: Refusal,
    *,
    actor: User | None,
    target: models.Model | None = None,
    team: Team | None = None,
    context: Mapping[str, Any] | None = None,
) -> None:
    """Record ``refusal`` once, with ``context`` (say, how the request came) added to its metadata.

    Call it after the refused work rolled back, so that only the refusal remains."""
    if refusal.recorded:
        return
    metadata = {**refusal.metadata, **(context or {})}
    record_event(refusal.event_type, actor=actor, target=target, team=team, metadata=metadata)
    refusal.recorded = True


@contextmanager
def refusals_recorded(
    *,
    actor: User | None,
    target: models.Model | None = None,
    team: Team | None = None,
    context: Mapping[str, Any] | None = None,
) -> Iterator[None]:
    """Record any ``Refusal`` raised in the block (once), then let it go on. Wrap an action's atomic body in it,
    never the other way round: the refused transaction must have rolled back before the refusal is written."""
    try:
        yield
    except Refusal as refusal:
        do_record_refusal(refusal, actor=actor, target=target, team=team, context=context)
        raise
