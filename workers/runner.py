"""Runs one job: re-reads its record, moves it through its statuses and records progress and log lines.

Each attempt is an OpenLineage run (lineage.transport): START is emitted in the transaction that claims the job,
COMPLETE, FAIL or ABORT in the one that finishes it; an attempt interrupted by a dead worker is closed as FAIL when
the job is claimed again.

``job_task("kind")`` turns ``fn(job, ctx) -> dict`` into a Celery task named ``assay.job.kind`` and registers the
kind with the job layer. The task takes only the job's primary key.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Any

from celery import Task, shared_task
from django.db import transaction
from django.utils import timezone
from openlineage.client.event_v2 import RunState

from core.choices import JobStatus
from core.context import current_request_id
from core.jobs import (
    MAX_ATTEMPTS,
    append_log,
    finish_job,
    record_progress,
    register_job_kind,
    start_attempt,
    task_name,
)
from core.models import Job
from lineage.transport import emit_run_event

logger = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a job when its cancellation was requested."""


class JobFailed(Exception):
    """Raised by a job to fail with a message meant for its requester (no traceback in the record)."""


class JobContext:
    """What a running job uses to report: progress, log lines and the cancellation check.

    Progress never goes back (core.jobs.record_progress): a step reporting less than an earlier one keeps the
    record, and its log line, at the furthest point reached.
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self._furthest = 0.0

    def progress(self, fraction: float, stage: str = "") -> None:
        """Record the step (0..1, and a log line), then stop with ``JobCancelled`` if cancellation was asked."""
        self.report(fraction, stage, log=True)

    def report(self, fraction: float, stage: str = "", *, log: bool = True) -> None:
        """Like ``progress``; with ``log=False`` only the record is updated, without a log line or the cancellation
        check: for figures refreshed every few seconds by another thread (workers.spark)."""
        self._furthest = max(self._furthest, min(max(fraction, 0.0), 1.0))
        record_progress(self.job, self._furthest, stage)
        if not log:
            return
        if stage:
            append_log(self.job, f"{self._furthest:.0%} {stage}")
        self.check_cancelled()

    def log(self, message: str, level: str = "info") -> None:
        append_log(self.job, message, level)

    def check_cancelled(self) -> None:
        if Job.objects.filter(pk=self.job.pk, cancel_requested_at__isnull=False).exists():
            raise JobCancelled()


def worker_name() -> str:
    """This process's name, for log lines: the node name is in the job's ``worker`` field."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_job(job_id: int, *, task_id: str, worker: str) -> Job | None:
    """Claim the job for this attempt; None when there is nothing to run.

    Nothing runs when the job is gone, already finished (a redelivered message), cancelled, out of attempts, or
    when this message is not the one the job expects (``task_id``): the sweep re-sent the job under a new id and
    this is the old message, redelivered by the broker.
    """
    with transaction.atomic():
        # The row lock closes the race between two deliveries of the job (and a cancellation) claiming it at once.
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            logger.info("job %s no longer exists; nothing to do", job_id)
            return None
        if job.is_finished:
            logger.info("job %s already %s; ignoring a repeated message", job.public_id, job.status)
            return None
        if job.task_id and task_id != job.task_id:
            logger.info(
                "job %s was sent again as %s; ignoring the stale message %s", job.public_id, job.task_id, task_id
            )
            return None
        if job.cancel_requested_at is not None:
            finish_job(job, status=JobStatus.CANCELLED)
            return None
        if job.attempts >= MAX_ATTEMPTS:
            finish_job(
                job,
                status=JobStatus.FAILED,
                error=f"Gave up after {job.attempts} attempts: the worker stopped mid-job each time.",
            )
            return None
        if job.attempts:
            emit_lineage(
                job,
                RunState.FAIL,
                attempt=job.attempts,
                error=f"Attempt {job.attempts} was interrupted: its worker stopped mid-job.",
                at=timezone.now(),
            )
        job = start_attempt(job, worker=worker, process=worker_name())
        emit_lineage(job, RunState.START, attempt=job.attempts)
        return job


# The run state each final job status ends its OpenLineage run with.
FINAL_RUN_STATES = {
    JobStatus.SUCCEEDED: RunState.COMPLETE,
    JobStatus.FAILED: RunState.FAIL,
    JobStatus.CANCELLED: RunState.ABORT,
}


def close_run(job: Job, status: JobStatus, /) -> None:
    """The final event of the job's last attempt, whichever path ended the job (core.jobs' finish hook, registered
    by WorkersConfig.ready): its runner, a cancellation, the sweep giving up. A job that never started has no run."""
    if job.attempts:
        emit_lineage(job, FINAL_RUN_STATES[status], attempt=job.attempts, error=job.error)


def emit_lineage(job: Job, state: RunState, *, attempt: int, error: str = "", at: datetime | None = None) -> None:
    """Emit the event of ``job``'s run in a savepoint of the caller's transaction. Its event time is the job's start
    (START) or end (the others), so that building it again gives the same event. A failure to record lineage is
    the job's log line, not the job's failure: the lineage gate refuses a model whose producing run is missing."""
    when = at or (job.started_at if state == RunState.START else job.finished_at) or timezone.now()
    try:
        with transaction.atomic():
            emit_run_event(job, state, attempt=attempt, event_time=when, error=error)
    except Exception as exc:
        logger.exception("job %s: its %s lineage event was not recorded", job.public_id, state.value)
        append_log(job, f"lineage: the {state.value} event was not recorded: {type(exc).__name__}: {exc}", "error")


def run_job(job_id: int, fn: Callable[[Job, JobContext], dict[str, Any] | None], *, task_id: str, worker: str) -> None:
    token = current_request_id.set(f"job-{task_id}"[:64])
    try:
        job = claim_job(job_id, task_id=task_id, worker=worker)
        if job is None:
            return
        _run(job, fn)
    finally:
        current_request_id.reset(token)


def _run(job: Job, fn: Callable[[Job, JobContext], dict[str, Any] | None]) -> None:
    try:
        result = fn(job, JobContext(job))
    except JobCancelled:
        with transaction.atomic():
            finish_job(job, status=JobStatus.CANCELLED)
    except JobFailed as exc:
        with transaction.atomic():
            finish_job(job, status=JobStatus.FAILED, error=str(exc))
    except Exception as exc:
        logger.exception("job %s (%s) failed", job.public_id, job.kind)
        with transaction.atomic():
            finish_job(job, status=JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
    else:
        with transaction.atomic():
            finish_job(job, status=JobStatus.SUCCEEDED, result=result or {})


def job_task(kind: str, *, queue: str = "default", description: str = "") -> Callable[..., Any]:
    def decorate(fn: Callable[[Job, JobContext], dict[str, Any] | None]) -> Any:
        register_job_kind(kind, queue=queue, description=description or (fn.__doc__ or "").strip())

        @shared_task(name=task_name(kind), bind=True, ignore_result=True)
        def task(self: Task[Any, Any], job_id: int) -> None:
            run_job(
                int(job_id), fn, task_id=self.request.id or "", worker=self.request.hostname or socket.gethostname()
            )

        task.__doc__ = fn.__doc__
        # The job's own function, for running it in-process (tests): the task itself claims the job first.
        task.job_fn = fn  # type: ignore[attr-defined]
        return task

    return decorate
