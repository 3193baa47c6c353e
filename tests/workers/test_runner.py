"""The runner's claim on a job, run in this process (``Task.apply``): repeated, stale and orphaned messages, and the
start-up sweep of a node's interrupted jobs."""

from __future__ import annotations

import pytest

from core.choices import JobStatus
from core.jobs import MAX_ATTEMPTS, dispatch_job, record_progress, sweep_interrupted_jobs
from core.models import Job
from tests.workers.conftest import events_of
from workers.runner import JobContext, claim_job
from workers.tasks import verify_audit_chain

NODE = "jobs-a@host"


@pytest.fixture
def job(cast):
    # The test's transaction never commits, so nothing is published: the tests hand the message over themselves.
    job, _ = dispatch_job("audit.verify", actor=cast.compliance)
    return job


def deliver(job_id: int, task_id: str):
    """Run the job's task here, as a worker would on receiving the message with ``task_id``."""
    result = verify_audit_chain.apply(args=[job_id], task_id=task_id)
    assert result.successful(), result.traceback
    return result


def test_a_delivered_message_runs_the_job_to_success(job):
    """GIVEN a queued job
    WHEN its message is delivered
    THEN the job runs once and succeeds."""
    deliver(job.pk, job.task_id)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 1
    assert events_of(job) == ["job.requested", "job.started", "audit.chain_verified", "job.succeeded"]


def test_a_redelivered_message_for_a_finished_job_does_nothing(job):
    """GIVEN a job that already succeeded
    WHEN the broker delivers its message again
    THEN nothing runs: same attempts, same result, no new event."""
    deliver(job.pk, job.task_id)
    job.refresh_from_db()
    finished_at, result = job.finished_at, job.result

    deliver(job.pk, job.task_id)

    job.refresh_from_db()
    assert job.attempts == 1
    assert (job.finished_at, job.result) == (finished_at, result)
    assert events_of(job) == ["job.requested", "job.started", "audit.chain_verified", "job.succeeded"]


def test_a_message_for_a_deleted_job_exits_cleanly(job):
    """GIVEN a job whose row was deleted after its message was sent
    WHEN the message is delivered
    THEN the task ends without error and writes nothing."""
    job_id, task_id = job.pk, job.task_id
    Job.objects.filter(pk=job_id).delete()

    deliver(job_id, task_id)

    assert not Job.objects.filter(pk=job_id).exists()
    assert events_of(job) == ["job.requested"]


def test_a_stale_message_for_a_job_sent_again_is_ignored(job):
    """GIVEN a job that the sweep sent again under a new message id
    WHEN the broker redelivers the old message
    THEN nothing runs: only the current message may start the job."""
    old_message = job.task_id
    claim_job(job.pk, task_id=job.task_id, worker=NODE)
    sweep_interrupted_jobs(worker=NODE)
    job.refresh_from_db()
    assert job.task_id != old_message

    deliver(job.pk, old_message)

    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert job.attempts == 1

    deliver(job.pk, job.task_id)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 2


def test_a_queued_job_is_cancelled_at_once_and_its_message_then_does_nothing(cast, api_as, job):
    """GIVEN a job still waiting in the queue
    WHEN its requester cancels it
    THEN it is cancelled at once, and its message, when it arrives, runs nothing."""
    response = api_as(cast.compliance).post(f"/api/v1/jobs/{job.public_id}/cancel/")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    deliver(job.pk, job.task_id)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.attempts == 0
    assert events_of(job) == ["job.requested", "job.cancel_requested", "job.cancelled"]


def test_someone_else_cannot_cancel_a_job(cast, api_as, job):
    """GIVEN a job requested by the compliance officer of team A
    WHEN an engineer of team B tries to cancel it
    THEN they get a 404, as for a job that does not exist, and the job goes on."""
    response = api_as(cast.engineer_b).post(f"/api/v1/jobs/{job.public_id}/cancel/")

    assert response.status_code == 404
    job.refresh_from_db()
    assert job.cancel_requested_at is None


def test_the_sweep_requeues_a_node_s_running_jobs_with_a_fresh_message(job, django_capture_on_commit_callbacks):
    """GIVEN a job running on node A, and another running on node B
    WHEN node A starts again and sweeps
    THEN only A's job goes back to queued with a new message id, a log line says why, and its message is sent after
    commit; B's job is left to B."""
    other, _ = dispatch_job("audit.verify", actor=None)
    claim_job(job.pk, task_id=job.task_id, worker=NODE)
    claim_job(other.pk, task_id=other.task_id, worker="jobs-b@host")
    old_message = job.task_id

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        swept = sweep_interrupted_jobs(worker=NODE)

    assert [j.pk for j in swept] == [job.pk]
    assert len(callbacks) == 1
    job.refresh_from_db()
    other.refresh_from_db()
    assert (job.status, job.stage, job.attempts) == (JobStatus.QUEUED, "interrupted", 1)
    assert job.task_id != old_message
    assert job.log_lines.filter(message__contains=f"worker {NODE} stopped mid-job", level="warning").exists()
    assert events_of(job)[-1] == "job.interrupted"
    assert other.status == JobStatus.RUNNING


def test_a_job_whose_worker_dies_every_time_fails_after_max_attempts(job):
    """GIVEN a job whose worker dies mid-job on every attempt
    WHEN the node restarts and sweeps after the last allowed attempt
    THEN the job fails, once, saying why, instead of being started for ever."""
    for _ in range(MAX_ATTEMPTS):
        job.refresh_from_db()
        assert claim_job(job.pk, task_id=job.task_id, worker=NODE) is not None
        sweep_interrupted_jobs(worker=NODE)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.attempts == MAX_ATTEMPTS
    assert f"Gave up after {MAX_ATTEMPTS} attempts" in job.error
    assert events_of(job) == (
        ["job.requested"] + ["job.started", "job.interrupted"] * (MAX_ATTEMPTS - 1) + ["job.started", "job.failed"]
    )


def test_a_cancelled_job_interrupted_mid_job_is_not_started_again(cast, job):
    """GIVEN a running job whose cancellation was asked, and whose worker then died
    WHEN the node sweeps
    THEN the job ends cancelled rather than queued again."""
    from core.jobs import do_cancel_job

    claim_job(job.pk, task_id=job.task_id, worker=NODE)
    do_cancel_job(job, actor=cast.compliance)

    sweep_interrupted_jobs(worker=NODE)

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_progress_never_goes_back(job):
    """GIVEN a running job at 40% (a pipeline that starts its own count at 0 after the job's first step, or a step
    reported after the pipeline's 100%, would move it back)
    WHEN a later step reports less
    THEN the record stays at the furthest point reached, with the latest step's name, and so does the log line;
    a writer that bypasses the job's context (the Spark watcher's thread) cannot move it back either."""
    job = claim_job(job.pk, task_id=job.task_id, worker=NODE)
    ctx = JobContext(job)
    ctx.progress(0.4, "reading")
    ctx.progress(0.0, "checking definitions")
    job.refresh_from_db()
    assert (job.progress, job.stage) == (0.4, "checking definitions")
    assert list(job.log_lines.order_by("pk").values_list("message", flat=True))[-2:] == [
        "40% reading",
        "40% checking definitions",
    ]
    record_progress(job, 0.1, "watcher")
    ctx.report(0.97, "registering", log=False)
    record_progress(job, 0.5, "late figures")
    job.refresh_from_db()
    assert (job.progress, job.stage) == (0.97, "late figures")
