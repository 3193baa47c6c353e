"""The demo's audits (``manage.py seed_audits_demo``, run by ``make run`` after seed_registry_demo): the audits it
asks for, that a second run asks for nothing more, and the demo's fairness audit run on real Spark from the rows
seed_registry_demo wrote into the lake, registering its report and emitting its OpenLineage run (the model version
and the evaluation dataset version in, the report out). Slow: Spark in this process."""

from __future__ import annotations

import io
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from pypdf import PdfReader
from rest_framework.test import APIClient

from audits import kinds
from audits.choices import AuditKind
from audits.models import AuditReport
from core.choices import JobStatus
from core.models import Job
from lineage.emit import AUDIT_REPORT_FACET, run_id
from lineage.models import LineageEvent, LineageRun, RunEdge
from registry import demo
from registry.models import ModelVersion
from workers import audits, audits_explain
from workers.runner import run_job

User = get_user_model()


def seed(command: str) -> str:
    out, err = StringIO(), StringIO()
    call_command(command, stdout=out, stderr=err)
    assert err.getvalue() == "", err.getvalue()
    return out.getvalue()


@pytest.fixture
def seeded(transactional_db: None, settings: Any, tmp_path: Path) -> ModelVersion:
    settings.DATA_LAKE_ROOT = str(tmp_path / "lake")
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    call_command("seed_demo", "--quiet-logins", stdout=StringIO())
    seed("seed_registry_demo")
    return ModelVersion.objects.get(model__name="credit-limit-scorer")


def test_the_demo_asks_for_each_available_audit_once(seeded: ModelVersion, tmp_path: Path) -> None:
    # GIVEN the registry demo, whose dataset version's rows are in the lake
    assert (tmp_path / "lake" / "demo" / "loan-applications" / "part-0.parquet").is_file()
    # WHEN the audits' demo runs twice
    first = seed("seed_audits_demo")
    jobs = list(Job.objects.filter(kind__startswith="audits.").order_by("pk"))
    second = seed("seed_audits_demo")
    # THEN one job per available kind was asked for, by the demo engineer, on the version trained on; the second
    # run asked for nothing more; a kind not available yet is named as skipped
    available = [spec.job_kind for spec in kinds.registered()]
    assert AuditKind.FAIRNESS in {spec.kind for spec in kinds.registered()}
    assert [job.kind for job in jobs] == available
    evaluation = seeded.dataset_versions.get()
    for job in jobs:
        assert job.requested_by.username == "erin-engineer"
        assert job.target_id == str(seeded.pk)
        assert job.params["dataset_version"] == evaluation.pk
    fairness = next(job for job in jobs if job.kind == "audits.fairness")
    assert fairness.params["label"] == "defaulted"
    assert fairness.params["protected_attributes"] == ["sex", "age_band", "ethnicity", "disability_flag"]
    assert fairness.params["threshold"] == 0.3
    assert list(Job.objects.filter(kind__startswith="audits.").order_by("pk")) == jobs
    for kind in AuditKind.values:
        expected = "skipped" if f"audits.{kind}" not in available else "requested"
        assert any(line.split()[:2] == [kind, expected] for line in first.splitlines()), first
    assert "requested" not in second


def test_the_audits_demo_needs_the_registry_demo(transactional_db: None) -> None:
    with pytest.raises(CommandError, match="seed_registry_demo"):
        seed("seed_audits_demo")
    assert not Job.objects.exists()


def test_the_demo_fairness_audit_runs_on_spark_and_emits_its_lineage(seeded: ModelVersion, spark: Any) -> None:
    # GIVEN the demo's audits, asked for
    seed("seed_audits_demo")
    job = Job.objects.get(kind="audits.fairness")
    # WHEN the spark worker's job function runs the fairness audit
    run_job(job.pk, audits.audit_fairness.job_fn, task_id=job.task_id, worker="in-process")
    job.refresh_from_db()
    # THEN it registered one report on the demo model's artifact and the evaluation data
    assert job.status == JobStatus.SUCCEEDED, job.error
    report = AuditReport.objects.get(job=job)
    evaluation = seeded.dataset_versions.get()
    assert report.artifact_sha256 == seeded.artifact_sha256
    assert report.dataset_version == evaluation
    assert report.results["rows"] == 4000
    assert [g["attributes"] for g in report.results["groupings"]][:4] == [
        ["sex"],
        ["age_band"],
        ["ethnicity"],
        ["disability_flag"],
    ]
    # AND its run is in the lineage store: START then COMPLETE, reading the model version's node and the dataset
    # version, writing the report's node with its digest as the version and its verdict in Assay's facet
    run = LineageRun.objects.get(assay_job=job)
    assert run.run_id == run_id(job, 1)
    assert list(run.transitions.order_by("event_time", "pk").values_list("state", flat=True)) == [
        "START",
        "COMPLETE",
    ]
    edges = {
        (edge.direction, edge.dataset.namespace.name, edge.dataset.name): edge
        for edge in RunEdge.objects.filter(run=run).select_related("dataset__namespace")
    }
    assert set(edges) == {
        ("input", "assay://credit-risk", f"sha256:{seeded.artifact_sha256}"),
        ("input", "lake", "demo/loan-applications"),
        ("output", "assay://credit-risk", f"audit-reports/fairness/{report.pk}"),
    }
    assert edges[("input", "lake", "demo/loan-applications")].version == evaluation.content_fingerprint
    assert edges[("output", "assay://credit-risk", f"audit-reports/fairness/{report.pk}")].version == report.digest
    complete = LineageEvent.objects.get(run_id=run.run_id, event_type="COMPLETE")
    (output,) = complete.payload["outputs"]
    facet = output["facets"][AUDIT_REPORT_FACET]
    assert facet["digest"] == report.digest
    assert facet["verdict"] == report.verdict
    assert facet["checks"] == report.checks
    assert facet["artifactSha256"] == seeded.artifact_sha256
    assert facet["datasetFingerprint"] == report.dataset_fingerprint
    assert facet["_schemaURL"].endswith("docs/lineage.md#the-audit-report-facet")
    start = LineageEvent.objects.get(run_id=run.run_id, event_type="START")
    assert start.payload["outputs"] == []
    assert len(start.payload["inputs"]) == 2


