"""Each job run is an OpenLineage run in Assay's store: START with the claim, COMPLETE/FAIL/ABORT with the end,
linked to the job record, with a run id derived from the job and attempt (lineage.emit, workers.runner)."""

from __future__ import annotations

from typing import Any

import pytest

from core.choices import JobStatus
from core.jobs import MAX_ATTEMPTS, dispatch_job, do_cancel_job, sweep_interrupted_jobs
from core.models import Job
from lineage.emit import run_id
from lineage.models import LineageDelivery, LineageEvent, LineageRun, RunEdge
from tests.lineage.job_kinds import KIND, lineage_reader
from tests.registry.factories import make_dataset, make_dataset_version
from workers.runner import claim_job
from workers.tasks import verify_audit_chain

NODE = "jobs-a@host"


@pytest.fixture
def events_version(cast: Any) -> Any:
    dataset = make_dataset(cast.team_a, cast.engineer_a, name="Events", location="s3://bank-data/events/")
    return make_dataset_version(dataset, cast.engineer_a)


def request(cast: Any, version: Any, end: str = "succeed") -> Job:
    job, _ = dispatch_job(KIND, actor=cast.engineer_a, team=cast.team_a, params={"input": version.pk, "end": end})
    return job


def deliver(job: Job) -> Job:
    result = lineage_reader.apply(args=[job.pk], task_id=job.task_id)
    assert result.successful(), result.traceback
    job.refresh_from_db()
    return job


def states(run: LineageRun) -> list[str]:
    return list(run.transitions.order_by("event_time", "pk").values_list("state", flat=True))


def test_a_job_that_succeeds_emits_start_and_complete_with_its_input(cast: Any, events_version: Any) -> None:
    """GIVEN a job of a kind that reads a dataset version
    WHEN it runs to success
    THEN its run is in the store, linked to the job, START then COMPLETE, with the version as input."""
    job = deliver(request(cast, events_version))
    assert job.status == JobStatus.SUCCEEDED

    run = LineageRun.objects.get(assay_job=job)
    assert run.run_id == run_id(job, 1)
    assert (run.job.namespace.name, run.job.name) == ("assay://team-a", KIND)
    assert run.state == "COMPLETE"
    assert states(run) == ["START", "COMPLETE"]
    assert run.started_at == job.started_at
    assert run.ended_at == job.finished_at
    edge = RunEdge.objects.get(run=run)
    assert (edge.direction, edge.dataset.namespace.name, edge.dataset.name) == ("input", "s3://bank-data", "events")
    assert edge.version == events_version.content_fingerprint
    assert edge.schema is not None
    assert [f["name"] for f in edge.schema.fields] == [c["name"] for c in events_version.schema["columns"]]
    assert set(LineageEvent.objects.filter(run_id=run.run_id).values_list("source", flat=True)) == {"assay"}
    # Forwarding is not configured: nothing is owed.
    assert not LineageDelivery.objects.exists()


def test_a_failing_job_emits_fail_with_its_error(cast: Any, events_version: Any) -> None:
    job = deliver(request(cast, events_version, end="fail"))
    assert job.status == JobStatus.FAILED

    run = LineageRun.objects.get(assay_job=job)
    assert states(run) == ["START", "FAIL"]
    fail = LineageEvent.objects.get(run_id=run.run_id, event_type="FAIL")
    assert fail.payload["run"]["facets"]["errorMessage"]["message"] == "The column 'amount' is missing."


def test_a_crashing_job_emits_fail_with_the_exception(cast: Any, events_version: Any) -> None:
    job = deliver(request(cast, events_version, end="crash"))
    fail = LineageEvent.objects.get(run_id=run_id(job, 1), event_type="FAIL")
    assert fail.payload["run"]["facets"]["errorMessage"]["message"] == "RuntimeError: boom"


def test_a_cancelled_job_emits_abort(cast: Any, events_version: Any) -> None:
    job = deliver(request(cast, events_version, end="cancel"))
    assert job.status == JobStatus.CANCELLED
    assert states(LineageRun.objects.get(assay_job=job)) == ["START", "ABORT"]


def test_a_redelivered_message_emits_nothing_more(cast: Any, events_version: Any) -> None:
    job = deliver(request(cast, events_version))
    before = LineageEvent.objects.count()
    deliver(job)
    assert LineageEvent.objects.count() == before
    assert LineageRun.objects.filter(assay_job=job).count() == 1


