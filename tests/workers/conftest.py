"""Fixtures for the job layer: a real Celery worker process on the test database, the broker's queue, and helpers
to wait for a job, grow the audit chain and hold a job at its next write.

The worker is a subprocess started with the test process's environment, pointed at the test database through
DATABASE_URL and at the same broker (CELERY_BROKER_URL, and ASSAY_DATA_DIR for the embedded filesystem broker).
Tests that use it need committed data: they run with ``transactional_db``.

For the Spark tests: the ``lake`` fixture (events and a label spine as Parquet), ``_inputs`` (the datasets and feature
view over it) and ``spark_worker``, a real worker on the spark queue.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from django.conf import settings
from django.db import connection, transaction
from kombu import pools

from assay.celery import app
from core import audit
from core.choices import FINISHED_JOB_STATUSES, AuditEventType
from core.models import AuditEvent, Job, Team
from tests.registry.factories import EVENTS_SCHEMA, make_dataset, make_dataset_version, make_feature_view

REPO = Path(__file__).resolve().parents[2]
QUEUE = "default"
WORKER_READY_TIMEOUT = 60
JOB_TIMEOUT = 90


def database_url() -> str:
    """The URL of the test database (it exists once a DB fixture ran), for the worker process."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{host}{port}/{db['NAME']}"


def purge_queue() -> int:
    """Drop every message waiting in the job queue: messages of earlier runs must not reach this test's worker."""
    with app.connection_for_write() as conn:
        channel: Any = conn.default_channel
        # Declared first: on an empty Redis the queue does not exist yet, and purging it would raise.
        channel.queue_declare(QUEUE)
        return int(channel.queue_purge(QUEUE) or 0)


def queue_size() -> int:
    """Messages waiting in the job queue (declaring it first: an empty Redis queue does not exist)."""
    with app.connection_for_write() as conn:
        channel: Any = conn.default_channel
        return int(channel.queue_declare(QUEUE).message_count)


class Worker:
    """One `celery worker` process (prefork, one child) and its log file."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def node(self) -> str:
        """The node name the worker runs under, as jobs record it (``name@host``)."""
        from celery.utils.nodenames import gethostname

        return f"{self.name}@{gethostname()}"

    def start(self) -> Worker:
        command = [
            sys.executable, "-m", "celery", "-A", "assay", "worker",
            "-l", "info", "-Q", QUEUE, "-c", "1", "-n", self.node,
            # Gossip, mingle and heartbeats talk to other workers: not needed here, and mingle delays start-up.
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        # The worker logs "<node> ready." right after its worker_ready handlers (the sweep) have run.
        while f"{self.node} ready." not in self.log(offset):
            if self.process.poll() is not None:
                pytest.fail(f"worker {self.node} exited with {self.process.returncode}:\n{self.log(offset)[-4000:]}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"worker {self.node} not ready after {WORKER_READY_TIMEOUT}s:\n{self.log(offset)[-4000:]}")
            time.sleep(0.05)
        return self

    def log(self, offset: int = 0) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        """SIGKILL the whole process group, main process and pool child alike: a machine that dies."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def kill_child(self) -> None:
        """SIGKILL only the pool process running the job; the main process lives on and sees it die."""
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        assert len(children) == 1, f"expected one pool process, found {children}"
        os.kill(int(children[0]), signal.SIGKILL)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture
