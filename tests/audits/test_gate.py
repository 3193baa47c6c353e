"""Which reports count, for the release manifest and the gate's ``audits_passed`` (audits.selection): only those of
exactly this artifact on the newest version of their evaluation dataset, recent enough as the policy allows, each
passing when its figures are judged again by the policy's thresholds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audits.choices import AuditKind
from audits.fairness import THRESHOLDS
from audits.models import AuditReport
from audits.selection import MAX_AGE_DAYS, Requirement, audit_verdict, current_reports, manifest_entries
from core.canonical import canonical_digest
from core.choices import AuditEventType, JobStatus
from core.jobs import output_links
from core.models import AuditEvent
from governance.gate import known_checks
from tests.audits.factories import CREDIT_SCHEMA, fairness_results, make_credit, make_report
from tests.audits.onnx_models import write_scorer
from tests.registry import factories
from tests.registry.factories import make_dataset_version, make_model_version

_empty_cache = factories._empty_cache
artifact_root = factories.artifact_root

pytestmark = pytest.mark.django_db

FAIRNESS = Requirement(kind="fairness", max_age_days=MAX_AGE_DAYS, thresholds=dict(THRESHOLDS))


def verdict(model_version: Any, *requirements: Requirement, now: Any = None) -> tuple[bool, str]:
    return audit_verdict(model_version, now=now or timezone.now(), requirements=requirements or [FAIRNESS])


@pytest.fixture
def credit(cast: Any, artifact_root: Path) -> dict[str, Any]:
    return make_credit(cast.team_a, cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")


def test_the_gate_check_is_registered_for_policies_to_require():
    assert "audits_passed" in known_checks()
    assert not known_checks()["audits_passed"].always


def test_a_passing_report_of_this_artifact_passes_and_is_in_the_manifest(cast: Any, credit: dict[str, Any]):
    # GIVEN a passing fairness report of the model version on the newest dataset version
    report = make_report(
        credit["model_version"], credit["dataset_version"], cast.engineer_a, results=fairness_results()
    )
    # THEN it counts, the gate passes, and the manifest lists it with its digest and verdict
    assert current_reports(credit["model_version"]) == [report]
    passed, reason = verdict(credit["model_version"])
    assert passed, reason
    assert report.digest[:12] in reason
    (entry,) = [e for e in manifest_entries(credit["model_version"]) if e["kind"] == AuditKind.FAIRNESS]
    assert entry["digest"] == report.digest
    assert entry["verdict"] == "pass"
    assert entry["artifact_sha256"] == credit["model_version"].artifact_sha256
    assert entry["dataset_fingerprint"] == credit["dataset_version"].content_fingerprint
    # AND the report's digest is the canonical JSON of what it says; its registration is an audit event
    assert report.digest == canonical_digest(report.body())
    events = AuditEvent.objects.filter(event_type=AuditEventType.AUDIT_REPORT_REGISTERED)
    assert report.digest in [event.after["digest"] for event in events]
    # AND the job's page, once the job has succeeded, links to the report
    report.job.status, report.job.result = JobStatus.SUCCEEDED, {"audit_report": report.pk}
    assert output_links(report.job) == [(f"Audit report {report.digest[:12]} (pass)", f"/audit-reports/{report.pk}/")]


def test_a_policy_requiring_no_audit_passes_saying_so(credit: dict[str, Any]):
    assert audit_verdict(credit["model_version"], now=timezone.now(), requirements=[]) == (
        True,
        "The release policy requires no audit.",
    )


def test_no_report_fails_naming_the_missing_audit(credit: dict[str, Any]):
    passed, reason = verdict(credit["model_version"])
    assert not passed
    assert reason == (
        f"no fairness audit of artifact {credit['model_version'].artifact_sha256[:12]} on the newest version of an "
        "evaluation dataset."
    )


def test_a_required_kind_no_module_provides_fails_naming_it(credit: dict[str, Any]):
    passed, reason = verdict(credit["model_version"], Requirement(kind="explanations", max_age_days=1, thresholds={}))
    assert not passed
    assert reason == "explanations audits are required but no installed module provides them."


def test_a_failed_report_fails_naming_its_checks(cast: Any, credit: dict[str, Any]):
    # GIVEN a report whose disparate impact misses the four-fifths rule
    make_report(
        credit["model_version"],
        credit["dataset_version"],
        cast.engineer_a,
        results=fairness_results(disparate_impact=0.7),
    )
    # THEN the gate fails it, naming the check
    passed, reason = verdict(credit["model_version"])
    assert not passed
    assert reason.endswith("is fail: disparate_impact fail.")


def test_insufficient_data_is_not_a_pass(cast: Any, credit: dict[str, Any]):
    make_report(
        credit["model_version"],
        credit["dataset_version"],
        cast.engineer_a,
        results=fairness_results(insufficient_groups=["X"]),
    )
    passed, reason = verdict(credit["model_version"])
    assert not passed
    assert "is insufficient data: average_odds_difference insufficient data, disparate_impact insufficient" in reason


def test_a_report_passing_its_own_thresholds_fails_a_stricter_policy(cast: Any, credit: dict[str, Any]):
    # GIVEN a report that passed when it ran (disparate impact 0.85 against the default 0.8)
    report = make_report(
        credit["model_version"],
        credit["dataset_version"],
        cast.engineer_a,
        results=fairness_results(disparate_impact=0.85),
    )
    assert report.verdict == "pass"
    # WHEN the policy asks for at least 0.9
    stricter = Requirement(kind="fairness", max_age_days=30, thresholds={**THRESHOLDS, "disparate_impact_min": 0.9})
    passed, reason = verdict(credit["model_version"], stricter)
    # THEN the figures are judged again and the report fails the policy
    assert not passed
    assert reason.endswith("is fail: disparate_impact fail.")
    # AND the same report passes a policy no stricter than its own thresholds
    assert verdict(credit["model_version"])[0]


def test_the_stored_verdict_is_not_trusted(cast: Any, credit: dict[str, Any]):
    # GIVEN a report whose stored verdict says pass though its figures miss the threshold
    results = {**fairness_results(disparate_impact=0.5), "checks": {"disparate_impact": "pass"}, "verdict": "pass"}
    make_report(credit["model_version"], credit["dataset_version"], cast.engineer_a, results=results)
    # THEN the gate judges the figures, not the label
    passed, reason = verdict(credit["model_version"])
    assert not passed
    assert "disparate_impact fail" in reason


def test_a_newer_dataset_version_makes_the_old_report_irrelevant(cast: Any, credit: dict[str, Any]):
    # GIVEN a passing report on version 1 of the evaluation dataset
    make_report(credit["model_version"], credit["dataset_version"], cast.engineer_a, results=fairness_results())
    # WHEN the dataset is registered again (version 2, new data)
    make_dataset_version(credit["dataset"], cast.engineer_a, schema=CREDIT_SCHEMA)
    # THEN the old report no longer counts: it is not silently reused, and the gate says why
    assert current_reports(credit["model_version"]) == []
    assert manifest_entries(credit["model_version"]) == []
    passed, reason = verdict(credit["model_version"])
    assert not passed
    assert "(its reports are of older or changed dataset versions)" in reason


def test_a_new_artifact_is_not_covered_by_the_old_version_s_report(cast: Any, credit: dict[str, Any]):
    make_report(credit["model_version"], credit["dataset_version"], cast.engineer_a, results=fairness_results())
    folder = Path(settings.ARTIFACT_ROOT).parent / "v2"
    folder.mkdir()
    newer = make_model_version(credit["model"], cast.engineer_a, write_scorer(folder / "credit.onnx", a=1.5))
    assert newer.artifact_sha256 != credit["model_version"].artifact_sha256
    assert current_reports(newer) == []
    assert not verdict(newer)[0]


def test_a_report_older_than_the_policy_allows_does_not_count(cast: Any, credit: dict[str, Any]):
    make_report(credit["model_version"], credit["dataset_version"], cast.engineer_a, results=fairness_results())
    later = timezone.now() + timedelta(days=31)
    # GIVEN a policy allowing 30 days THEN a 31-day-old report is stale
    month = Requirement(kind="fairness", max_age_days=30, thresholds=dict(THRESHOLDS))
    passed, reason = verdict(credit["model_version"], month, now=later)
    assert not passed
    assert reason.endswith("is older than 30 days.")
    # AND under the default 180 days it still counts
    assert verdict(credit["model_version"], now=later)[0]


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