def test_an_interrupted_attempt_is_closed_as_failed_and_the_retry_is_a_new_run(cast: Any, events_version: Any) -> None:
    """GIVEN a job whose worker died mid-job (the node swept it back to the queue)
    WHEN it is claimed again
    THEN the first attempt's run ends FAIL saying so, and the second attempt is a run of its own."""
    job = request(cast, events_version)
    claim_job(job.pk, task_id=job.task_id, worker=NODE)
    sweep_interrupted_jobs(worker=NODE)
    job.refresh_from_db()
    job = deliver(job)
    assert job.attempts == 2

    first = LineageRun.objects.get(run_id=run_id(job, 1))
    second = LineageRun.objects.get(run_id=run_id(job, 2))
    assert states(first) == ["START", "FAIL"]
    interrupted = LineageEvent.objects.get(run_id=first.run_id, event_type="FAIL")
    assert "interrupted" in interrupted.payload["run"]["facets"]["errorMessage"]["message"]
    assert states(second) == ["START", "COMPLETE"]
    assert {first.assay_job_id, second.assay_job_id} == {job.pk}


def test_a_job_the_sweep_gives_up_on_ends_its_last_run_failed(cast: Any, events_version: Any) -> None:
    """GIVEN a job whose worker died on every attempt
    WHEN the node's sweep gives up on it (core.jobs, not the runner)
    THEN each attempt's run ended FAIL, the last one with the sweep's reason."""
    job = request(cast, events_version)
    for _ in range(MAX_ATTEMPTS):
        job.refresh_from_db()
        assert claim_job(job.pk, task_id=job.task_id, worker=NODE) is not None
        sweep_interrupted_jobs(worker=NODE)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED

    runs = [LineageRun.objects.get(run_id=run_id(job, attempt)) for attempt in range(1, MAX_ATTEMPTS + 1)]
    assert [run.state for run in runs] == ["FAIL"] * MAX_ATTEMPTS
    last = LineageEvent.objects.get(run_id=runs[-1].run_id, event_type="FAIL")
    assert "Gave up after" in last.payload["run"]["facets"]["errorMessage"]["message"]


def test_a_job_cancelled_while_queued_again_aborts_its_interrupted_run(cast: Any, events_version: Any) -> None:
    """GIVEN a job queued again after its worker died mid-attempt
    WHEN its requester cancels it (it is queued: cancelled at once, by core.jobs)
    THEN the interrupted attempt's run ends ABORT."""
    job = request(cast, events_version)
    claim_job(job.pk, task_id=job.task_id, worker=NODE)
    sweep_interrupted_jobs(worker=NODE)
    do_cancel_job(job, actor=cast.engineer_a)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert states(LineageRun.objects.get(run_id=run_id(job, 1))) == ["START", "ABORT"]


def test_a_job_cancelled_before_it_ever_ran_has_no_run(cast: Any, events_version: Any) -> None:
    job = request(cast, events_version)
    do_cancel_job(job, actor=cast.engineer_a)
    assert not LineageRun.objects.exists()
    assert not LineageEvent.objects.exists()


def test_a_job_without_a_team_runs_and_stores_no_lineage(cast: Any) -> None:
    """The audit chain's jobs have no team, so no team namespace to write into: they run as before."""
    job, _ = dispatch_job("audit.verify", actor=cast.compliance)
    result = verify_audit_chain.apply(args=[job.pk], task_id=job.task_id)
    assert result.successful()
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert not LineageRun.objects.exists()
    assert not job.log_lines.filter(message__startswith="lineage:").exists()


def test_a_lineage_failure_is_the_jobs_log_line_not_its_failure(
    cast: Any, events_version: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN the store refusing the job's events (a bug)
    WHEN the job runs
    THEN it still succeeds, and its log says which event was not recorded."""
    from lineage import transport

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise transport.EventNotStored("run.runId: not a UUID")

    monkeypatch.setattr(transport, "store_events", refuse)
    job = deliver(request(cast, events_version))
    assert job.status == JobStatus.SUCCEEDED
    lines = list(job.log_lines.filter(message__startswith="lineage:").values_list("message", "level"))
    assert lines == [
        ("lineage: the START event was not recorded: EventNotStored: run.runId: not a UUID", "error"),
        ("lineage: the COMPLETE event was not recorded: EventNotStored: run.runId: not a UUID", "error"),
    ]
