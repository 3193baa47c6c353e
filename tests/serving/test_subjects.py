"""Prediction logs in data-subject requests and retention, through compliance's registries (serving's
AppConfig.ready): a subject's logs and decision records are found, the logs' inputs erased (audited) and the decision
records kept with why; a legal hold keeps them all; old logs' inputs are purged by a retention policy, except those
with a decision record or under legal hold."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from compliance import actions as compliance
from compliance.actions.retention import run_retention
from compliance.models import Purge, SubjectErasure, SubjectSearch
from compliance.retention import register_target, target_for, targets
from core.choices import AuditEventType, JobStatus
from core.models import AuditEvent
from serving.decisions import Decision, store_decision_records
from serving.erasure import do_erase_subject_predictions
from serving.models import DecisionRecord, PredictionLog
from serving.retention import KIND
from serving.subject_logs import DECISIONS, KEPT_DECISIONS, PREDICTIONS
from serving.subjects import subject_digest
from tests.compliance.factories import erase, make_request, search
from tests.serving.factories import deploy, make_prediction

pytestmark = pytest.mark.django_db

SUBJECT = "ana@example.com"
REASONS = [{"feature": "x", "value": 1.0, "shap": 0.2, "direction": "raises", "text": None}]


@pytest.fixture(autouse=True)
def _registered_targets() -> Iterator[None]:
    saved = targets()
    yield
    for target in saved.values():
        register_target(target)


@pytest.fixture
def logs(rw: Any) -> dict[str, Any]:
    """Three logs of the subject (one with a decision record), one of another subject, one without a subject."""
    deployment = deploy(rw)
    ours = [make_prediction(deployment, subject_digest=subject_digest(SUBJECT)) for _ in range(3)]
    other = make_prediction(deployment, subject_digest=subject_digest("bob@example.com"))
    anonymous = make_prediction(deployment)
    (record,) = store_decision_records([(ours[0], Decision("negative", 0.2, REASONS, None, None, False))])
    return {"deployment": deployment, "ours": ours, "other": other, "anonymous": anonymous, "record": record}


def test_a_subject_search_finds_the_logs_and_decision_records(cast, rw, logs):
    # GIVEN logs of the subject and of others
    request = make_request(cast, kind="access", identifier=SUBJECT)
    # WHEN compliance searches for the subject
    job = search(request, cast.compliance)
    # THEN the report lists the deployment's logs of this subject only, and its decision record
    assert job.status == JobStatus.SUCCEEDED, job.error
    hits = {hit["kind"]: hit for hit in SubjectSearch.objects.get(request=request).hits}
    assert set(hits) == {PREDICTIONS, DECISIONS}
    found = hits[PREDICTIONS]
    assert (found["object_type"], found["object_id"], found["rows"]) == ("serving.deployment", logs["deployment"].pk, 3)
    assert found["predictions"] == [prediction.pk for prediction in logs["ours"]]
    assert found["environment"] == rw.environment.slug
    assert hits[DECISIONS]["records"] == [str(logs["record"].uid)]
    # AND the raw identifier is not in the hits
    assert SUBJECT not in str(hits)


def test_an_erasure_empties_the_inputs_and_keeps_the_decision_records(cast, logs):
    # GIVEN an erasure request of the subject, searched
    request = make_request(cast, identifier=SUBJECT)
    search(request, cast.compliance)
    # WHEN the erasure runs
    job = erase(request, cast.compliance)
    # THEN the subject's logs have no inputs and are stamped erased; the others are untouched
    assert job.status == JobStatus.SUCCEEDED, job.error
    for prediction in logs["ours"]:
        prediction.refresh_from_db()
        assert prediction.inputs is None
        assert prediction.erased_at is not None
        assert prediction.inputs_sha256  # what was scored can still be proven
    for name in ("other", "anonymous"):
        logs[name].refresh_from_db()
        assert logs[name].inputs is not None
        assert logs[name].erased_at is None
    # AND one serving.logs_erased event, with the keyed hash and not the identifier
    (event,) = AuditEvent.objects.filter(event_type=AuditEventType.PREDICTION_LOGS_ERASED)
    assert event.metadata["rows"] == 3
    assert event.metadata["subject_digest"] == subject_digest(SUBJECT)
    assert event.metadata["request"] == str(request.public_id)
    assert event.actor_id == cast.compliance.pk
    # AND the decision record is kept, with why
    erasure = SubjectErasure.objects.get(request=request)
    assert [(item["kind"], item["rows"]) for item in erasure.done] == [(PREDICTIONS, 3)]
    (kept,) = erasure.kept
    assert kept["kind"] == DECISIONS
    assert kept["why"] == KEPT_DECISIONS
    assert DecisionRecord.objects.filter(pk=logs["record"].pk).exists()


def test_erasing_twice_writes_nothing_more(cast, logs):
    # GIVEN the subject's logs erased once
    deployment, digest = logs["deployment"], subject_digest(SUBJECT)
    assert do_erase_subject_predictions(deployment, subject_digest=digest, actor=cast.compliance) == 3
    # WHEN erased again
    again = do_erase_subject_predictions(deployment, subject_digest=digest, actor=cast.compliance)
    # THEN the same rows are reported, and only the first erasure left an event
    assert again == 3
    assert AuditEvent.objects.filter(event_type=AuditEventType.PREDICTION_LOGS_ERASED).count() == 1


def test_a_legal_hold_on_the_model_keeps_the_logs_from_erasure(cast, rw, logs):
    # GIVEN a hold on the deployed model
    compliance.do_place_hold(
        cast.team_a,
        actor=cast.compliance,
        scope="model",
        model=logs["deployment"].model,
        case_reference="CASE-7",
        reason="litigation",
    )
    request = make_request(cast, identifier=SUBJECT)
    search(request, cast.compliance)
    # WHEN the erasure runs
    job = erase(request, cast.compliance)
    # THEN nothing is erased, and the report names the hold
    assert job.status == JobStatus.SUCCEEDED, job.error
    erasure = SubjectErasure.objects.get(request=request)
    assert erasure.done == []
    assert {item["kind"] for item in erasure.kept} == {PREDICTIONS, DECISIONS}
    assert all("legal hold CASE-7" in item["why"] for item in erasure.kept)
    assert PredictionLog.objects.filter(inputs__isnull=True).count() == 0


def retention_policy(cast: Any, logs: dict[str, Any], keep_days: int = 30) -> Any:
    classification = target_for(KIND).load(logs["other"].pk).classification  # type: ignore[union-attr]
    return compliance.do_create_retention_policy(
        cast.team_a,
        actor=cast.compliance,
        target_kind=KIND,
        classification=classification,
        keep_days=keep_days,
        counted_from="created",
    )


def test_retention_purges_old_inputs_but_not_decided_ones(cast, logs):
    # GIVEN a 30-day policy on the team's prediction logs
    retention_policy(cast, logs)
    # WHEN the retention runs 31 days later
    report = run_retention(job=None, now=timezone.now() + dt.timedelta(days=31))
    # THEN every log's inputs are gone but the decided one's, each purge with its tombstone; the rows stay
    decided = logs["ours"][0].pk
    assert {int(entry["target_id"]) for entry in report["purged"]} == set(
        PredictionLog.objects.exclude(pk=decided).values_list("pk", flat=True)
    )
    assert set(PredictionLog.objects.filter(inputs__isnull=False).values_list("pk", flat=True)) == {decided}
    assert PredictionLog.objects.count() == 5
    purge = Purge.objects.get(target_type="serving.predictionlog", target_id=str(logs["other"].pk))
    assert purge.digest == logs["other"].inputs_sha256
    assert purge.detail == {"inputs": "deleted", "inputs_sha256": logs["other"].inputs_sha256}
    # AND a second run finds nothing left
    again = run_retention(job=None, now=timezone.now() + dt.timedelta(days=32))
    assert again["purged"] == []


def test_retention_keeps_young_logs_and_logs_under_hold(cast, logs):
    # GIVEN a 30-day policy, and a hold on the model
    retention_policy(cast, logs)
    # WHEN the retention runs today
    # THEN nothing is due
    assert run_retention(job=None)["purged"] == []
    compliance.do_place_hold(
        cast.team_a,
        actor=cast.compliance,
        scope="model",
        model=logs["deployment"].model,
        case_reference="CASE-8",
        reason="audit",
    )
    # WHEN it runs 31 days later
    report = run_retention(job=None, now=timezone.now() + dt.timedelta(days=31))
    # THEN every due log is skipped under the hold, and keeps its inputs
    assert report["purged"] == []
    assert len(report["skipped"]) == 4
    assert all(entry["code"] == "held" for entry in report["skipped"])
    assert PredictionLog.objects.filter(inputs__isnull=True).count() == 0


def test_the_officers_request_page_shows_the_logs_erased_and_the_records_kept(client, cast, logs):
    # GIVEN a subject's erasure, searched and done
    request = make_request(cast, identifier=SUBJECT)
    search(request, cast.compliance)
    erase(request, cast.compliance)
    client.force_login(cast.compliance)
    # WHEN the officer opens the request's page
    page = client.get(f"/compliance/subject-requests/{request.pk}/").content.decode()
    # THEN the logs are listed as erased with what was done, and the decision records as kept with why
    assert "inputs emptied (erased_at stamped)" in page
    assert "files now" not in page
    assert KEPT_DECISIONS.split(":")[0] in page
