"""The OpenLineage transport into Assay's own store, and the one call the job runner makes: ``emit_run_event``.

``AssayStoreTransport`` is a transport of the openlineage-python client: its ``emit`` stores the event through the
ingestion action (``source=assay``, linked to the job record) and, when an external backend is configured, owes it
there through the outbox (lineage.forwarding). It runs in the caller's transaction: the runner emits START inside
the transaction that claims the job and COMPLETE/FAIL/ABORT inside the one that finishes it, so the job record and
its lineage commit together or not at all.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import RunEvent, RunState
from openlineage.client.serde import Serde
from openlineage.client.transport.transport import Transport

from lineage.actions import REFUSED, do_ingest_events
from lineage.choices import EventSource
from lineage.emit import build_run_event
from lineage.forwarding import queue_delivery

if TYPE_CHECKING:
    from openlineage.client.client import Event

    from core.models import Job

logger = logging.getLogger(__name__)


class AssayStoreTransport(Transport):
    """Stores each event in Assay's lineage store, linked to ``job``, and queues its forwarding."""

    kind = "assay"
    name = "assay-store"

    def __init__(self, job: Job | None) -> None:
        self.job = job
        self.emitted: list[dict[str, Any]] = []

    def emit(self, event: Event) -> None:
        payload = event_payload(event)
        store_events([payload], job=self.job)
        queue_delivery(payload, job=self.job)
        self.emitted.append(payload)


def event_payload(event: Event) -> dict[str, Any]:
    """The event as JSON (the client's own serialisation: nulls dropped, enums as their values)."""
    return Serde.to_dict(event)


class EventNotStored(Exception):
    """The store refused an event Assay built: a bug to fix, reported in the job's log (workers.runner)."""


def store_events(payloads: list[dict[str, Any]], *, job: Job | None) -> None:
    """Store Assay's own events as the job's team's (the ingestion action trusts that team). A job without a team
    (the audit chain's jobs) has no namespace of a team to write into: its events are only forwarded."""
    if job is None or job.team is None:
        return
    report = do_ingest_events(payloads, actor=None, source=EventSource.ASSAY, team=job.team, assay_job=job)
    refused = [result for result in report.results if result.status == REFUSED]
    if refused:
        raise EventNotStored("; ".join(f"{result.field or 'event'}: {result.message}" for result in refused))


def emit_run_event(
    job: Job, state: RunState, *, attempt: int, event_time: datetime | None = None, error: str = ""
) -> RunEvent:
    """Build ``job``'s run event for ``state`` and emit it through the client into Assay's store (and the outbox).

    The client adds what its configuration asks (environment facets, tags); ``OPENLINEAGE_DISABLED`` switches off
    the client, not Assay's own record, which the lineage gate needs: the event is then stored directly.
    """
    event = build_run_event(job, state, attempt=attempt, event_time=event_time, error=error)
    store = AssayStoreTransport(job)
    client = OpenLineageClient(transport=store)
    if client.transport is store:
        client.emit(event)
    else:
        store.emit(event)
    return event