def start_worker(transactional_db: None, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """``start_worker(name=None, env=None)``: start a real worker on the test database and wait until it is ready.

    The queue is purged before the first worker of the test starts. Every worker is stopped at teardown.
    """
    purge_queue()
    workers: list[Worker] = []
    run = uuid.uuid4().hex[:8]

    def start(name: str | None = None, env: dict[str, str] | None = None) -> Worker:
        worker_env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "ASSAY_DATA_DIR": str(settings.DATA_DIR),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        name = name or f"jobs-test-{run}-{len(workers)}"
        worker = Worker(name, worker_env, tmp_path / f"{name}.log").start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    # Close before the flush: the worker is gone, but on SQLite our connection may still hold a read snapshot.
    connection.close()


@pytest.fixture
def worker(start_worker: Callable[..., Worker]) -> Worker:
    return start_worker()


@pytest.fixture
def empty_queue() -> None:
    purge_queue()


def wait_for_job(job: Job, *, until: Callable[[Job], bool] | None = None, timeout: float = JOB_TIMEOUT) -> Job:
    """Poll the job's row until ``until(job)`` holds (by default: the job finished); fail with its log otherwise."""
    until = until or (lambda j: j.status in FINISHED_JOB_STATUSES)
    deadline = time.monotonic() + timeout
    while True:
        job.refresh_from_db()
        if until(job):
            return job
        if time.monotonic() > deadline:
            lines = "\n".join(job.log_lines.values_list("message", flat=True))
            pytest.fail(f"job {job.public_id} still {job.status} after {timeout}s; its log:\n{lines}")
        time.sleep(0.01)


def grow_chain(events: int) -> None:
    """Append ``events`` events to the audit chain in one transaction, so that verifying it takes a while."""
    team = Team.objects.first()
    with transaction.atomic():
        for number in range(events):
            audit.record_event(AuditEventType.TEAM_UPDATED, actor=None, target=team, team=team, after={"n": number})


@contextmanager
def job_held(job: Job) -> Iterator[None]:
    """Hold the job's row locked: its worker blocks at its next write to the job (a progress call) until we let go.

    On PostgreSQL this is the row lock; on SQLite the settings open transactions IMMEDIATE, which takes the
    database's single write lock (the worker waits on its busy timeout).
    """
    with transaction.atomic():
        Job.objects.select_for_update().get(pk=job.pk)
        yield


def events_of(job: Job) -> list[str]:
    return list(
        AuditEvent.objects.filter(target_type="core.job", target_id=str(job.pk))
        .order_by("seq")
        .values_list("event_type", flat=True)
    )


@pytest.fixture
def broker_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """``broker_at(url)``: point this process's Celery app at another broker for the rest of the test.

    The app reads its configuration once, at import, and keeps a connection pool and a producer pool for that
    broker: both are dropped so that the next publish connects to ``url``. Celery prefers the CELERY_BROKER_URL
    environment variable to its configuration, so that is changed too. Restored at teardown.
    """
    original = app.conf.broker_url

    def reset_pools() -> None:
        pools.reset()  # closes and forgets every pool, so the next one is made for the current URL
        # Celery's own after-fork reset does the same: its pools are cached on these two attributes.
        app._pool = None  # type: ignore[attr-defined]
        app.amqp._producer_pool = None  # type: ignore[attr-defined]

    def point(url: str) -> None:
        monkeypatch.setenv("CELERY_BROKER_URL", url)
        app.conf.update(broker_url=url)
        reset_pools()

    yield point
    monkeypatch.undo()
    app.conf.update(broker_url=original)
    reset_pools()


def closed_port_broker() -> str:
    """A Redis URL on a port where nothing listens: connecting is refused at once."""
    return "redis://127.0.0.1:6390/0"


# Spark: the data lake and inputs of the registry's Spark jobs, and a real worker on the spark queue (used by
# test_spark_job_kinds.py, test_spark_jobs.py and test_spark_cluster.py).

SPINE_SCHEMA: dict[str, Any] = {
    "columns": [
        {"name": "customer_id", "type": "int64", "nullable": False},
        {"name": "event_time", "type": "timestamp", "nullable": False},
        {"name": "churned", "type": "boolean", "nullable": False},
    ]
}
START = datetime(2024, 1, 1, tzinfo=UTC)
CUSTOMERS = 40


@pytest.fixture
def lake(settings: Any, tmp_path: Path) -> Path:
    settings.DATA_LAKE_ROOT = str(tmp_path / "lake")
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.SPARK_JOB_POLL_SECONDS = 1
    (tmp_path / "lake" / "events").mkdir(parents=True)
    (tmp_path / "lake" / "labels").mkdir(parents=True)
    events = [(c, START + timedelta(days=d, hours=c % 7)) for c in range(CUSTOMERS) for d in range(0, 60, 3 + c % 4)]
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([c for c, _ in events], pa.int64()),
                "event_time": pa.array([t for _, t in events], pa.timestamp("us", "UTC")),
                "amount": pa.array(
                    [Decimal(f"{(c * 7 + i) % 50}.25") for i, (c, _) in enumerate(events)], pa.decimal128(12, 2)
                ),
                "channel": pa.array(["web" if i % 3 else "shop" for i in range(len(events))]),
            }
        ),
        tmp_path / "lake" / "events" / "part-0.parquet",
    )
    spine = [(c, START + timedelta(days=30 + w * 7)) for c in range(CUSTOMERS) for w in range(4)]
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([c for c, _ in spine], pa.int64()),
                "event_time": pa.array([t for _, t in spine], pa.timestamp("us", "UTC")),
                "churned": pa.array([(c % 4 == 0) != (i % 9 == 0) for i, (c, _) in enumerate(spine)]),
            }
        ),
        tmp_path / "lake" / "labels" / "part-0.parquet",
    )
    return tmp_path / "lake"


