"""A fairness audit in a real Spark worker whose worker is killed mid-audit: no report is registered by the killed
attempt, the job is retried when the worker comes back, and exactly one report exists at the end. Slow: one test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audits.actions import do_request_audit
from audits.models import AuditReport
from core.choices import JobStatus
from tests.audits.factories import make_credit
from tests.audits.test_audit_job import write_credit
from tests.workers.conftest import spark_worker, start_worker, wait  # noqa: F401  (fixtures)

FIGURES = "computing the fairness figures"


def test_a_worker_killed_mid_audit_leaves_no_report_and_the_retry_registers_one(
    spark_worker: Any,  # noqa: F811
    cast: Any,
    tmp_path: Path,
    settings: Any,
) -> None:
    settings.DATA_LAKE_ROOT = str(tmp_path / "lake")
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    write_credit(tmp_path / "lake" / "credit", n=20_000)
    objects = make_credit(cast.team_a, cast.engineer_a, tmp_path / "models")
    env = {"DATA_LAKE_ROOT": settings.DATA_LAKE_ROOT}
    worker = spark_worker(name=f"audit-kill-{tmp_path.name}", env=env)
    # GIVEN an audit whose figures take a while (many bootstrap iterations)
    job, _ = do_request_audit(
        objects["model_version"],
        kind="fairness",
        actor=cast.engineer_a,
        dataset_version=objects["dataset_version"].pk,
        params={"label": "defaulted", "bootstrap_iterations": 10_000},
    )
    # WHEN its worker is killed while it computes them
    wait(job, until=lambda j: j.stage == FIGURES)
    worker.kill()
    # THEN nothing was registered
    assert not AuditReport.objects.exists()
    # WHEN the worker comes back under the same name THEN the job is retried and registers exactly one report
    spark_worker(name=worker.name, env=env)
    job = wait(job)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.attempts == 2
    assert AuditReport.objects.filter(job=job).count() == 1
    assert AuditReport.objects.count() == 1
