"""The proxy audit job end to end on Spark (the session-wide ``spark`` fixture, the job function run in this process
through the same runner a worker uses): request, the figures, the immutable report, a justification that makes
the judge pass; and a dataset missing a column failing the job with no report. Slow: few tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.conf import settings

from audits.actions import do_justify_proxy, do_request_audit
from audits.kinds import spec
from audits.models import AuditReport
from core.choices import JobStatus
from core.models import Job
from tests.audits.factories import make_credit
from workers import audits_proxy
from workers.runner import run_job

ROWS = 4000


def write_applications(folder: Path, *, n: int = ROWS, without: str | None = None) -> None:
    """Applications where income follows sex closely (a proxy the model reads) and debt is independent."""
    rng = np.random.default_rng(21)
    sex = rng.choice(["f", "m"], n)
    frame = pd.DataFrame(
        {
            "income": rng.normal(0, 1, n) + np.where(sex == "m", 2.0, 0.0),
            "debt": rng.normal(0, 1, n),
            "sex": sex,
            "age_band": rng.choice(np.array(["<30", "30-60", ">60"], dtype=object), n),
            "region": rng.choice(["north", "south"], n),
            "defaulted": (rng.random(n) < 0.3).astype(np.int64),
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    frame.drop(columns=[without] if without else []).to_parquet(folder / "part-0.parquet", index=False)


@pytest.fixture
def credit(transactional_db: None, cast: Any, settings: Any, tmp_path: Path) -> dict[str, Any]:
    settings.DATA_LAKE_ROOT = str(tmp_path / "lake")
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    write_applications(tmp_path / "lake" / "credit")
    return make_credit(cast.team_a, cast.engineer_a, tmp_path / "models")


def run(job: Job) -> Job:
    run_job(job.pk, audits_proxy.audit_proxy.job_fn, task_id=job.task_id, worker="in-process")
    job.refresh_from_db()
    return job


def request(cast: Any, objects: dict[str, Any], **params: Any) -> Job:
    job, _ = do_request_audit(
        objects["model_version"],
        kind="proxy",
        actor=cast.engineer_a,
        dataset_version=objects["dataset_version"].pk,
        params=params,
    )
    return job


def test_a_proxy_audit_flags_the_proxy_and_a_justification_makes_it_pass(
    credit: dict[str, Any], cast: Any, spark: Any
) -> None:
    # GIVEN a credit model reading income and debt, on data where income follows sex
    # WHEN the proxy audit runs on Spark
    job = run(request(cast, credit))
    # THEN it registered one report bound to the artifact and the data, flagging income as a proxy of sex only
    assert job.status == JobStatus.SUCCEEDED, job.error
    report = AuditReport.objects.get(job=job)
    assert report.kind == "proxy"
    assert job.result["digest"] == report.digest
    assert report.dataset_fingerprint == credit["dataset_version"].content_fingerprint
    results = report.results
    assert results["rows"] == ROWS
    assert results["features"] == ["income", "debt"]
    assert results["attributes"] == ["sex", "age_band"]
    assert results["flagged"] == [{"feature": "income", "attribute": "sex"}]
    assert len(results["pairs"]) == 4
    income = next(p for p in results["pairs"] if p["flagged"])
    assert income["auc"] > 0.8
    assert income["reasons"]
    assert report.checks == {"proxies": "fail"}
    assert report.verdict == "fail"
    assert report.thresholds == {"association_max": 0.3, "nmi_max": 0.1, "auc_max": 0.7}
    # AND once a compliance officer justifies it, the report's figures judged again pass
    do_justify_proxy(report, feature="income", attribute="sex", reason="Income decides credit.", actor=cast.compliance)
    assert spec("proxy").judge(report, report.thresholds) == {"proxies": "pass"}


def test_a_dataset_missing_an_attribute_fails_the_job_and_registers_nothing(
    credit: dict[str, Any], cast: Any, spark: Any
) -> None:
    # GIVEN files that lost the age_band column after the dataset version was registered
    job = request(cast, credit)
    write_applications(Path(settings.DATA_LAKE_ROOT) / "credit", without="age_band")
    # WHEN the job runs THEN it fails naming the cause, with no report
    job = run(job)
    assert job.status == JobStatus.FAILED
    assert "age_band" in job.error
    assert not AuditReport.objects.exists()
