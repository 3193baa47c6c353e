"""The demo's validation audit (``seed_audits_demo``) run on real Spark over the rows seed_registry_demo wrote into
the lake, with the demo's credit model (one matrix input named by its ``features`` metadata). Slow: Spark."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from audits.models import AuditReport
from core.choices import JobStatus
from core.models import Job
from registry.models import ModelVersion
from workers import audits_validation
from workers.runner import run_job


@pytest.fixture
def seeded(transactional_db: None, settings: Any, tmp_path: Path) -> ModelVersion:
    settings.DATA_LAKE_ROOT = str(tmp_path / "lake")
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    call_command("seed_demo", "--quiet-logins", stdout=StringIO())
    call_command("seed_registry_demo", stdout=StringIO(), stderr=StringIO())
    return ModelVersion.objects.get(model__name="credit-limit-scorer")


def test_the_demo_validation_runs_and_finds_the_model_trained_on_its_holdout(seeded: ModelVersion, spark: Any) -> None:
    # GIVEN the demo's audits asked for (the validation: segment age_band, a holdout on application_date)
    call_command("seed_audits_demo", stdout=StringIO(), stderr=StringIO())
    job = Job.objects.get(kind="audits.validation")
    # WHEN the spark worker's job function runs it
    run_job(job.pk, audits_validation.audit_validation.job_fn, task_id=job.task_id, worker="in-process")
    job.refresh_from_db()
    # THEN it registered a report over the demo's 4000 rows, with figures per age band and on the holdout
    assert job.status == JobStatus.SUCCEEDED, job.error
    report = AuditReport.objects.get(job=job)
    results = report.results
    assert results["rows"] == 4000
    assert results["overall"]["auc"] > 0.5
    assert results["segments"]["column"] == "age_band"
    assert 0 < results["holdout"]["rows"] < 4000
    # AND the demo model was trained on the very version it is evaluated on: its holdout is not unseen, and the
    # report says so instead of passing it off as the future
    assert results["holdout"]["look_ahead"]["status"] == "found"
    assert report.checks["look_ahead"] == "fail"
    assert results["edge_cases"]["statistics_from"].startswith("the training data")
    # AND the use case's cost matrix gives the cost curve: a missed default costs more, so the cheapest threshold
    # flags more applications than the demo's threshold does
    assert results["cost"]["cost_false_negative"] == 1500.0
    assert results["cost"]["best_threshold"] < results["threshold"]
    assert results["cost"]["best_cost"] <= results["cost"]["cost_at_threshold"]
    assert results["edge_cases"]["passed"] + results["edge_cases"]["failed"] == len(results["edge_cases"]["cases"])
