"""Explained decisions through the inference service (driven in this process, as test_inprocess does): the answer
carries each row's decision and principal reasons, the decision record is in the table before the answer names it,
linked to its prediction log row, and the log row holds the request's data quality."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from audits import explainers
from registry import actions as registry
from serving.actions import do_deploy, do_set_inference_scope
from serving.inference import explained
from serving.inference.app import InferenceService
from serving.inference.auth import TokenCache
from serving.inference.loaded import Routes, Snapshot
from serving.inference.logbook import Logbook
from serving.models import DecisionRecord, PredictionLog
from tests.audits.explain_factories import SCHEMA, make_catalogue, make_explanation_report, onnx_model
from tests.registry.factories import chunks_of, make_dataset, make_dataset_version
from tests.serving.factories import approve, request, service_token
from tests.serving.inference.test_inprocess import Refusing, always_record, call

pytestmark = pytest.mark.django_db(transaction=True)
APPLICANT = {"income": 2.1, "debt": 1.4, "utilisation": 0.9, "age": 61.0}
PREDICT = "/production/models/Limit scorer/predict"


@pytest.fixture
def explained_app(rw: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The world's model with a second version, a credit model with an explanation report and a reason catalogue,
    deployed as the primary through the gate; the service in this process, its log writer never started."""
    explainers.CACHE.clear()
    approve(rw)
    do_deploy(rw.release, actor=rw.cast.engineer_a)
    dataset = make_dataset(rw.cast.team_a, rw.cast.engineer_a, name="Applications", location="lake://applications")
    dataset_version = make_dataset_version(dataset, rw.cast.engineer_a, schema=SCHEMA)
    path = tmp_path / "credit.onnx"
    path.write_bytes(onnx_model("tree"))
    version = registry.do_register_model_version(
        rw.version.model,
        actor=rw.cast.engineer_a,
        chunks=chunks_of(path),
        filename=path.name,
        dataset_versions=[dataset_version.pk],
    )
    report = make_explanation_report(version, dataset_version, rw.cast.engineer_a, method="tree_exact")
    make_catalogue(
        version.model, [{"feature": "debt", "direction": "raises", "text": "Your debt is high."}], threshold=0.5
    )
    release = request(rw, version)
    approve(rw, release)
    do_deploy(release, actor=rw.cast.engineer_a)
    token_row, token = service_token(rw.cast)
    do_set_inference_scope(token_row, actor=rw.cast.admin_a, environments=[rw.environment], models=[])
    routes = Routes(refresh_seconds=60)
    routes.refresh()
    sink = Refusing()
    app = InferenceService(
        routes=routes,
        logbook=Logbook(capacity=100, batch=10, flush_seconds=60, spool_dir=tmp_path / "spool", sink=sink),
        tokens=TokenCache(60),
        max_body_bytes=65536,
        max_rows=10,
    )
    app._started = True
    yield {"app": app, "token": token, "version": version, "report": report, "routes": routes, "sink": sink}
    explainers.CACHE.clear()


def test_an_explained_decision_is_answered_with_its_reasons_and_recorded_before_the_answer(
    explained_app: dict[str, Any],
) -> None:
    """GIVEN a deployed credit model with an explanation report and a reason catalogue
    WHEN two applicants are scored with explain: true, one of them outside the training range
    THEN each row's decision, score and reasons are in the answer, each names a decision record already stored
    with its own prediction log row (one row each, under the request's id), and the log rows hold data quality."""
    outlier = {**APPLICANT, "age": 140.0}
    status, body = call(
        explained_app["app"], "POST", PREDICT, {"rows": [APPLICANT, outlier], "explain": True}, explained_app["token"]
    )
    assert status == 200, body
    assert body["version"] == explained_app["version"].number
    assert len(body["decisions"]) == 2
    for answered, score in zip(body["decisions"], body["scores"], strict=True):
        assert answered["decision"] in {"Approved", "Declined"}
        assert answered["score"] == pytest.approx(score, abs=1e-5)
        assert answered["reasons"], answered
        record = DecisionRecord.objects.select_related("prediction").get(uid=answered["decision_record"])
        assert record.prediction.request_id.hex == body["request_id"].replace("-", "")
        assert record.prediction.rows == 1
        assert record.explanation_report_id == explained_app["report"].pk
        assert record.reasons == answered["reasons"]
    logs = PredictionLog.objects.filter(request_id=body["request_id"]).order_by("pk")
    assert [log.inputs for log in logs] == [[APPLICANT], [outlier]]
    assert logs[0].quality == {}
    assert logs[1].quality == {"out_of_range": {"age": 1}}


