"""Data-subject requests end to end through the actions and the jobs (run in this process by the real runner):
finding a subject's rows in the lake, erasing them, and what is kept and why."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from compliance import subject_datasets, subjects
from compliance.actions import subjects as actions
from compliance.models import (
    DatasetFilesErasure,
    SubjectErasure,
    SubjectRequest,
    SubjectRequestStatus,
    SubjectSearch,
)
from compliance.pipelines import subjects as pipeline
from core.canonical import canonical_digest
from core.choices import AuditEventType, JobStatus
from core.jobs import start_attempt, sweep_interrupted_jobs
from core.models import AuditEvent
from core.refusals import Refusal
from registry.pipelines import io
from tests.compliance.factories import (
    OTHER,
    PLAIN_SCHEMA,
    SUBJECT,
    erase,
    make_customers,
    make_request,
    run,
    search,
    write_customers,
)
from tests.registry.factories import make_dataset, make_dataset_version


def emails(folder: Path) -> list[str | None]:
    return sorted(
        (value for file in sorted(folder.glob("*.parquet")) for value in pq.read_table(file)["email"].to_pylist()),
        key=str,
    )


def events(event_type: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=event_type).order_by("seq"))


def test_a_request_is_recorded_with_its_deadline_and_a_hashed_identifier_in_the_audit_log(cast: Any) -> None:
    # GIVEN a compliance officer of team A
    # WHEN they record an erasure request received on 31 January
    received = dt.datetime(2026, 1, 31, 9, 0, tzinfo=dt.UTC)
    request = actions.do_create_subject_request(
        cast.team_a,
        actor=cast.compliance,
        kind="erasure",
        subject_identifier=SUBJECT,
        asked_by="Ana, by e-mail",
        received_at=received,
    )

    # THEN it is due one month later (the last day of February), received, with one transition row
    assert request.due_at == dt.datetime(2026, 2, 28, 9, 0, tzinfo=dt.UTC)
    assert request.status == SubjectRequestStatus.RECEIVED
    assert [(t.from_status, t.to_status) for t in request.transitions.all()] == [("", "received")]
    # AND the audit event carries the identifier's keyed hash, never the identifier
    (event,) = events(AuditEventType.SUBJECT_REQUEST_CREATED)
    assert event.after is not None
    assert event.after["subject_digest"] == subjects.subject_digest(SUBJECT) == request.subject_digest
    assert SUBJECT not in str(event.after) + str(event.metadata) + event.target_repr


def test_the_search_finds_every_row_of_the_subject_and_says_what_it_could_not_search(cast: Any, lake: Path) -> None:
    # GIVEN team A's customers table in the lake (the subject has rows in both files), a table without a
    # subject-identifier column, one in a bucket, and team B's copy of the customers table
    write_customers(lake)
    version = make_customers(cast)
    make_dataset_version(make_dataset(cast.team_a, cast.engineer_a, name="Plain"), cast.engineer_a, schema=PLAIN_SCHEMA)
    bucket = make_dataset_version(
        make_dataset(cast.team_a, cast.engineer_a, name="Remote", location="s3://lake/customers/"),
        cast.engineer_a,
        schema=version.schema,
    )
    write_customers(lake, "team-b")
    team_b = make_dataset(cast.team_b, cast.engineer_b, name="B", location="lake://team-b/", partitioning=[])
    make_dataset_version(team_b, cast.engineer_b, schema=version.schema)
    request = make_request(cast, kind="access")

    # WHEN the officer runs the search
    job = search(request, cast.compliance)

    # THEN the job succeeded and recorded one report listing the version, each file and its rows
    assert job.status == JobStatus.SUCCEEDED, job.error
    report = SubjectSearch.objects.get(request=request)
    (hit,) = report.hits
    assert (hit["object_id"], hit["label"], hit["rows"]) == (version.pk, str(version), 3)
    assert hit["files"] == [{"path": "part-0.parquet", "rows": 2}, {"path": "part-1.parquet", "rows": 1}]
    # AND the bucket's data is listed as not searched, with where it is
    (unsearched,) = report.unsearched
    assert unsearched["object_id"] == bucket.pk
    assert "s3://lake/customers/" in unsearched["why"]
    # AND the report has a digest over what it says, the request is reported, and the job's record holds counts only
    assert report.digest == actions.report_digest(request, report.hits, report.unsearched)
    request.refresh_from_db()
    assert request.status == SubjectRequestStatus.REPORTED
    assert job.result == {"search": report.pk, "hits": 1, "rows": 3, "digest": report.digest}
    (event,) = events(AuditEventType.SUBJECT_REQUEST_SEARCHED)
    assert event.metadata["rows"] == 3
    assert SUBJECT not in str(event.metadata)


def test_an_integer_identifier_matches_an_integer_column(cast: Any, lake: Path) -> None:
    write_customers(lake)
    make_customers(cast)
    request = make_request(cast, kind="access", identifier="1")

    search(request, cast.compliance)

    (hit,) = SubjectSearch.objects.get(request=request).hits
    assert hit["rows"] == 2


def test_csv_files_are_searched_too(cast: Any, lake: Path) -> None:
    write_customers(lake, "csv-customers", fmt="csv")
    make_customers(cast, folder="csv-customers", fmt="csv")
    request = make_request(cast, kind="access")

    search(request, cast.compliance)

    (hit,) = SubjectSearch.objects.get(request=request).hits
    assert hit["rows"] == 3


def test_an_unknown_subject_gets_an_empty_report_not_an_error(cast: Any, lake: Path) -> None:
    # GIVEN the customers table, in which nobody has this identifier
    write_customers(lake)
    make_customers(cast)
    request = make_request(cast, kind="access", identifier="nobody@example.com")

    # WHEN the search runs
    job = search(request, cast.compliance)

    # THEN it succeeds with an empty report
    assert job.status == JobStatus.SUCCEEDED
    report = SubjectSearch.objects.get(request=request)
    assert (report.hits, report.unsearched, report.hit_count, report.row_count) == ([], [], 0, 0)


def test_erasure_removes_the_subjects_rows_and_records_the_new_files(cast: Any, lake: Path) -> None:
    # GIVEN an erasure request whose search found three rows
    folder = write_customers(lake)
    version = make_customers(cast)
    request = make_request(cast)
    search(request, cast.compliance)
    before = canonical_digest(io.file_listing(sorted(folder.glob("*.parquet")), folder))

    # WHEN the officer confirms the erasure
    job = erase(request, cast.compliance)

    # THEN the subject's rows are gone and everyone else's are there (the null e-mail row too)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert emails(folder) == [None, OTHER, OTHER]
    # AND the version keeps its fingerprint; an erasure record holds the files' digests before and after
    record = DatasetFilesErasure.objects.get(request=request)
    after = canonical_digest(io.file_listing(sorted(folder.glob("*.parquet")), folder))
    assert (record.dataset_version_id, record.rows_erased) == (version.pk, 3)
    assert (record.files_before, record.files_after) == (before, after)
    assert subject_datasets.files_digest_after_erasure(version) == after
    # AND the erasure report lists what was done; the request is erased; the events are written
    erasure = SubjectErasure.objects.get(request=request)
    assert [(item["object_id"], item["rows"]) for item in erasure.done] == [(version.pk, 3)]
    assert erasure.kept == []
    request.refresh_from_db()
    assert request.status == SubjectRequestStatus.ERASED
    assert len(events(AuditEventType.DATASET_ROWS_ERASED)) == 1
    assert len(events(AuditEventType.SUBJECT_REQUEST_ERASED)) == 1
    # AND a new search finds nothing left
    assert pipeline.count_rows(sorted(folder.glob("*.parquet")), "parquet", {"email": "string"}, SUBJECT) == []


def test_erasing_twice_does_nothing_more(cast: Any, lake: Path) -> None:
    # GIVEN an erased request
    folder = write_customers(lake)
    make_customers(cast)
    request = make_request(cast)
    search(request, cast.compliance)
    first = erase(request, cast.compliance)
    files = canonical_digest(io.file_listing(sorted(folder.glob("*.parquet")), folder))
    written = AuditEvent.objects.count()

    # WHEN the officer confirms the erasure again
    again, created = actions.do_request_subject_erasure(request, actor=cast.compliance)

    # THEN they get the first job back, and nothing is rewritten or recorded
    assert (again.pk, created) == (first.pk, False)
    assert canonical_digest(io.file_listing(sorted(folder.glob("*.parquet")), folder)) == files
    assert (SubjectErasure.objects.count(), DatasetFilesErasure.objects.count()) == (1, 1)
    assert AuditEvent.objects.count() == written


def test_what_a_keeper_keeps_stays_with_why(cast: Any, lake: Path) -> None:
    # GIVEN a hold on the customers dataset (a registered keeper) and an erasure request with hits
    folder = write_customers(lake)
    version = make_customers(cast)

    def hold(request: Any, hit: Any) -> list[str]:
        return ["legal hold CASE-7 on the dataset"] if hit.get("dataset_id") == version.dataset_id else []

    subjects.register_erasure_keeper("test-hold", hold)
    try:
        request = make_request(cast)
        search(request, cast.compliance)

        # WHEN the erasure runs
        job = erase(request, cast.compliance)
    finally:
        subjects.unregister_erasure_keeper("test-hold")

    # THEN nothing was erased, and the report says what was kept and why
    assert job.status == JobStatus.SUCCEEDED
    assert emails(folder).count(SUBJECT) == 3
    erasure = SubjectErasure.objects.get(request=request)
    assert erasure.done == []
    (kept,) = erasure.kept
    assert (kept["object_id"], kept["why"]) == (version.pk, "legal hold CASE-7 on the dataset")
    assert not DatasetFilesErasure.objects.exists()


def test_data_in_a_bucket_is_reported_kept_because_it_was_not_searched(cast: Any, lake: Path) -> None:
    version = make_customers(cast, folder="x")
    bucket = make_dataset(cast.team_a, cast.engineer_a, name="Remote", location="s3://lake/customers/")
    make_dataset_version(bucket, cast.engineer_a, schema=version.schema)
    request = make_request(cast)
    search(request, cast.compliance)

    erase(request, cast.compliance)

    kept = SubjectErasure.objects.get(request=request).kept
    assert [item["label"] for item in kept] == ["Customers x v1", "Remote v1"]
    assert all(item["why"].startswith("not searched: ") for item in kept)


def test_a_search_killed_mid_way_writes_no_report_and_its_retry_writes_one(cast: Any, lake: Path) -> None:
    # GIVEN a search job whose worker dies after it started (the start-up sweep finds it running)
    write_customers(lake)
    make_customers(cast)
    request = make_request(cast, kind="access")
    job, _ = actions.do_request_subject_search(request, actor=cast.compliance)
    start_attempt(job, worker="node-1", process="pool-1")

    # WHEN the node comes back
    (swept,) = sweep_interrupted_jobs(worker="node-1")

    # THEN nothing half-written exists, and the job is queued again
    swept.refresh_from_db()
    assert swept.status == JobStatus.QUEUED
    assert not SubjectSearch.objects.exists()
    # AND its next attempt records exactly one report
    run(swept)
    assert swept.status == JobStatus.SUCCEEDED
    assert SubjectSearch.objects.filter(request=request).count() == 1


def test_a_search_that_fails_mid_way_fails_its_job_and_writes_no_report(
    cast: Any, lake: Path, monkeypatch: Any
) -> None:
    write_customers(lake)
    make_customers(cast)
    request = make_request(cast, kind="access")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk gone")

    monkeypatch.setattr(subject_datasets, "count_rows", broken)
    job = search(request, cast.compliance)

    assert job.status == JobStatus.FAILED
    assert "disk gone" in job.error
    assert not SubjectSearch.objects.exists()
    request.refresh_from_db()
    assert request.status == SubjectRequestStatus.RECEIVED


def test_an_erasure_killed_between_files_finishes_on_its_next_run(cast: Any, lake: Path, monkeypatch: Any) -> None:
    # GIVEN an erasure whose job dies after rewriting the first file
    folder = write_customers(lake)
    make_customers(cast)
    request = make_request(cast)
    search(request, cast.compliance)
    real = pipeline.rewrite_without
    calls: list[Path] = []

    def dies_on_second(file: Path, *args: Any) -> int:
        calls.append(file)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real(file, *args)

    monkeypatch.setattr(subject_datasets, "rewrite_without", dies_on_second)
    failed = erase(request, cast.compliance)
    assert failed.status == JobStatus.FAILED
    # THEN no erasure is recorded, and no file is half-written (the first is whole, the second untouched)
    assert not DatasetFilesErasure.objects.exists()
    assert not SubjectErasure.objects.exists()
    assert emails(folder).count(SUBJECT) == 1
    assert not list(folder.glob(".erasing-*"))

    # WHEN the officer confirms again
    monkeypatch.setattr(subject_datasets, "rewrite_without", real)
    job = erase(request, cast.compliance)

    # THEN the rest is erased, and the record counts every row of the report
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert emails(folder).count(SUBJECT) == 0
    assert DatasetFilesErasure.objects.get(request=request).rows_erased == 3


@pytest.mark.parametrize(
    ("identifier", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("x" * 257, "at most 256"),
        ("ana\x00@example.com", "U\\+0000"),
        ("ana\n", "U\\+000A"),
        ("\u202eana", "U\\+202E"),
        (" ana", "whitespace"),
    ],
)
def test_a_bad_identifier_is_refused_naming_the_field(cast: Any, identifier: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as refused:
        make_request(cast, identifier=identifier)
    assert "subject_identifier" in refused.value.message_dict


def test_an_engineer_cannot_record_a_request(cast: Any) -> None:
    with pytest.raises(PermissionDenied, match="compliance officers"):
        actions.do_create_subject_request(
            cast.team_a, actor=cast.engineer_a, kind="access", subject_identifier=SUBJECT, asked_by="x"
        )


def test_an_access_request_cannot_erase_and_the_refusal_is_recorded(cast: Any) -> None:
    request = make_request(cast, kind="access")

    with pytest.raises(Refusal, match="access request") as refused:
        actions.do_request_subject_erasure(request, actor=cast.compliance)

    assert refused.value.status == 409
    (event,) = events(AuditEventType.SUBJECT_REQUEST_REFUSED)
    assert event.metadata["reason"] == "not_an_erasure_request"


def test_erasure_needs_a_report_first(cast: Any) -> None:
    request = make_request(cast)

    with pytest.raises(Refusal, match="Search for the subject first"):
        actions.do_request_subject_erasure(request, actor=cast.compliance)


def test_a_closed_request_is_not_searched_again(cast: Any) -> None:
    request = make_request(cast, kind="access")
    closed = actions.do_close_subject_request(request, actor=cast.compliance, reason="answered by letter")
    assert closed.status == SubjectRequestStatus.CLOSED
    assert len(events(AuditEventType.SUBJECT_REQUEST_CLOSED)) == 1

    with pytest.raises(Refusal, match="closed"):
        actions.do_request_subject_search(closed, actor=cast.compliance)


def test_a_deadline_beyond_three_months_is_refused(cast: Any) -> None:
    with pytest.raises(ValidationError, match="three months") as refused:
        actions.do_create_subject_request(
            cast.team_a,
            actor=cast.compliance,
            kind="access",
            subject_identifier=SUBJECT,
            asked_by="x",
            due_at=timezone.now() + dt.timedelta(days=200),
        )
    assert "due_at" in refused.value.message_dict


@pytest.mark.parametrize(
    ("model", "changes"),
    [
        ("request", {"subject_identifier": "someone@else.example"}),
        ("request", {"due_at": dt.datetime(2099, 1, 1, tzinfo=dt.UTC)}),
        ("search", {"hits": []}),
        ("search", {"digest": "0" * 64}),
        ("erasure", {"kept": []}),
        ("dataset_erasure", {"files_after": "0" * 64}),
    ],
)
def test_what_was_recorded_cannot_be_rewritten(cast: Any, lake: Path, model: str, changes: dict[str, Any]) -> None:
    # GIVEN an erased request with its report and records
    write_customers(lake)
    make_customers(cast)
    request = make_request(cast)
    search(request, cast.compliance)
    erase(request, cast.compliance)
    rows = {
        "request": SubjectRequest.objects.filter(pk=request.pk),
        "search": SubjectSearch.objects.filter(request=request),
        "erasure": SubjectErasure.objects.filter(request=request),
        "dataset_erasure": DatasetFilesErasure.objects.filter(request=request),
    }

    # WHEN anything tries to change them in the database THEN the triggers refuse
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        rows[model].update(**changes)
