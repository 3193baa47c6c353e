"""Jobs run by a real Celery worker process: the whole path, cancellation, and a worker that dies mid-job."""

from __future__ import annotations

import pytest

from core import audit
from core.choices import JobStatus
from core.models import AuditEvent, Job
from tests.workers.conftest import events_of, grow_chain, job_held, wait_for_job

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Enough events that verifying them takes a few chunks (progress calls, each a cancellation point), and long
# enough to be seen running; job_held then keeps it mid-job for as long as the test needs.
LONG_CHAIN = 6_000


def test_audit_verification_runs_end_to_end(cast, api_as, worker):
    """GIVEN a compliance officer and a running worker
    WHEN they ask for a verification of the audit chain
    THEN the request answers 202 with the queued job, the worker runs it to success with progress 1.0, log lines and
    the chain report as its result, and job.requested, job.started and job.succeeded are in a chain that verifies.
    """
    response = api_as(cast.compliance).post("/api/v1/audit-verifications/", {}, format="json")

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued"
    assert body["kind"] == "audit.verify"
    assert body["requested_by"] == cast.compliance.username
    job = Job.objects.get(public_id=body["id"])

    job = wait_for_job(job)

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.progress == 1.0
    assert job.attempts == 1
    assert job.worker == worker.node
    assert job.result["intact"] is True
    assert job.result["events_checked"] >= 3
    messages = list(job.log_lines.values_list("message", flat=True))
    assert messages[0] == f"queued by {cast.compliance.username}"
    assert any(message.startswith(f"started on {worker.node}") for message in messages)
    assert any("verified" in message for message in messages)
    assert messages[-1] == "succeeded"
    assert events_of(job) == ["job.requested", "job.started", "audit.chain_verified", "job.succeeded"]
    assert audit.verify_chain().intact

    detail = api_as(cast.compliance).get(f"/api/v1/jobs/{job.public_id}/")
    assert detail.status_code == 200
    assert detail.json()["status"] == "succeeded"
    assert [line["message"] for line in detail.json()["log"]] == messages


def test_a_running_job_stops_at_its_next_progress_call_when_cancelled(cast, api_as, worker):
    """GIVEN a verification of a long chain, running on the worker
    WHEN its requester cancels it mid-job
    THEN the job stops at its next progress call: cancelled, not finished, no result and no verification recorded.
    """
    grow_chain(LONG_CHAIN)
    client = api_as(cast.compliance)
    job = Job.objects.get(public_id=client.post("/api/v1/audit-verifications/", {}, format="json").json()["id"])
    wait_for_job(job, until=lambda j: j.status == JobStatus.RUNNING and j.progress > 0)

    with job_held(job):
        job.refresh_from_db()
        assert job.status == JobStatus.RUNNING, "the job finished before it could be held: grow the chain"
        response = client.post(f"/api/v1/jobs/{job.public_id}/cancel/")
        assert response.status_code == 200
        assert response.json()["cancel_requested_at"] is not None
        assert response.json()["status"] == "running"

    job = wait_for_job(job)

    assert job.status == JobStatus.CANCELLED
    assert job.progress < 1.0
    assert job.result == {}
    assert events_of(job) == ["job.requested", "job.started", "job.cancel_requested", "job.cancelled"]
    assert not AuditEvent.objects.filter(event_type="audit.chain_verified").exists()
    assert audit.verify_chain().intact


def test_a_worker_killed_mid_job_is_swept_and_the_job_retried_once_to_success(cast, api_as, start_worker):
    """GIVEN a verification running on worker node N
    WHEN the whole node is SIGKILLed mid-job (main process and pool child: its message is lost on the filesystem
    broker, and held unacknowledged on Redis) and node N is started again
    THEN its start-up sweep queues the job again with a fresh message, and the job succeeds on attempt 2: never
    left running, finished exactly once, and the old message (should Redis redeliver it) is stale.
    """
    grow_chain(LONG_CHAIN)
    first = start_worker()
    job = Job.objects.get(
        public_id=api_as(cast.compliance).post("/api/v1/audit-verifications/", {}, format="json").json()["id"]
    )
    wait_for_job(job, until=lambda j: j.status == JobStatus.RUNNING and j.progress > 0)
    first_message = job.task_id

    with job_held(job):
        job.refresh_from_db()
        assert job.status == JobStatus.RUNNING, "the job finished before it could be held: grow the chain"
        first.kill()

    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING  # nobody is running it: only the node's return can tell
    assert job.worker == first.node

    start_worker(name=first.name)
    job = wait_for_job(job)

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.attempts == 2
    assert job.task_id != first_message
    assert job.result["intact"] is True
    messages = list(job.log_lines.values_list("message", flat=True))
    assert any(f"attempt 1 was interrupted: worker {first.node} stopped mid-job" in m for m in messages)
    assert any(m.startswith("restarted after an interrupted attempt") and "attempt 2" in m for m in messages)
    assert events_of(job) == [
        "job.requested",
        "job.started",
        "job.interrupted",
        "job.started",
        "audit.chain_verified",
        "job.succeeded",
    ]
    assert audit.verify_chain().intact


def test_a_pool_process_killed_mid_job_gives_its_message_back_and_the_job_restarts(cast, api_as, worker):
    """GIVEN a verification running in the worker's pool process
    WHEN that process alone is SIGKILLed mid-job (the worker's main process lives on)
    THEN the main process rejects the message back to the queue (acks_late + reject_on_worker_lost), a new pool
    process takes it, and the job restarts as attempt 2 and succeeds once.
    """
    grow_chain(LONG_CHAIN)
    job = Job.objects.get(
        public_id=api_as(cast.compliance).post("/api/v1/audit-verifications/", {}, format="json").json()["id"]
    )
    wait_for_job(job, until=lambda j: j.status == JobStatus.RUNNING and j.progress > 0)

    with job_held(job):
        job.refresh_from_db()
        assert job.status == JobStatus.RUNNING, "the job finished before it could be held: grow the chain"
        worker.kill_child()

    job = wait_for_job(job)

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.attempts == 2
    assert events_of(job) == ["job.requested", "job.started", "job.started", "audit.chain_verified", "job.succeeded"]
    assert audit.verify_chain().intact
