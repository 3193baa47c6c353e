"""A fairness audit in a real Spark worker whose worker is killed mid-audit, while Spark scores the rows: no report
is registered by the killed attempt, the job is retried when the worker comes back, and exactly one report exists
at the end. Slow: it starts two workers. (A kill while the figures are computed, after Spark, goes the same way
through the job layer: one test of the two is kept for CI's time.)"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from audits.actions import do_request_audit
from audits.models import AuditReport
from core.choices import JobStatus
from tests.audits.factories import make_credit
from tests.audits.test_audit_job import write_credit
from tests.workers.conftest import spark_worker, start_worker, wait  # noqa: F401  (fixtures)

FIGURES = "computing the fairness figures"
SCORING_TIMEOUT = 180


def scoring_processes(worker: Any) -> list[int]:
    """The Python workers Spark starts for ``mapInPandas`` (``pyspark.daemon``) among the worker's processes (its
    process group): the audit's scoring is the only Python code its Spark jobs run, so one exists once scoring has
    started."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            group = int(stat.rsplit(")", 1)[1].split()[2])
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if group == worker.process.pid and "pyspark.daemon" in command:
            found.append(int(proc.name))
    return found


def test_a_worker_killed_while_spark_scores_leaves_no_report_and_the_retry_registers_one(
    spark_worker: Any,  # noqa: F811
    cast: Any,
    tmp_path: Path,
    settings: Any,
) -> None:
    settings.DATA_LAKE_ROOT = str(tmp_path / "lake")
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    # Enough rows that scoring them takes a few seconds, and few bootstrap iterations after it.
    write_credit(tmp_path / "lake" / "credit", n=400_000)
    objects = make_credit(cast.team_a, cast.engineer_a, tmp_path / "models")
    env = {"DATA_LAKE_ROOT": settings.DATA_LAKE_ROOT}
    worker = spark_worker(name=f"audit-kill-scoring-{tmp_path.name}", env=env)
    job, _ = do_request_audit(
        objects["model_version"],
        kind="fairness",
        actor=cast.engineer_a,
        dataset_version=objects["dataset_version"].pk,
        params={"label": "defaulted", "bootstrap_iterations": 20},
    )
    # GIVEN the audit running, and Spark's Python workers scoring its rows
    deadline = time.monotonic() + SCORING_TIMEOUT
    while not scoring_processes(worker):
        job.refresh_from_db()
        assert job.status in (JobStatus.QUEUED, JobStatus.RUNNING), job.error
        assert time.monotonic() < deadline, f"scoring never started; the job is at {job.stage!r}"
        time.sleep(0.05)
    # WHEN the worker is killed (SIGKILL to its process group: the pool process, the JVM and its Python workers)
    worker.kill()
    job.refresh_from_db()
    # THEN it was killed before the figures, and nothing was registered
    assert FIGURES not in (job.stage or ""), job.stage
    assert job.status == JobStatus.RUNNING
    assert not AuditReport.objects.exists()
    # WHEN the worker comes back under the same name THEN the sweep requeues the job, and its second attempt
    # registers exactly one report
    spark_worker(name=worker.name, env=env)
    job = wait(job)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.attempts == 2
    assert AuditReport.objects.filter(job=job).count() == 1
    assert AuditReport.objects.count() == 1
    assert AuditReport.objects.get().results["rows"] == 400_000
