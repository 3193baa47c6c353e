"""The Spark jobs on a real Spark standalone cluster, as SPARK_MASTER=spark://... says (issue #5).

A Master and one Worker (1 core, 1 GiB) run on this machine from the pyspark install (tests/workers/spark_cluster.py);
a real Celery worker on the spark queue is pointed at the master. A materialization job then runs on the cluster's
executor, not in the worker's own JVM: the master lists the application of the worker's pool process, the executor
it launched ran the tasks, and the Python the executor starts for a Python UDF is the worker's own interpreter. The
executor reads the lake and writes ARTIFACT_ROOT through the same paths as the worker (one machine: a shared disk).

One test, about 50 s on an idle two-core machine: most of it is JVMs starting (master, worker, the job's driver, the
executor). The cluster's Spark worker starts while the database and the Celery worker are set up.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from core.choices import JobStatus
from core.jobs import dispatch_job
from registry import actions
from registry.models import FeatureSetVersion
from registry.pipelines import io
from tests.workers import spark_job_kinds  # noqa: F401  (registers the test kinds in this process)
from tests.workers.conftest import CUSTOMERS, _inputs, wait
from tests.workers.spark_cluster import StandaloneCluster
from workers.spark import java_problem


@pytest.fixture
def spark_cluster(tmp_path: Path) -> Iterator[StandaloneCluster]:
    problem = java_problem()
    if problem:
        pytest.skip(f"a Spark standalone cluster cannot start here: {problem}")
    # The Spark worker registers while the test sets up its database and Celery worker: wait_for_worker() in the test.
    cluster = StandaloneCluster(tmp_path / "spark-cluster", cores=1, memory="1g").start(wait=False)
    try:
        yield cluster
    finally:
        cluster.stop()


def descendants(pid: int) -> dict[int, list[str]]:
    """Every process below ``pid`` (children of any of its threads, and theirs), with its command line."""
    parents: dict[int, int] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            ppid = next(line for line in status.read_text().splitlines() if line.startswith("PPid:"))
        except (OSError, StopIteration):
            continue  # gone meanwhile
        parents[int(status.parent.name)] = int(ppid.split()[1])
    found: dict[int, list[str]] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                try:
                    found[child] = Path(f"/proc/{child}/cmdline").read_bytes().decode().split("\0")
                except OSError:
                    continue
                frontier.append(child)
    return found


def test_a_materialization_runs_on_the_standalone_cluster_named_by_spark_master(
    spark_cluster: StandaloneCluster,
    spark_worker: Any,
    cast: Any,
    lake: Path,
) -> None:
    # GIVEN a Spark worker whose SPARK_MASTER is the cluster's master, with executors small enough for its worker
    worker = spark_worker(
        env={
            "SPARK_MASTER": spark_cluster.master_url,
            "SPARK_EXECUTOR_MEMORY": "512m",
            "SPARK_DRIVER_MEMORY": "1g",
            "SPARK_SHUFFLE_PARTITIONS": "2",  # 2 x the cluster's one core
            "DATA_LAKE_ROOT": str(settings.DATA_LAKE_ROOT),
            "ARTIFACT_ROOT": str(settings.ARTIFACT_ROOT),
        }
    )
    view, events_version, labels_version = _inputs(cast)
    # WHEN a materialization is requested
    job, _ = actions.do_request_materialization(
        view, actor=cast.engineer_a, dataset_version=events_version.pk, spine_dataset_version=labels_version.pk
    )
    # (The job's SparkSession starts meanwhile; Spark holds its tasks until the cluster's worker offers cores.)
    spark_cluster.wait_for_worker()
    job = wait(job)
    # THEN the feature-set version is registered with every spine row, its Parquet under ARTIFACT_ROOT
    assert job.status == JobStatus.SUCCEEDED, f"{job.error}\n{worker.log()[-6000:]}"
    feature_set = FeatureSetVersion.objects.get(job=job)
    assert feature_set.row_count == CUSTOMERS * 4
    output = io.output_path(settings.ARTIFACT_ROOT, "features", str(job.public_id))
    assert output.is_dir()
    assert list(output.rglob("*.parquet"))
    # AND it ran as the pool process's application on the cluster, whose one executor ran its tasks
    app_name = f"assay-{worker.pool_process()}"
    apps = [app for app in spark_cluster.applications() if app["name"] == app_name]
    assert len(apps) == 1, spark_cluster.applications()
    app = apps[0]
    assert app["state"] == "RUNNING"  # the session lives on in the pool process for the next job
    assert app["cores"] == 1
    assert app["memoryperexecutor"] == 512
    (executor_dir,) = spark_cluster.executor_dirs(app["id"])
    executor_log = (executor_dir / "stderr").read_text(errors="replace")
    assert executor_log.count("Finished task") >= 4, executor_log[-4000:]
    command = executor_log.splitlines()[0]  # the worker writes the executor's command line first
    assert command.startswith("Spark Executor Command:"), command
    assert f'"--app-id" "{app["id"]}"' in command, command
    assert '"--driver-url" "spark://CoarseGrainedScheduler@127.0.0.1:' in command, command  # a loopback driver

    # WHEN a job with a Python UDF runs next, on the same application
    summed, _ = dispatch_job("tests.spark_sum", actor=None, params={"n": 8, "sleep": 0.01})
    summed = wait(summed)
    assert summed.status == JobStatus.SUCCEEDED, summed.error
    assert summed.result["sum"] == 28
    # THEN the executor ran the UDF in Python workers started with the Spark worker's own interpreter
    assert spark_cluster.worker is not None
    below_worker = descendants(spark_cluster.worker.pid)
    executors = {
        pid: cmd
        for pid, cmd in below_worker.items()
        if "org.apache.spark.executor.CoarseGrainedExecutorBackend" in cmd and app["id"] in cmd
    }
    assert len(executors) == 1, below_worker
    (executor_pid,) = executors
    daemons = [cmd for cmd in descendants(executor_pid).values() if cmd[1:3] == ["-m", "pyspark.daemon"]]
    assert daemons, descendants(executor_pid)
    assert {cmd[0] for cmd in daemons} == {sys.executable}

    # WHEN the worker stops, its session ends: the master records the application as finished
    worker.stop()
    deadline = time.monotonic() + 20  # the master hears of it from the driver, or notices the driver gone
    while not (finished := [app for app in spark_cluster.state()["completedapps"] if app["name"] == app_name]):
        assert time.monotonic() < deadline, spark_cluster.state()
        time.sleep(0.2)
    assert [app["state"] for app in finished] == ["FINISHED"]
