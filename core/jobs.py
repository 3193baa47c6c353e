"""The job layer's dispatch: ask for a background job by name, enqueued only after the transaction commits.

Apps never import the workers app. The workers app registers each job kind here at start-up
(``register_job_kind``); anyone may then ``dispatch_job("audit.verify", ...)``. The task receives only the job's
primary key, re-reads its row and records its progress there. ``finish_job`` ends a job exactly once, and
``sweep_interrupted_jobs`` takes back the jobs of a worker node that died. See docs/jobs.md.
"""

from __future__ import annotations

import logging
import queue
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models.functions import Greatest
from django.utils import timezone
from kombu import Exchange, Queue
from kombu.exceptions import KombuError

from assay.celery import app
from core.audit import record_event
from core.choices import FINISHED_JOB_STATUSES, AuditEventType, JobStatus
from core.models import Job, JobLogLine, Team
from core.querysets import CHANGE

logger = logging.getLogger(__name__)


# A job whose worker died this many times is failed rather than started again: it is likely the job itself that
# kills its worker (memory, a crash in native code), and retrying for ever would hide that.
MAX_ATTEMPTS = 3


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


# What a finished job made, as (label, URL) links for its page: each app that owns a job kind's outputs says how to
# link them (core knows no app above it). The function gets the job and returns links only to what still exists.
class OutputLinks(Protocol):
    def __call__(self, job: Job, /) -> list[tuple[str, str]]: ...


_OUTPUT_LINKS: dict[str, OutputLinks] = {}


def register_output_links(kind: str, links: OutputLinks) -> None:
    _OUTPUT_LINKS[kind] = links


def output_links(job: Job) -> list[tuple[str, str]]:
    """Links to what ``job`` made: empty unless it succeeded with a result of a kind some app links."""
    links = _OUTPUT_LINKS.get(job.kind)
    return links(job) if links is not None and job.status == JobStatus.SUCCEEDED and job.result else []


# What else happens when a job ends, in the transaction that ends it, whichever path ends it (its runner, a
# cancellation while queued, the sweep giving up): higher apps register here (workers closes the job's lineage run).
class FinishHook(Protocol):
    def __call__(self, job: Job, status: JobStatus, /) -> None: ...


_FINISH_HOOKS: list[FinishHook] = []


def register_finish_hook(hook: FinishHook) -> None:
    if hook not in _FINISH_HOOKS:
        _FINISH_HOOKS.append(hook)


def task_name(kind: str) -> str:
    return f"assay.job.{kind}"


class UnknownJobKind(ValueError):
    """No job kind of that name is registered: nothing was written."""


def _broker_errors(conn: Any) -> tuple[type[BaseException], ...]:
    # Each transport raises its own client's errors (redis.ConnectionError, kombu's ChannelError for the
    # filesystem, ...); kombu lists them per transport.
    return (KombuError, OSError, *conn.connection_errors, *conn.channel_errors)


# A queue no worker reads: the pre-flight check publishes a message there and takes it back.
PROBE_QUEUE = "assay.dispatch-probe"


def check_broker() -> None:
    """Fail fast, before anything is written, unless the broker takes a message now.

    Connecting is not enough: the filesystem transport "connects" to a folder it cannot write to. So the check
    publishes a message to a queue of its own and takes it back, on every transport: whatever breaks the job's own
    publish breaks this one first, and a refused dispatch leaves nothing (no job row, no audit event).
    """
    with app.connection_for_write() as conn:
        errors = _broker_errors(conn)
        try:
            conn.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=settings.JOB_DISPATCH_CHECK_TIMEOUT
            )
            # On the default exchange, straight to the queue: no exchange table is read (the filesystem transport
            # keeps those in files, which a lost folder would take with it) and nothing else is declared. (kombu's
            # stubs type the argument as a queue name; SimpleQueue takes a Queue as well.)
            probe = conn.SimpleQueue(Queue(PROBE_QUEUE, Exchange(""), routing_key=PROBE_QUEUE))  # type: ignore[arg-type]
            try:
                probe.put({"probe": True})
                # Each check takes one message after putting one, so the queue cannot be empty here unless the
                # broker lost the message; a concurrent check may take this one and leave its own, which is the same.
                probe.get(block=False).ack()
            finally:
                probe.close()
        except errors as exc:
            raise BrokerUnavailable(f"The job broker is unavailable: {exc}") from exc
        except queue.Empty:
            raise BrokerUnavailable("The job broker lost the message of its pre-flight check.") from None


def send_job(job: Job) -> None:
    """Publish the message that runs ``job``. Call after commit: the worker must find the row it names.

    The broker took a message moments before (``check_broker``); should it fail in between, the job is marked failed,
    so that it never sits "queued" with no message to run it, and its idempotency key is released: the job never
    ran, so the same request sent again starts it instead of returning this failure.
    """
    kind = _KINDS[job.kind]
    try:
        app.send_task(task_name(kind.name), args=[job.pk], queue=kind.queue, task_id=job.task_id)
    except _broker_errors(app.connection_for_write()) as exc:
        with transaction.atomic():
            Job.objects.filter(pk=job.pk).update(idempotency_key="")
            finish_job(job, status=JobStatus.FAILED, error=f"Could not reach the job broker: {exc}")
        raise BrokerUnavailable(f"The job broker is unavailable: {exc}") from exc