def test_the_demo_explanation_audit_explains_the_credit_model_linearly(seeded: ModelVersion, spark: Any) -> None:
    # GIVEN the demo's audits, asked for
    seed("seed_audits_demo")
    job = Job.objects.get(kind="audits.explanation")
    # WHEN the spark worker's job function runs the explanation audit
    run_job(job.pk, audits_explain.audit_explanation.job_fn, task_id=job.task_id, worker="in-process")
    job.refresh_from_db()
    # THEN the scaler and logistic regression were explained by the linear explainer, in log-odds, additively
    assert job.status == JobStatus.SUCCEEDED, job.error
    report = AuditReport.objects.get(job=job)
    results = report.results
    assert results["explainer"]["method"] == "linear"
    assert results["explainer"]["output_space"] == "log_odds"
    assert report.checks["additivity"] == "pass"
    assert results["rows"] == 2000
    # AND the report carries its background: 100 rows of the model's seven features, in the interface's order
    background = results["background"]
    assert background["rows"] == 100
    assert background["features"] == list(seeded.interface["metadata_props"]["features"].split(","))
    assert background["dataset_version"] == seeded.dataset_versions.get().pk
    assert {g for g in results["by_group"]} == {"sex", "age_band", "ethnicity", "disability_flag"}
    # AND its run is in the lineage store, reading the model version and the data, writing the report
    run = LineageRun.objects.get(assay_job=job)
    outputs = RunEdge.objects.filter(run=run, direction="output").values_list("dataset__name", flat=True)
    assert list(outputs) == [f"audit-reports/explanation/{report.pk}"]
    # AND an engineer asks for the principal reasons of one applicant's score, and gets them in the catalogue's words
    data = demo.generate_applications()
    applicant = max(range(len(data[demo.LABEL])), key=lambda i: data["late_payments_12m"][i])
    row = {name: float(data[name][applicant]) for name in demo.FEATURES}
    client = APIClient()
    client.force_authenticate(User.objects.get(username="erin-engineer"))
    answer = client.post(f"/api/v1/model-versions/{seeded.pk}/explain", {"rows": [row]}, format="json")
    assert answer.status_code == 200, answer.content
    (explained,) = answer.json()["results"]
    shap_sum = explained["base_value"] + sum(explained["shap"].values())
    assert abs(shap_sum - explained["output"]) <= explained["tolerance"]
    assert explained["decision"] == "Declined"
    texts = {reason["feature"]: reason["text"] for reason in explained["reasons"]}
    assert texts["late_payments_12m"] == catalogue_text("late_payments_12m", "raises")
    # AND the statement of reasons as a PDF says the decision and the reasons in plain language
    pdf = client.post(
        f"/api/v1/model-versions/{seeded.pk}/statement?format=pdf", {"row": row, "reference": "A-1"}, format="json"
    )
    assert pdf.status_code == 200, pdf.content[:300]
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages).split())
    assert "Declined" in text
    assert " ".join(catalogue_text("late_payments_12m", "raises").split()) in text


def catalogue_text(feature: str, direction: str) -> str:
    from audits import demo as audits_demo

    entries = audits_demo.reason_catalogue()["entries"]
    return next(e["text"] for e in entries if (e["feature"], e["direction"]) == (feature, direction))


def test_the_demo_sets_the_credit_models_reason_catalogue_once(seeded: ModelVersion) -> None:
    from audits import demo as audits_demo
    from audits.models import ReasonCatalogue
    from audits.reasons import catalogue_rows
    from registry import demo

    # WHEN the audits' demo runs twice
    first, second = seed("seed_audits_demo"), seed("seed_audits_demo")
    # THEN the credit model has one catalogue, set by the demo engineer through the action, the second run unchanged
    assert any(line.split()[:2] == ["reasons", "set"] for line in first.splitlines()), first
    assert any(line.split()[:2] == ["reasons", "unchanged"] for line in second.splitlines()), second
    catalogue = ReasonCatalogue.objects.get(model=seeded.model)
    assert catalogue.created_by is not None
    assert (catalogue.number, catalogue.created_by.username) == (1, "erin-engineer")
    assert (catalogue.threshold, catalogue.positive_decision, catalogue.negative_decision) == (
        demo.THRESHOLD,
        "Declined",
        "Approved",
    )
    # AND every feature has a sentence both ways except the proxy for ethnicity, which has none, and the note says why
    rows = {row["feature"]: [text for _, _, text in row["texts"]] for row in catalogue_rows(seeded.model, catalogue)}
    assert list(rows) == list(demo.FEATURES)
    assert rows.pop("district_default_rate") == [None, None]
    assert all(all(texts) for texts in rows.values())
    assert "proxy for ethnicity" in catalogue.note
    assert catalogue.entries == audits_demo.reason_catalogue()["entries"]
