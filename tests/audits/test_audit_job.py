"""The fairness audit job end to end on Spark (the session-wide ``spark`` fixture, the job function run in this
process through the same runner a worker uses): request, scoring, figures, the immutable report; and the faults
that fail the job naming the cause with no report registered. Slow: few tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.conf import settings

from audits.actions import do_request_audit
from audits.models import AuditReport
from core.choices import JobStatus
from core.models import Job
from tests.audits.factories import make_credit
from tests.audits.onnx_models import write_scorer
from tests.registry.factories import make_model_version
from workers import audits
from workers.runner import JobContext, run_job

ROWS = 4000


def run(job: Job) -> Job:
    run_job(job.pk, audits.audit_fairness.job_fn, task_id=job.task_id, worker="in-process")
    job.refresh_from_db()
    return job


def write_credit(folder: Path, *, n: int = ROWS, single_class: bool = False) -> None:
    """Applications where men earn more on average: a model scoring on income selects men more often."""
    rng = np.random.default_rng(11)
    sex = rng.choice(["f", "m"], n)
    income = rng.normal(0, 1, n) + np.where(sex == "m", 0.6, 0.0)
    frame = pd.DataFrame(
        {
            "income": income,
            "debt": rng.normal(0, 1, n),
            "sex": sex,
            "age_band": rng.choice(np.array(["<30", "30-60", ">60"], dtype=object), n),
            "region": rng.choice(["north", "south"], n),
            "defaulted": np.ones(n, dtype=np.int64) if single_class else (rng.random(n) < 0.3).astype(np.int64),
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / "part-0.parquet", index=False)


@pytest.fixture
def credit(transactional_db: None, cast: Any, settings: Any, tmp_path: Path) -> dict[str, Any]:
    settings.DATA_LAKE_ROOT = str(tmp_path / "lake")
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    write_credit(tmp_path / "lake" / "credit")
    return make_credit(cast.team_a, cast.engineer_a, tmp_path / "models")


def request(cast: Any, objects: dict[str, Any], **params: Any) -> Job:
    job, _ = do_request_audit(
        objects["model_version"],
        kind="fairness",
        actor=cast.engineer_a,
        dataset_version=objects["dataset_version"].pk,
        params={"label": "defaulted", "bootstrap_iterations": 50, **params},
    )
    return job


def test_a_fairness_audit_registers_one_immutable_report(credit: dict[str, Any], cast: Any, spark: Any) -> None:
    # GIVEN a credit model that scores on income, and evaluation data where men earn more
    # WHEN a fairness audit runs on Spark
    job = run(request(cast, credit))
    # THEN it succeeded and registered one report, bound to the artifact and the data
    assert job.status == JobStatus.SUCCEEDED, job.error
    report = AuditReport.objects.get(job=job)
    assert job.result["digest"] == report.digest
    assert report.artifact_sha256 == credit["model_version"].artifact_sha256
    assert report.dataset_fingerprint == credit["dataset_version"].content_fingerprint
    assert report.parameters["protected_attributes"] == ["sex", "age_band"]
    assert report.code_version["fairlearn"] == "0.15.0"
    assert report.code_version["aif360"] == "0.6.1"
    results = report.results
    assert results["rows"] == ROWS
    assert [g["attributes"] for g in results["groupings"]] == [["sex"], ["age_band"], ["sex", "age_band"]]
    # AND the model's preference for men shows: women compared with men fail the four-fifths rule
    sex = results["groupings"][0]
    assert sex["reference"] == {"sex": "m"}
    (women,) = sex["comparisons"]
    assert women["metrics"]["disparate_impact"]["value"] < 0.8
    assert report.checks["disparate_impact"] == "fail"
    assert report.verdict == "fail"
    # AND running the job again (a redelivered message after a crash) finds the report instead of writing another
    job.status = JobStatus.RUNNING
    assert audits.audit_fairness.job_fn(job, JobContext(job))["digest"] == report.digest
    assert AuditReport.objects.count() == 1


def test_nan_scores_fail_the_job_naming_the_cause_and_register_nothing(
    credit: dict[str, Any], cast: Any, spark: Any, tmp_path: Path
) -> None:
    broken = make_model_version(
        credit["model"], cast.engineer_a, write_scorer(tmp_path / "models" / "broken.onnx", broken=True)
    )
    job = run(request(cast, {**credit, "model_version": broken}))
    assert job.status == JobStatus.FAILED
    assert "score(s) that are NaN, infinite or outside [0, 1]" in job.error
    assert not AuditReport.objects.exists()


def test_a_single_class_label_fails_the_job(credit: dict[str, Any], cast: Any, spark: Any, tmp_path: Path) -> None:
    write_credit(Path(settings.DATA_LAKE_ROOT) / "credit", single_class=True)
    job = run(request(cast, credit))
    assert job.status == JobStatus.FAILED
    assert "The label holds a single class" in job.error
    assert not AuditReport.objects.exists()
