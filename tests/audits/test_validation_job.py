"""The validation audit job end to end on Spark (the session-wide ``spark`` fixture, the job function run in this
process through the same runner a worker uses): the report and its checks, the use case's costs, the holdout's
look-ahead check from the model's training data. Slow: few tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from django.test import Client

from audits.actions import do_request_audit
from audits.kinds import spec
from audits.models import AuditReport
from core.choices import JobStatus
from core.models import Job
from tests.audits.onnx_models import write_scorer
from tests.audits.validation_factories import make_validation_credit
from tests.registry.factories import make_model_version
from workers import audits_validation
from workers.runner import run_job

ROWS = 3000


def run(job: Job) -> Job:
    run_job(job.pk, audits_validation.audit_validation.job_fn, task_id=job.task_id, worker="in-process")
    job.refresh_from_db()
    return job


def write_credit(folder: Path, n: int = ROWS) -> None:
    rng = np.random.default_rng(13)
    income = rng.normal(0, 1, n)
    debt = rng.normal(0, 1, n)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    frame = pd.DataFrame(
        {
            "income": income,
            "debt": debt,
            "sex": rng.choice(["f", "m"], n),
            "age_band": rng.choice(np.array(["<30", "30-60", None], dtype=object), n),
            "region": rng.choice(["north", "south"], n),
            "defaulted": (rng.random(n) < 1 / (1 + np.exp(-(1.2 * income - 0.7 * debt)))).astype(np.int64),
            "applied_at": [start + timedelta(hours=int(h)) for h in rng.integers(0, 365 * 24, n)],
        }
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.cast(
        table.schema.set(
            table.schema.get_field_index("applied_at"),
            pa.field("applied_at", pa.timestamp("us", tz="UTC"), nullable=False),
        )
    )
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "part-0.parquet")


@pytest.fixture
def lake(transactional_db: None, settings: Any, tmp_path: Path) -> Path:
    settings.DATA_LAKE_ROOT = str(tmp_path / "lake")
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    write_credit(tmp_path / "lake" / "credit")
    return tmp_path


def report_page(cast: Any, report: AuditReport) -> str:
    client = Client()
    client.force_login(cast.compliance)
    response = client.get(f"/audit-reports/{report.pk}/")
    assert response.status_code == 200
    return str(response.content.decode())


def request(cast: Any, objects: dict[str, Any], **params: Any) -> Job:
    job, _ = do_request_audit(
        objects["model_version"],
        kind="validation",
        actor=cast.engineer_a,
        dataset_version=objects["dataset_version"].pk,
        params={"label": "defaulted", **params},
    )
    return job


def test_a_validation_audit_registers_its_figures_and_checks(lake: Path, cast: Any, spark: Any) -> None:
    # GIVEN a credit model that scores NaN for a missing input, under a use case where a missed default costs 5
    objects = make_validation_credit(cast.team_a, cast.engineer_a, lake / "models")
    # WHEN validated with a segment, a time-ordered holdout and a monotonic constraint it follows
    job = run(
        request(cast, objects, segment_column="region", time_column="applied_at", monotonic={"income": "increasing"})
    )
    # THEN one report is registered with every figure
    assert job.status == JobStatus.SUCCEEDED, job.error
    report = AuditReport.objects.get(job=job)
    assert report.kind == "validation"
    results = report.results
    assert results["rows"] == ROWS
    assert results["overall"]["auc"] > 0.7
    assert [g["segment"] for g in results["segments"]["groups"]] == ["north", "south"]
    assert results["cost"]["cost_false_positive"] == 1.0
    assert results["cost"]["cost_false_negative"] == 5.0
    assert results["cost"]["best_threshold"] < 0.5  # a missed default costs more: flag more applications
    assert results["holdout"]["rows"] == pytest.approx(ROWS * 0.2, rel=0.05)
    # AND the look-ahead cannot be known: the model version links no training data
    assert results["holdout"]["look_ahead"]["status"] == "not_knowable"
    assert "look_ahead" not in report.checks
    assert results["edge_cases"]["statistics_from"].startswith("the evaluation data")
    # AND the missing-value cases fail, named, so the edge-case check and the report fail; the rest pass
    failed = [c["name"] for c in results["edge_cases"]["cases"] if not c["passed"]]
    assert failed == ["income: missing (NaN)", "debt: missing (NaN)"]
    assert report.checks == {
        "auc": "pass",
        "segment_auc": "pass",
        "calibration": "pass",
        "edge_cases": "fail",
        "monotonic": "pass",
    }
    assert report.verdict == "fail"
    # AND the gate's judgement of the stored figures with the same thresholds agrees with the job's
    assert spec("validation").judge(report, report.thresholds) == report.checks
    assert spec("validation").judge(report, {**report.thresholds, "auc_min": 0.99})["auc"] == "fail"
    # AND the report page draws the real figures: charts, the failed cases, the constraint, the look-ahead unknown
    page = report_page(cast, report)
    for chart in ("chart-segments", "chart-calibration", "chart-cost"):
        assert f'id="{chart}"' in page
    assert "income: missing (NaN)" in page
    assert 'id="validation-monotonic"' in page
    assert "Not knowable: the model version links no training data of this dataset." in page


def test_a_model_trained_on_the_holdout_fails_the_look_ahead_check(lake: Path, cast: Any, spark: Any) -> None:
    # GIVEN a model version whose training data is the evaluation data itself
    objects = make_validation_credit(cast.team_a, cast.engineer_a, lake / "models", trained_on_evaluation=True)
    # WHEN validated on a time-ordered holdout
    job = run(request(cast, objects, time_column="applied_at", monotonic={"debt": "increasing"}))
    assert job.status == JobStatus.SUCCEEDED, job.error
    report = AuditReport.objects.get(job=job)
    # THEN its training data runs past the cutoff: the look-ahead is found and fails the report
    look_ahead = report.results["holdout"]["look_ahead"]
    assert look_ahead["status"] == "found"
    assert look_ahead["training_dataset_version"] == str(objects["dataset_version"])
    assert report.checks["look_ahead"] == "fail"
    # AND the edge cases take the training data's statistics
    assert report.results["edge_cases"]["statistics_from"].startswith("the training data")
    # AND the score falls with debt, so the declared "increasing" fails, with the worst step reported
    (debt,) = report.results["monotonic"]
    assert debt["worst_violation"] > 0.001
    assert report.checks["monotonic"] == "fail"
    assert report.verdict == "fail"
    page = report_page(cast, report)
    assert "may have seen the holdout" in page
    assert "against increasing" in page


def test_nan_scores_fail_the_job_naming_the_cause_and_register_nothing(lake: Path, cast: Any, spark: Any) -> None:
    # GIVEN a model version that scores NaN for every row
    objects = make_validation_credit(cast.team_a, cast.engineer_a, lake / "models")
    broken = make_model_version(
        objects["model"], cast.engineer_a, write_scorer(lake / "models" / "broken.onnx", broken=True)
    )
    # WHEN validated THEN the job fails saying why, and no report is registered
    job = run(request(cast, {**objects, "model_version": broken}))
    assert job.status == JobStatus.FAILED
    assert "score(s) that are NaN, infinite or outside [0, 1]" in job.error
    assert not AuditReport.objects.exists()
