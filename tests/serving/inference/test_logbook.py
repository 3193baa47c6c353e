"""The prediction logbook (serving.inference.logbook) in process: batches, the bounded buffer's overflow, the spool
while the database refuses writes, and its replay."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError
from django.utils import timezone

from core.choices import AuditEventType
from core.models import AuditEvent
from serving.actions import do_deploy, do_record_logs_dropped
from serving.inference.logbook import Logbook, inputs_digest, write_rows
from serving.models import Deployment, PredictionLog
from tests.serving.factories import approve

pytestmark = pytest.mark.django_db(transaction=True)


class Outage:
    """The database as the writer reaches it: ``down`` makes every write fail as a lost connection does
    (django.db.OperationalError) before anything reaches the table."""

    def __init__(self) -> None:
        self.down = False
        self.attempts = 0

    def __call__(self, rows: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
        self.attempts += 1
        if self.down:
            raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")
        return write_rows(rows, **options)


@pytest.fixture
def deployment(rw: Any) -> Deployment:
    approve(rw)
    return do_deploy(rw.release, actor=rw.cast.engineer_a)


def row(deployment: Deployment, n: int = 0, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "request_id": str(uuid.uuid4()),
        "logged_at": timezone.now(),
        "environment_id": deployment.environment_id,
        "model_id": deployment.model_id,
        "deployment_id": deployment.pk,
        "model_version_id": deployment.model_version_id,
        "role": "primary",
        "returned": True,
        "token_id": None,
        "caller": "svc-scoring",
        "routing_key_digest": "",
        "subject_digest": "",
        "rows": 1,
        "inputs": [{"x": n}],
        "inputs_sha256": "",
        "outputs": [{"y": n + 1}],
        "scores": [0.5],
        "latency_us": 100,
        "quality": {},
    }
    fields.update(overrides)
    return fields


@pytest.fixture
def outage() -> Outage:
    return Outage()


@pytest.fixture
def logbook(tmp_path: Path, outage: Outage) -> Logbook:
    return Logbook(capacity=50, batch=10, flush_seconds=0.05, spool_dir=tmp_path / "spool", sink=outage)


def test_rows_are_written_in_batches_with_the_digest_of_their_inputs(deployment: Deployment, logbook: Logbook) -> None:
    """GIVEN 25 rows submitted
    WHEN the writer flushes
    THEN all 25 are in the table (three batches), each with the canonical digest of its inputs."""
    rows = [row(deployment, n) for n in range(25)]
    logbook.submit(rows)
    logbook.flush()
    assert PredictionLog.objects.count() == 25
    stored = PredictionLog.objects.get(request_id=rows[3]["request_id"])
    assert stored.inputs == [{"x": 3}]
    assert stored.inputs_sha256 == inputs_digest([{"x": 3}])
    assert logbook.written == 25


def test_while_the_database_is_down_batches_are_spooled_and_written_when_it_returns(
    deployment: Deployment, logbook: Logbook, outage: Outage, tmp_path: Path
) -> None:
    """GIVEN the database refusing writes
    WHEN rows are submitted and flushed, and a durable row is written
    THEN they wait in fsynced spool files, nothing in the table; WHEN the database returns THEN the next flush
    replays every spooled row, in order, once, and removes the files."""
    outage.down = True
    first = [row(deployment, n) for n in range(12)]
    logbook.submit(first)
    logbook.flush()
    durable = row(deployment, 99)
    logbook.write_now([durable])
    assert PredictionLog.objects.count() == 0
    files = logbook.spool_files
    assert len(files) >= 2
    spooled = sum(len(path.read_text().splitlines()) for path in files)
    assert spooled == 13
    assert logbook.spooled == 13
    outage.down = False
    later = [row(deployment, 100 + n) for n in range(3)]
    logbook.submit(later)
    # The writer probes the database again after PROBE_SECONDS; this flush may come sooner: force the probe.
    logbook._db_down_at = None
    logbook.flush()
    assert logbook.spool_files == []
    ids = {str(value) for value in PredictionLog.objects.values_list("request_id", flat=True)}
    assert ids == {r["request_id"] for r in [*first, durable, *later]}
    assert PredictionLog.objects.count() == 16
    stored = PredictionLog.objects.get(request_id=durable["request_id"])
    assert isinstance(stored.logged_at, datetime)
    assert stored.logged_at == durable["logged_at"]


def test_a_replay_after_a_crash_between_insert_and_removal_writes_nothing_twice(
    deployment: Deployment, logbook: Logbook, outage: Outage
) -> None:
    """GIVEN a spooled batch whose rows reached the table anyway (the process died after the insert committed and
    before the file was removed)
    WHEN the spool is replayed
    THEN the rows already there are not written again."""
    rows = [row(deployment, n) for n in range(4)]
    outage.down = True
    logbook.write_now(rows)
    outage.down = False
    write_rows(rows[:2])
    assert logbook.replay()
    assert PredictionLog.objects.count() == 4


def test_a_full_buffer_drops_counts_and_reports_once_a_minute(deployment: Deployment, tmp_path: Path) -> None:
    """GIVEN a buffer of 5 rows whose writer has not run
    WHEN 8 rows are submitted, then 2 more
    THEN 5 are kept and 5 dropped; the flush writes the 5 and records serving.logs_dropped with the count; a second
    flush within the minute records nothing more."""
    reports: list[tuple[int, datetime]] = []

    def report(count: int, since: datetime) -> None:
        reports.append((count, since))
        do_record_logs_dropped(count, since=since, process="test:1")

    book = Logbook(capacity=5, batch=10, flush_seconds=1, spool_dir=tmp_path / "spool", on_dropped=report)
    book.submit([row(deployment, n) for n in range(8)])
    book.submit([row(deployment, n) for n in range(2)])
    assert (book.depth, book.dropped) == (5, 5)
    book.flush()
    assert PredictionLog.objects.count() == 5
    book.submit([row(deployment, 50 + n) for n in range(7)])
    book.flush()
    assert [count for count, _ in reports] == [5]
    (event,) = AuditEvent.objects.filter(event_type=AuditEventType.PREDICTION_LOGS_DROPPED)
    assert event.metadata["dropped"] == 5
    assert event.metadata["process"] == "test:1"
    assert book.dropped == 7


def test_the_writer_thread_drains_the_buffer_and_stop_flushes_what_is_left(
    deployment: Deployment, logbook: Logbook
) -> None:
    """GIVEN the writer thread started
    WHEN rows are submitted and the logbook stopped
    THEN every row is in the table."""
    logbook.start()
    logbook.submit([row(deployment, n) for n in range(30)])
    logbook.stop()
    assert PredictionLog.objects.count() == 30


def test_rows_the_table_refuses_are_kept_aside_not_lost(deployment: Deployment, logbook: Logbook) -> None:
    """GIVEN a batch in which one row names a deployment that no longer exists and one a deleted token
    WHEN it is written
    THEN the others are in the table (the one of the deleted token without it), and the refused row is in the
    spool's rejected/ folder, counted."""
    good = row(deployment, 1)
    orphan = row(deployment, 2, deployment_id=deployment.pk + 1000)
    tokenless = row(deployment, 3, token_id=987654)
    logbook.submit([good, orphan, tokenless])
    logbook.flush()
    stored = {str(log.request_id): log for log in PredictionLog.objects.all()}
    assert set(stored) == {good["request_id"], tokenless["request_id"]}
    assert stored[tokenless["request_id"]].token_id is None
    assert logbook.rejected == 1
    (rejected,) = (logbook.spool_dir / "rejected").glob("*.jsonl")
    assert orphan["request_id"] in rejected.read_text()
    assert logbook.spool_files == []
