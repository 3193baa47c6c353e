"""Which reports count, for the release manifest and the gate's ``audits_passed`` (audits.selection): only those of
exactly this artifact on the newest version of their evaluation dataset, recent enough; each must pass."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audits.models import AuditReport
from audits.selection import MAX_AGE_DAYS, audit_verdict, current_reports, manifest_entries
from core.canonical import canonical_digest
from core.choices import AuditEventType, JobStatus
from core.jobs import output_links
from core.models import AuditEvent
from governance.gate import known_checks
from tests.audits.factories import CREDIT_SCHEMA, make_credit, make_report
from tests.audits.onnx_models import write_scorer
from tests.audits.proxy_reports import make_proxy_report, pair, proxy_results
from tests.registry import factories
from tests.registry.factories import make_dataset_version, make_model_version

_empty_cache = factories._empty_cache
artifact_root = factories.artifact_root

pytestmark = pytest.mark.django_db


@pytest.fixture
def credit(cast: Any, artifact_root: Path) -> dict[str, Any]:
    return make_credit(cast.team_a, cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")


def test_the_gate_check_is_registered_for_policies_to_require():
    assert "audits_passed" in known_checks()
    assert not known_checks()["audits_passed"].always


def test_a_passing_report_of_this_artifact_passes_and_is_in_the_manifest(cast: Any, credit: dict[str, Any]):
    # GIVEN a passing fairness report of the model version on the newest dataset version (and a passing proxy
    # report: the gate asks for every kind)
    report = make_report(credit["model_version"], credit["dataset_version"], cast.engineer_a)
    proxy = make_proxy_report(
        credit["model_version"], credit["dataset_version"], cast.engineer_a, proxy_results([pair("debt", "sex", 0.02)])
    )
    # THEN it counts, the gate passes, and the manifest lists it with its digest and verdict
    assert current_reports(credit["model_version"]) == [report, proxy]
    passed, reason = audit_verdict(credit["model_version"], now=timezone.now())
    assert passed, reason
    assert report.digest[:12] in reason
    entry, _ = manifest_entries(credit["model_version"])
    assert entry["digest"] == report.digest
    assert entry["verdict"] == "pass"
    assert entry["artifact_sha256"] == credit["model_version"].artifact_sha256
    assert entry["dataset_fingerprint"] == credit["dataset_version"].content_fingerprint
    # AND the report's digest is the canonical JSON of what it says; its registration is an audit event
    assert report.digest == canonical_digest(report.body())
    event = AuditEvent.objects.filter(event_type=AuditEventType.AUDIT_REPORT_REGISTERED).order_by("seq").first()
    assert event is not None
    assert event.after["digest"] == report.digest
    # AND the job's page, once the job has succeeded, links to the report
    report.job.status, report.job.result = JobStatus.SUCCEEDED, {"audit_report": report.pk}
    assert output_links(report.job) == [(f"Audit report {report.digest[:12]} (pass)", f"/audit-reports/{report.pk}/")]


def test_no_report_fails_naming_the_missing_audit(credit: dict[str, Any]):
    passed, reason = audit_verdict(credit["model_version"], now=timezone.now())
    assert not passed
    assert "no fairness audit of artifact" in reason


def test_a_failed_report_fails_naming_its_checks(cast: Any, credit: dict[str, Any]):
    make_report(credit["model_version"], credit["dataset_version"], cast.engineer_a, verdict="fail")
    passed, reason = audit_verdict(credit["model_version"], now=timezone.now())
    assert not passed
    assert "is fail: disparate_impact" in reason


def test_insufficient_data_is_not_a_pass(cast: Any, credit: dict[str, Any]):
    make_report(credit["model_version"], credit["dataset_version"], cast.engineer_a, verdict="insufficient_data")
    passed, reason = audit_verdict(credit["model_version"], now=timezone.now())
    assert not passed
    assert "insufficient data" in reason


def test_a_newer_dataset_version_makes_the_old_report_irrelevant(cast: Any, credit: dict[str, Any]):
    # GIVEN a passing report on version 1 of the evaluation dataset
    make_report(credit["model_version"], credit["dataset_version"], cast.engineer_a)
    # WHEN the dataset is registered again (version 2, new data)
    make_dataset_version(credit["dataset"], cast.engineer_a, schema=CREDIT_SCHEMA)
    # THEN the old report no longer counts: it is not silently reused
    assert current_reports(credit["model_version"]) == []
    assert manifest_entries(credit["model_version"]) == []
    assert not audit_verdict(credit["model_version"], now=timezone.now())[0]


def test_a_new_artifact_is_not_covered_by_the_old_version_s_report(cast: Any, credit: dict[str, Any]):
    make_report(credit["model_version"], credit["dataset_version"], cast.engineer_a)
    folder = Path(settings.ARTIFACT_ROOT).parent / "v2"
    folder.mkdir()
    newer = make_model_version(credit["model"], cast.engineer_a, write_scorer(folder / "credit.onnx", a=1.5))
    assert newer.artifact_sha256 != credit["model_version"].artifact_sha256
    assert current_reports(newer) == []
    assert not audit_verdict(newer, now=timezone.now())[0]


def test_an_old_report_does_not_count(cast: Any, credit: dict[str, Any]):
    make_report(credit["model_version"], credit["dataset_version"], cast.engineer_a)
    later = timezone.now() + timedelta(days=MAX_AGE_DAYS + 1)
    passed, reason = audit_verdict(credit["model_version"], now=later)
    assert not passed
    assert f"older than {MAX_AGE_DAYS} days" in reason


def test_a_report_cannot_be_changed(cast: Any, credit: dict[str, Any]):
    report = make_report(credit["model_version"], credit["dataset_version"], cast.engineer_a)
    with pytest.raises(Exception, match="immutable"), transaction.atomic():
        AuditReport.objects.filter(pk=report.pk).update(verdict="fail")
    assert AuditReport.objects.get(pk=report.pk).verdict == "pass"


def test_one_report_per_job(cast: Any, credit: dict[str, Any]):
    report = make_report(credit["model_version"], credit["dataset_version"], cast.engineer_a)
    with pytest.raises(IntegrityError, match=r"UNIQUE|unique|duplicate"), transaction.atomic():
        AuditReport.objects.create(
            **{f.attname: getattr(report, f.attname) for f in AuditReport._meta.concrete_fields if f.name != "id"}
        )