def _inputs(cast: Any) -> tuple[Any, Any, Any]:
    engineer = cast.engineer_a
    events = make_dataset(cast.team_a, engineer, name="Events", location="lake://events")
    events_version = make_dataset_version(events, engineer, schema=EVENTS_SCHEMA)
    labels = make_dataset(cast.team_a, engineer, name="Churn labels", location="lake://labels")
    labels_version = make_dataset_version(labels, engineer, schema=SPINE_SCHEMA)
    features = [
        {"name": "spend_30d", "definition": "amount", "aggregation": "sum", "window": "30d"},
        {"name": "orders_30d", "definition": "1", "aggregation": "count", "window": "30d"},
    ]
    view = make_feature_view(cast.team_a, engineer, events, features=features)
    return view, events_version, labels_version


SPARK_JOB_TIMEOUT = 150


class SparkWorker(Worker):
    """A worker on the spark queue that also imports the test job kinds, as the Procfile's ``spark`` process."""

    def start(self) -> SparkWorker:
        command = [
            sys.executable, "-m", "celery", "-A", "assay", "worker", "-l", "info",
            "-Q", settings.SPARK_QUEUE, "-c", "1", "-n", self.node, "-I", "tests.workers.spark_job_kinds",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        while f"{self.node} ready." not in self.log(offset):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"worker {self.node} did not start:\n{self.log(offset)[-4000:]}")
            time.sleep(0.05)
        return self

    def pool_process(self) -> int:
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        assert len(children) == 1, children
        return int(children[0])


def purge(queue: str) -> None:
    with app.connection_for_write() as conn:
        channel: Any = conn.default_channel
        channel.queue_declare(queue)
        channel.queue_purge(queue)


@pytest.fixture
def spark_worker(start_worker: Callable[..., Worker], transactional_db: None, tmp_path: Path) -> Iterator[Any]:
    """``spark_worker(name=None, env=None)``: start a SparkWorker on the test database (stopped at teardown)."""
    purge(settings.SPARK_QUEUE)
    started: list[SparkWorker] = []

    def start(name: str | None = None, env: dict[str, str] | None = None) -> SparkWorker:
        # The base fixture's environment (database, broker, data folder), with a worker of our own class.
        probe_env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "ASSAY_DATA_DIR": str(settings.DATA_DIR),
            "ARTIFACT_ROOT": str(settings.ARTIFACT_ROOT),
            "PYTHONUNBUFFERED": "1",
            "SPARK_JOB_POLL_SECONDS": "1",
            **(env or {}),
        }
        worker = SparkWorker(name or f"spark-test-{len(started)}-{os.getpid()}", probe_env, tmp_path / "w.log")
        started.append(worker.start())
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait(job: Job, until: Callable[[Job], bool] | None = None) -> Job:
    return wait_for_job(job, until=until, timeout=SPARK_JOB_TIMEOUT)
