"""Spark jobs in real Celery workers on the "spark" queue: a prefork child starts its own SparkSession and runs the
job; a cancellation cancels the Spark job group; a worker killed mid-write leaves no orphaned files and the retried
job finishes once; a worker without Java fails the job with the fix in its message.

The jobs are the small kinds of tests/workers/spark_job_kinds.py, which run through the registry jobs' own plumbing
(workers.tasks.spark_work). Each worker start costs a JVM start in its pool process (7 to 14 s): few tests here.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings

from core.choices import JobStatus
from core.jobs import dispatch_job, do_cancel_job
from registry.pipelines import io
from tests.workers import spark_job_kinds  # noqa: F401  (registers the test kinds in this process)
from tests.workers.conftest import wait


def java_processes_under(pid: int) -> list[int]:
    """The java processes among ``pid``'s children."""
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            if Path(f"/proc/{child}/exe").resolve().name == "java":
                found.append(int(child))
        except OSError:
            continue
    return found


def test_a_prefork_child_runs_a_spark_job_with_its_own_session(spark_worker: Any) -> None:
    worker = spark_worker()
    # GIVEN a worker whose main process has started no JVM (workers.spark is lazy; nothing before the fork)
    assert java_processes_under(worker.process.pid) == []
    job, _ = dispatch_job("tests.spark_sum", actor=None, params={"n": 1000})
    job = wait(job)
    # THEN the pool process ran it on its own session, with Spark's figures recorded
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["sum"] == 499500
    assert job.result["ppid"] == worker.process.pid  # a forked child of the worker
    assert job.result["spark"]["stages_total"] >= 1
    assert job.result["spark"]["stages_done"] == job.result["spark"]["stages_total"]
    assert java_processes_under(worker.process.pid) == []
    assert java_processes_under(worker.pool_process())
    messages = list(job.log_lines.values_list("message", flat=True))
    assert any("summing" in message for message in messages)
    # AND a second job reuses the pool process's session (no second JVM)
    again, _ = dispatch_job("tests.spark_sum", actor=None, params={"n": 10})
    assert wait(again).result["sum"] == 45
    assert len(java_processes_under(worker.pool_process())) == 1


def test_cancelling_a_job_cancels_its_spark_job_group(spark_worker: Any, cast: Any) -> None:
    worker = spark_worker()
    # GIVEN a Spark job whose tasks would run for two minutes
    job, _ = dispatch_job("tests.spark_sum", actor=cast.superuser, params={"n": 4, "sleep": 20})
    wait(job, until=lambda j: "summing" in (j.stage or ""))
    time.sleep(2)
    # WHEN it is cancelled
    started = time.monotonic()
    do_cancel_job(job, actor=cast.superuser)
    job = wait(job)
    # THEN the running Spark tasks were interrupted: the job ends cancelled long before its tasks would finish
    assert job.status == JobStatus.CANCELLED
    assert time.monotonic() - started < 30, worker.log()[-6000:]


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (a killed process whose parent has not reaped it yet)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "zombie" not in status


def test_a_worker_killed_mid_write_leaves_no_orphaned_files_and_the_retry_finishes_once(spark_worker: Any) -> None:
    worker = spark_worker(name=f"spark-kill-{os.getpid()}")
    # GIVEN a job killed (worker, pool process and JVM) while Spark writes its Parquet into the staging area
    job, _ = dispatch_job("tests.spark_write", actor=None, params={"n": 4, "sleep_first_attempt": 60})
    job = wait(job, until=lambda j: "writing" in (j.stage or ""))
    staging = io.staging_root(settings.ARTIFACT_ROOT) / str(job.public_id)
    deadline = time.monotonic() + 60
    while not staging.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert staging.exists(), "the write never started"
    pool = worker.pool_process()
    jvms = java_processes_under(pool)
    worker.kill()
    # SIGKILL reached the JVMs with the group; a JVM with a few GB mapped and many threads takes a moment to go.
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in jvms) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in jvms if _alive(pid)], "a JVM outlived its killed worker"
    destination = io.output_path(settings.ARTIFACT_ROOT, "test-output", str(job.public_id))
    assert not destination.exists()
    # WHEN the worker comes back under the same name
    spark_worker(name=worker.name)
    job = wait(job)
    # THEN the job was retried once and wrote its output once; nothing is left in staging
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.attempts == 2
    assert job.result["attempt"] == 2
    assert destination.is_dir()
    assert not staging.exists()
    messages = list(job.log_lines.values_list("message", flat=True))
    assert any("interrupted" in message for message in messages)
    assert any("removed the staging files of an interrupted attempt" in message for message in messages)


def test_a_worker_without_java_fails_the_job_naming_the_fix(spark_worker: Any, tmp_path: Path) -> None:
    empty = tmp_path / "no-java"
    empty.mkdir()
    # GIVEN a worker whose JAVA_HOME is an empty folder and whose PATH holds no java
    spark_worker(env={"JAVA_HOME": str(empty), "PATH": str(Path(sys.executable).parent)})
    job, _ = dispatch_job("tests.spark_sum", actor=None, params={"n": 10})
    job = wait(job)
    # THEN the job fails at once with what to do
    assert job.status == JobStatus.FAILED
    assert f"JAVA_HOME={empty} holds no bin/java" in job.error
    assert "apt-get install openjdk-17-jre-headless" in job.error