@transaction.atomic
def dispatch_job(
    kind: str,
    *,
    actor: User | AnonymousUser | None,
    team: Team | None = None,
    target: models.Model | None = None,
    params: dict[str, Any] | None = None,
    idempotency_key: str = "",
) -> tuple[Job, bool]:
    """Create a job record and enqueue its task after commit. Returns ``(job, created)``.

    With an ``idempotency_key``, a repeated request by the same user for the same kind returns the first job.
    Raises ``UnknownJobKind`` for a kind no app registered, and ``BrokerUnavailable`` (before writing anything)
    when the broker cannot be reached, or (after commit, with the job marked failed) when publishing fails.
    """
    if kind not in _KINDS:
        raise UnknownJobKind(f"Unknown job kind {kind!r}.")
    requester = actor if isinstance(actor, User) and actor.is_authenticated else None
    idempotency_key = idempotency_key if requester is not None else ""
    if idempotency_key:
        existing = _job_with_key(requester, kind, idempotency_key)
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
        idempotency_key=idempotency_key,
    )
    job.task_id = str(job.public_id)
    try:
        # Race: two requests with the same key both found no job above. The winner's commit makes the other fail
        # here, in full_clean's constraint check or (when still uncommitted then) on the unique constraint at
        # insert, which waits for the winner; either way the loser returns the winner's job.
        job.full_clean()
        with transaction.atomic():
            job.save(force_insert=True)
    except (ValidationError, IntegrityError):
        existing = _job_with_key(requester, kind, idempotency_key) if idempotency_key else None
        if existing is None:
            raise
        return existing, False
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
    transaction.on_commit(partial(send_job, job))
    return job, True


def _job_with_key(requester: User | None, kind: str, idempotency_key: str) -> Job | None:
    return Job.objects.filter(requested_by=requester, kind=kind, idempotency_key=idempotency_key).first()


def append_log(job: Job, message: str, level: str = "info") -> None:
    JobLogLine.objects.create(job=job, message=message[:10_000], level=level)


def record_progress(job: Job, fraction: float, stage: str) -> None:
    """Record how far a running job is. Progress only ever grows: a step reporting less than the record holds (a
    pipeline starting its own count at 0 after the job's first step, a retried attempt) leaves it where it is, in
    the same UPDATE, so two writers (the job and its Spark watcher) cannot move it back either. The stage is the
    latest step's. A job finished meanwhile keeps its final record."""
    fraction = min(max(float(fraction), 0.0), 1.0)
    Job.objects.filter(pk=job.pk).exclude(status__in=FINISHED_JOB_STATUSES).update(
        progress=Greatest(models.F("progress"), models.Value(fraction, output_field=models.FloatField())),
        stage=stage[:200],
    )


def start_attempt(job: Job, *, worker: str, process: str) -> Job:
    """Mark a claimed job running as its next attempt on node ``worker`` (``process`` names the pool process, for
    the log line), with its log line and ``job.started`` event. Call inside the transaction that locked its row."""
    # An earlier attempt was interrupted: either the same message came back still "running" (its pool process
    # died and the broker redelivered it: acks_late + reject_on_worker_lost, or Redis's visibility timeout), or
    # the start-up sweep queued the job again under a new message.
    retry = job.status == JobStatus.RUNNING or job.attempts > 0
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING,
        attempts=models.F("attempts") + 1,
        started_at=timezone.now(),
        stage="starting",
        worker=worker[:255],
    )
    job.refresh_from_db()
    append_log(
        job,
        f"{'restarted after an interrupted attempt' if retry else 'started'} on {worker} ({process})"
        f", attempt {job.attempts}",
    )
    record_event(
        AuditEventType.JOB_STARTED,
        actor=None,
        target=job,
        team=job.team,
        metadata={"attempt": job.attempts, "worker": worker},
    )
    return job


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
    for hook in _FINISH_HOOKS:
        hook(job, status)
    return True


@transaction.atomic
def do_cancel_job(job: Job, *, actor: User) -> Job:
    """Ask a job to stop. A queued job is cancelled at once; a running one stops at its next checkpoint.

    Only the requester, or an admin of the job's team, may cancel it.
    """
    if job.requested_by_id != actor.pk and not Job.objects.restrict(actor, CHANGE).filter(pk=job.pk).exists():
        raise PermissionDenied("Only the requester or a team admin may cancel this job.")
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


@transaction.atomic
def sweep_interrupted_jobs(*, worker: str) -> list[Job]:
    """Deal with the jobs a worker node was running when it died; called when the node starts again.

    A node that is only starting runs nothing yet, so every job still "running" under its name was interrupted.
    Each goes back to "queued" with a fresh message (a new ``task_id``: should the broker also redeliver the old
    message, the runner ignores it as stale), or fails once it has used up ``MAX_ATTEMPTS``. Returns the jobs swept.
    """
    swept = []
    for job in Job.objects.select_for_update().filter(status=JobStatus.RUNNING, worker=worker).order_by("pk"):
        swept.append(job)
        if job.cancel_requested_at is not None:
            finish_job(job, status=JobStatus.CANCELLED)
        elif job.kind not in _KINDS:
            finish_job(job, status=JobStatus.FAILED, error=f"Interrupted, and the job kind {job.kind!r} is gone.")
        elif job.attempts >= MAX_ATTEMPTS:
            finish_job(
                job,
                status=JobStatus.FAILED,
                error=f"Gave up after {job.attempts} attempts: the worker stopped mid-job each time.",
            )
        else:
            job.status = JobStatus.QUEUED
            job.stage = "interrupted"
            job.task_id = str(uuid.uuid4())
            job.save(update_fields=["status", "stage", "task_id"])
            append_log(
                job,
                f"attempt {job.attempts} was interrupted: worker {worker} stopped mid-job; queued again",
                level="warning",
            )
            record_event(
                AuditEventType.JOB_INTERRUPTED,
                actor=None,
                target=job,
                team=job.team,
                metadata={"attempt": job.attempts, "worker": worker},
            )
            # robust: a publish failure (which marks that job failed) must not keep the other jobs from being sent.
            transaction.on_commit(partial(send_job, job), robust=True)
    return swept
