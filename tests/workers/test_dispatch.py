"""Dispatching jobs: after commit only, idempotent, and a fast 503 with nothing written when the broker or the
database is down. These use the real broker's queue (no worker runs, so a sent message stays there)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection, connections, transaction

from core import jobs
from core.choices import JobStatus
from core.jobs import UnknownJobKind, dispatch_job
from core.models import AuditEvent, Job
from tests.workers.conftest import closed_port_broker, queue_size

JOB_EVENTS = ("job.requested", "job.started", "job.interrupted", "job.succeeded", "job.failed", "job.cancelled")

# Generous: a refused connection answers in milliseconds; a hang would take the broker's or the driver's timeouts.
FAST = 5.0


def job_events() -> list[str]:
    return list(
        AuditEvent.objects.filter(event_type__in=JOB_EVENTS).order_by("seq").values_list("event_type", flat=True)
    )


def test_the_task_is_published_only_when_the_transaction_commits(cast, empty_queue, django_capture_on_commit_callbacks):
    """GIVEN a job dispatched inside a transaction
    WHEN the transaction has not committed yet
    THEN nothing is on the broker; once it commits, exactly one message is.
    """
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job, created = dispatch_job("audit.verify", actor=cast.compliance)

    assert created
    assert len(callbacks) == 1
    assert queue_size() == 0
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED

    callbacks[0]()

    assert queue_size() == 1


def test_a_rolled_back_transaction_sends_nothing(cast, empty_queue, django_capture_on_commit_callbacks):
    """GIVEN a job dispatched inside a transaction that then fails
    WHEN the transaction rolls back
    THEN no message is sent, and neither the job nor its audit event exists.
    """

    def change_that_fails() -> None:
        with transaction.atomic():
            dispatch_job("audit.verify", actor=cast.compliance)
            raise RuntimeError("the surrounding change failed")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError, match=r"^the surrounding change failed$"),
    ):
        change_that_fails()

    assert callbacks == []
    assert queue_size() == 0
    assert not Job.objects.exists()
    assert job_events() == []


def test_two_requests_with_the_same_idempotency_key_give_one_job(cast, api_as, empty_queue):
    """GIVEN a compliance officer who sends the same verification request twice with one idempotency key
    WHEN both arrive
    THEN the first answers 202 and the second 200 with the same job: one row, one event, one message.
    """
    client = api_as(cast.compliance)

    with transaction.atomic():  # the test's own transaction stands in for each request's commit below
        first = client.post("/api/v1/audit-verifications/", {"idempotency_key": "nightly-2026-11-27"}, format="json")
        second = client.post("/api/v1/audit-verifications/", {"idempotency_key": "nightly-2026-11-27"}, format="json")
        other = client.post("/api/v1/audit-verifications/", {"idempotency_key": "nightly-2026-11-28"}, format="json")

    assert (first.status_code, second.status_code, other.status_code) == (202, 200, 202)
    assert first.json()["id"] == second.json()["id"] != other.json()["id"]
    assert Job.objects.count() == 2
    assert job_events() == ["job.requested", "job.requested"]


@pytest.mark.django_db(transaction=True)
def test_idempotency_holds_when_the_request_is_repeated_after_commit(cast, api_as, empty_queue):
    """GIVEN a verification request that committed and sent its job
    WHEN the client repeats it with the same key (say, after a timeout)
    THEN it gets the same job back and no second message is sent.
    """
    client = api_as(cast.compliance)
    first = client.post("/api/v1/audit-verifications/", {"idempotency_key": "retry-1"}, format="json")
    second = client.post("/api/v1/audit-verifications/", {"idempotency_key": "retry-1"}, format="json")

    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["id"] == second.json()["id"]
    assert queue_size() == 1


@pytest.mark.django_db(transaction=True)
def test_simultaneous_requests_with_one_idempotency_key_give_one_job(cast, api_as, empty_queue):
    """GIVEN two copies of one verification request, with one idempotency key, sent at the same moment
    WHEN both are handled at once, each on its own connection
    THEN one creates the job (202) and the other returns it (200): one row, one event, one message.
    """
    clients = [api_as(cast.compliance), api_as(cast.compliance)]
    barrier = threading.Barrier(len(clients))
    responses: list[Any] = [None] * len(clients)

    def send(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            responses[index] = clients[index].post(
                "/api/v1/audit-verifications/", {"idempotency_key": "same-moment"}, format="json"
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(index,)) for index in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(response.status_code for response in responses) == [200, 202]
    assert responses[0].json()["id"] == responses[1].json()["id"]
    assert Job.objects.count() == 1
    assert job_events() == ["job.requested"]
    assert queue_size() == 1


def test_an_unknown_job_kind_is_refused_and_writes_nothing(cast):
    """GIVEN a job kind that no app registered
    WHEN someone asks for it
    THEN dispatch refuses it and nothing is written."""
    with pytest.raises(UnknownJobKind, match=r"no\.such\.kind"):
        dispatch_job("no.such.kind", actor=cast.compliance)

    assert not Job.objects.exists()
    assert job_events() == []


@pytest.mark.django_db(transaction=True)
def test_broker_down_answers_503_quickly_and_writes_nothing(cast, api_as, broker_at):
    """GIVEN a broker that refuses connections
    WHEN a compliance officer asks for a verification
    THEN the answer is a JSON 503 within seconds, and no job row nor job event was written.
    """
    client = api_as(cast.compliance)
    broker_at(closed_port_broker())

    started = time.monotonic()
    response = client.post("/api/v1/audit-verifications/", {}, format="json")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert elapsed < FAST
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "broker_unavailable"
    assert not Job.objects.exists()
    assert job_events() == []


@pytest.mark.django_db(transaction=True)
def test_a_publish_that_fails_after_commit_marks_the_job_failed_and_answers_503(cast, api_as, broker_at, monkeypatch):
    """GIVEN a broker that answers the pre-flight check and then goes down before the job's message is published
    WHEN a compliance officer asks for a verification
    THEN the answer is a JSON 503, and the committed job is marked failed (never left queued with no message).
    """
    client = api_as(cast.compliance)
    # The broker dies between the check and the commit: the check passes, the publish after commit does not.
    monkeypatch.setattr(jobs, "check_broker", lambda: None)
    broker_at(closed_port_broker())

    started = time.monotonic()
    response = client.post("/api/v1/audit-verifications/", {}, format="json")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert elapsed < FAST
    assert response.json()["error"]["code"] == "broker_unavailable"
    job = Job.objects.get()
    assert job.status == JobStatus.FAILED
    assert "Could not reach the job broker" in job.error
    assert job_events() == ["job.requested", "job.failed"]


@pytest.mark.django_db(transaction=True)
def test_database_down_answers_503_quickly(cast, api_as):
    """GIVEN a database that cannot be reached (its connection points at a closed port, or a missing file)
    WHEN an authenticated API request arrives
    THEN it answers a JSON 503 within seconds instead of hanging or failing with a 500.
    """
    client = api_as(cast.compliance)
    original = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-folder/assay.sqlite3"
    else:
        connection.settings_dict["HOST"], connection.settings_dict["PORT"] = "127.0.0.1", "1"
    try:
        started = time.monotonic()
        response = client.get("/api/v1/jobs/")
        elapsed = time.monotonic() - started
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)

    assert response.status_code == 503
    assert elapsed < FAST
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "database_unavailable"
    assert client.get("/api/v1/jobs/").status_code == 200
