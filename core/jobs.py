"""The job layer's dispatch: ask for a background job by name, enqueued only after the transaction commits.

Apps never import the workers app. The workers app registers each job kind here at start-up
(``register_job_kind``); anyone may then ``dispatch_job("audit.verify", ...)``. The task receives only the job's
primary key, re-reads its row and records its progress there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from core.audit import record_event
from core.choices import FINISHED_JOB_STATUSES, AuditEventType, JobStatus
from core.models import Job, JobLogLine, Team

logger = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """The broker cannot be reached: the job was not started (the API answers 503)."""


@dataclass(frozen=True)
class JobKind:
    name: str
    queue: str
    description: str


_KINDS: dict[str, JobKind] = {}


def register_job_kind(name: str, *, queue: str = "default", description: str = "") -> None:
    _KINDS[name] = JobKind(name, queue, description)


def job_kinds() -> dict[str, JobKind]:
    return dict(_KINDS)


def task_name(kind: str) -> str:
    return f"assay.job.{kind}"


def check_broker() -> None:
    """Fail fast, before anything is written, when the broker is down."""
    from assay.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=settings.JOB_DISPATCH_CHECK_TIMEOUT
            )
    except (OperationalError, OSError, ConnectionError) as exc:
        raise BrokerUnavailable(f"The job broker is unavailable: {exc}") from exc


def _send(job_id: int, kind: str) -> None:
    from assay.celery import app

    job = Job.objects.get(pk=job_id)
    try:
        app.send_task(task_name(kind), args=[job_id], queue=_KINDS[kind].queue, task_id=str(job.public_id))
    except (OperationalError, OSError, ConnectionError) as exc:
        # The job row is committed but the message was not sent: mark it failed so that it never sits "queued".
        with transaction.atomic():
            finish_job(job, status=JobStatus.FAILED, error=f"Could not reach the job broker: {exc}")
        raise BrokerUnavailable(f"The job broker is unavailable: {exc}") from exc


@transaction.atomic
def dispatch_job(
    kind: str,
    *,
    actor: Any | None,
    team: Team | None = None,
    target: models.Model | None = None,
    params: dict[str, Any] | None = None,
    idempotency_key: str = "",
) -> tuple[Job, bool]:
    """Create a job record and enqueue its task after commit. Returns ``(job, created)``.

    With an ``idempotency_key``, a repeated request by the same user for the same kind returns the first job.
    """
    if kind not in _KINDS:
        raise ValueError(f"Unknown job kind {kind!r}.")
    requester = actor if actor is not None and actor.is_authenticated else None
    if idempotency_key and requester is not None:
        existing = Job.objects.filter(requested_by=requester, kind=kind, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, False
    check_broker()
    job = Job(
        kind=kind,
        team=team,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:255] if target is not None else "",
        requested_by=requester,
        params=params or {},
        idempotency_key=idempotency_key if requester is not None else "",
    )
    job.full_clean()
    job.save()
    JobLogLine.objects.create(
        job=job, message=f"queued by {requester.get_username() if requester else 'the scheduler'}"
    )
    record_event(
        AuditEventType.JOB_REQUESTED,
        actor=requester,
        target=job,
        team=team,
        after={"kind": kind, "params": job.params, "target": job.target_repr},
    )
    transaction.on_commit(lambda: _send(job.pk, kind))
    return job, True


def append_log(job: Job, message: str, level: str = "info") -> None:
    JobLogLine.objects.create(job=job, message=message[:10_000], level=level)


_FINISH_EVENTS = {
    JobStatus.SUCCEEDED: AuditEventType.JOB_SUCCEEDED,
    JobStatus.FAILED: AuditEventType.JOB_FAILED,
    JobStatus.CANCELLED: AuditEventType.JOB_CANCELLED,
}


def finish_job(job: Job, *, status: JobStatus, result: dict[str, Any] | None = None, error: str = "") -> bool:
    """Move a job to a final status once. Returns False when it had already finished. Call inside a transaction."""
    now = timezone.now()
    # Conditional update: a job that finished meanwhile (say, cancelled) keeps its first final status.
    changed = (
        Job.objects.filter(pk=job.pk)
        .exclude(status__in=FINISHED_JOB_STATUSES)
        .update(
            status=status,
            finished_at=now,
            result=result or {},
            error=error[:20_000],
            progress=1.0 if status == JobStatus.SUCCEEDED else models.F("progress"),
        )
    )
    if not changed:
        return False
    job.refresh_from_db()
    append_log(job, f"{status}: {error}" if error else str(status), level="error" if error else "info")
    record_event(
        _FINISH_EVENTS[status], actor=None, target=job, team=job.team, after={"status": status, "error": error[:500]}
    )
    return True


@transaction.atomic
def do_cancel_job(job: Job, *, actor: Any) -> Job:
    """Ask a job to stop. A queued job is cancelled at once; a running one stops at its next checkpoint."""
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.is_finished:
        return job
    if job.cancel_requested_at is None:
        job.cancel_requested_at = timezone.now()
        job.save(update_fields=["cancel_requested_at"])
        record_event(AuditEventType.JOB_CANCEL_REQUESTED, actor=actor, target=job, team=job.team)
        append_log(job, f"cancellation requested by {actor.get_username()}")
    if job.status == JobStatus.QUEUED:
        finish_job(job, status=JobStatus.CANCELLED, error="")
    return job