def test_a_row_the_model_cannot_take_is_refused_before_anything_is_recorded(explained_app: dict[str, Any]) -> None:
    """GIVEN the same deployment
    WHEN a row misses a feature, with explain: true
    THEN 400 names the row and the feature, and neither a log row nor a decision record is written."""
    row = {key: value for key, value in APPLICANT.items() if key != "debt"}
    status, body = call(explained_app["app"], "POST", PREDICT, {"rows": [row], "explain": True}, explained_app["token"])
    assert status == 400, body
    assert "rows[0].debt" in body["error"]
    assert not DecisionRecord.objects.exists()
    assert explained_app["app"].logbook.depth == 0


def test_where_the_policy_asks_every_decision_is_recorded_without_being_asked(explained_app: dict[str, Any]) -> None:
    """GIVEN the deployment's policy says decision records always
    WHEN an applicant is scored without asking for an explanation
    THEN the answer still carries the decision and its reasons, and its record is in the table before the answer."""
    always_record(explained_app["routes"])
    status, body = call(explained_app["app"], "POST", PREDICT, {"rows": [APPLICANT]}, explained_app["token"])
    assert status == 200, body
    (answered,) = body["decisions"]
    record = DecisionRecord.objects.get(uid=answered["decision_record"])
    assert str(record.prediction.request_id) == body["request_id"]
    assert explained_app["app"].logbook.depth == 0


def test_with_the_database_down_a_recorded_decision_waits_on_disk_and_is_written_when_it_returns(
    explained_app: dict[str, Any],
) -> None:
    """GIVEN the policy says decision records always, and the database refusing connections
    WHEN an applicant is scored
    THEN the answer names its decision record, the row and its decision are in an fsynced spool file, and when the
    database returns the replay writes both: the record the answer named, linked to its log row."""
    always_record(explained_app["routes"])
    explained_app["sink"].down = True
    status, body = call(explained_app["app"], "POST", PREDICT, {"rows": [APPLICANT]}, explained_app["token"])
    assert status == 200, body
    uid = body["decisions"][0]["decision_record"]
    (spooled,) = explained_app["app"].logbook.spool_files
    assert uid in spooled.read_text()
    assert not DecisionRecord.objects.exists()
    explained_app["sink"].down = False
    assert explained_app["app"].logbook.replay()
    record = DecisionRecord.objects.select_related("prediction").get(uid=uid)
    assert str(record.prediction.request_id) == body["request_id"]
    assert record.reasons == body["decisions"][0]["reasons"]


def test_an_explanation_report_that_comes_after_the_load_is_found(
    explained_app: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN the version loaded before its explanation report existed (the audit job finishes after the deployment)
    WHEN an explanation is asked for
    THEN the service looks for the report again (at most every RULE_RETRY_SECONDS) and explains with it, without
    waiting for the route to change."""
    routes = explained_app["routes"]
    (route,) = routes._loaded.values()
    routes.snapshot = Snapshot.of(
        [dataclasses.replace(route, primary=dataclasses.replace(route.primary, decision_rule=None))]
    )
    monkeypatch.setattr(explained, "RULE_RETRY_SECONDS", 0.0)
    status, body = call(
        explained_app["app"], "POST", PREDICT, {"rows": [APPLICANT], "explain": True}, explained_app["token"]
    )
    assert status == 200, body
    assert DecisionRecord.objects.filter(uid=body["decisions"][0]["decision_record"]).exists()
