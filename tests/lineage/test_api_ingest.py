"""POST /api/v1/lineage as OpenLineage producers send it: one event, a batch (JSON array or NDJSON), gzip; every
bad input answered with a precise 4xx naming the field, and nothing stored for it."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from lineage.api.parsers import MAX_BATCH_EVENTS
from lineage.events import MAX_EVENT_DEPTH, MAX_INPUTS, MAX_NAME_BYTES
from lineage.models import LineageEvent, LineageRun, Namespace
from tests.api_cases import assert_error_shape
from tests.lineage.events import dataset, run_event

pytestmark = pytest.mark.django_db

URL = "/api/v1/lineage"


@pytest.fixture
def engineer(cast: Any, api_as: Callable[[Any], APIClient]) -> APIClient:
    return api_as(cast.engineer_a)


def post(client: APIClient, body: Any, **extra: Any) -> Any:
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    content_type = extra.pop("content_type", "application/json")
    return client.post(URL, data=data, content_type=content_type, **extra)


def test_one_event_is_stored_with_201_and_a_duplicate_answers_200(engineer: APIClient) -> None:
    event = run_event("START")
    first = post(engineer, event)
    assert first.status_code == 201, first.content
    assert first.json()["status"] == "stored"
    again = post(engineer, event)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert again.json()["digest"] == first.json()["digest"]
    assert LineageEvent.objects.count() == 1


def test_the_trailing_slash_works_too(engineer: APIClient) -> None:
    response = engineer.post(f"{URL}/", data=json.dumps(run_event()), content_type="application/json")
    assert response.status_code == 201, response.content


def test_a_gzip_body_is_accepted(engineer: APIClient) -> None:
    body = gzip.compress(json.dumps(run_event()).encode())
    response = post(engineer, body, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 201, response.content


def test_a_batch_reports_each_event_and_stores_the_good_ones(engineer: APIClient) -> None:
    good, bad = run_event("START"), run_event("START")
    del bad["run"]["runId"]
    response = post(engineer, [good, bad, good])
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["received"], body["stored"], body["duplicate"], body["refused"]) == (3, 1, 1, 1)
    assert [result["status"] for result in body["results"]] == ["stored", "refused", "duplicate"]
    assert body["results"][1]["error"]["field"] == "run.runId"
    assert LineageEvent.objects.count() == 1


def test_an_ndjson_batch_with_a_broken_line(engineer: APIClient) -> None:
    lines = [json.dumps(run_event("START")), "{not json", json.dumps(run_event("COMPLETE"))]
    response = post(engineer, "\n".join(lines) + "\n", content_type="application/x-ndjson")
    assert response.status_code == 200, response.content
    assert [result["status"] for result in response.json()["results"]] == ["stored", "refused", "stored"]


def _without(path: str) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def change(event: dict[str, Any]) -> None:
        target = event
        for key in parents:
            target = target[key]
        del target[last]

    return change


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def change(event: dict[str, Any]) -> None:
        target = event
        for key in parents:
            target = target[key]
        target[last] = value

    return change


def _deep(event: dict[str, Any]) -> None:
    nested: dict[str, Any] = {"leaf": 1}
    for _ in range(MAX_EVENT_DEPTH):
        nested = {"n": nested}
    event["run"]["facets"]["custom"] = {"_producer": "https://x.example", "_schemaURL": "https://x.example/s", **nested}


BAD = [
    ("missing eventTime", _without("eventTime"), "eventTime", "missing_field"),
    ("missing runId", _without("run.runId"), "run.runId", "missing_field"),
    ("missing job namespace", _without("job.namespace"), "job.namespace", "missing_field"),
    ("missing producer", _without("producer"), "producer", "missing_field"),
    ("unknown eventType", _set("eventType", "EXPLODED"), "eventType", "invalid_choice"),
    ("non-UUID runId", _set("run.runId", "run-42"), "run.runId", "invalid_event"),
    ("bad schemaURL", _set("schemaURL", "not a uri"), "schemaURL", "invalid_uri"),
    ("relative producer", _set("producer", "/relative/path"), "producer", "invalid_uri"),
    ("date without time", _set("eventTime", "2026-01-01"), "eventTime", "invalid_event"),
    ("time without offset", _set("eventTime", "2026-01-01T10:00:00"), "eventTime", "invalid_datetime"),
    ("name not a string", _set("job.name", 7), "job.name", "invalid_event"),
    (
        "too many inputs",
        _set("inputs", [dataset("s3://raw", f"t{i}") for i in range(50_000)]),
        "inputs",
        "too_many_datasets",
    ),
    ("deeply nested facet", _deep, "run.facets.custom", "too_deep"),
    ("name too long in bytes", _set("job.name", "é" * (MAX_NAME_BYTES // 2 + 1)), "job.name", "name_too_long"),
    ("NUL in a name", _set("job.name", "a\x00b"), "job.name", "invalid_event"),
    (
        "facet without _producer",
        _set("run.facets", {"x": {"_schemaURL": "https://x.example"}}),
        "run.facets.x._producer",
        "missing_field",
    ),
]


@pytest.mark.parametrize(("change", "field", "code"), [pytest.param(*case[1:], id=case[0]) for case in BAD])
def test_bad_events_are_refused_naming_the_field(engineer: APIClient, change: Any, field: str, code: str) -> None:
    event = run_event("START")
    change(event)
    response = post(engineer, event)
    assert response.status_code == 400, response.content
    error = assert_error_shape(response)
    assert error["code"] == code
    assert any(name == field or name.startswith(f"{field}.") for name in error["fields"]), error
    assert LineageEvent.objects.count() == 0
    assert LineageRun.objects.count() == 0


def test_more_inputs_than_the_limit_is_refused(engineer: APIClient) -> None:
    event = run_event("START", inputs=[dataset("s3://raw", f"t{i}") for i in range(MAX_INPUTS + 1)])
    response = post(engineer, event)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "too_many_datasets")


def test_a_5_mb_body_is_413_before_it_is_read(engineer: APIClient) -> None:
    body = b"[" + b" " * (5 * 1024 * 1024) + b"]"
    response = post(engineer, body)
    assert response.status_code == 413
    assert_error_shape(response)
    assert LineageEvent.objects.count() == 0


def test_a_gzip_bomb_is_413(engineer: APIClient) -> None:
    body = gzip.compress(b"[" + b" " * (8 * 1024 * 1024) + b"]")
    assert len(body) < 1024 * 1024
    response = post(engineer, body, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert_error_shape(response)


@pytest.mark.parametrize(
    ("body", "extra", "status"),
    [
        pytest.param(b"", {}, 400, id="empty"),
        pytest.param(b"{", {}, 400, id="malformed"),
        pytest.param(b"[]", {}, 400, id="empty batch"),
        pytest.param(b"\xff\xfe", {}, 400, id="not utf-8"),
        pytest.param(b"not gzip", {"HTTP_CONTENT_ENCODING": "gzip"}, 400, id="bad gzip"),
        pytest.param(b"{}", {"HTTP_CONTENT_ENCODING": "br"}, 415, id="brotli"),
        pytest.param(b"[" + b"[" * 100 + b"]" * 100 + b"]", {}, 400, id="nested arrays"),
        pytest.param(b'{"eventTime": NaN}', {}, 400, id="NaN"),
    ],
)
def test_bodies_that_are_not_events(engineer: APIClient, body: bytes, extra: dict[str, str], status: int) -> None:
    response = post(engineer, body, **extra)
    assert response.status_code == status, response.content
    assert_error_shape(response)
    assert LineageEvent.objects.count() == 0


def test_too_many_events_in_a_batch(engineer: APIClient) -> None:
    response = post(engineer, "\n".join(["{}"] * (MAX_BATCH_EVENTS + 1)), content_type="application/x-ndjson")
    assert response.status_code == 400
    assert "at most" in response.json()["error"]["message"]


def test_another_teams_namespace_is_403_naming_it(cast: Any, api_as: Callable[[Any], APIClient]) -> None:
    post(api_as(cast.engineer_a), run_event("START"))
    intruder = run_event("START", namespace="airflow://team-a", outputs=[])
    response = post(api_as(cast.engineer_b), intruder)
    assert response.status_code == 403, response.content
    error = assert_error_shape(response)
    assert error["code"] == "namespace_forbidden"
    assert "job.namespace" in error["fields"]
    assert "airflow://team-a" in error["message"]
    assert not LineageRun.objects.filter(run_id=intruder["run"]["runId"]).exists()


def test_the_team_parameter_claims_for_a_named_team(cast: Any, api_as: Callable[[Any], APIClient]) -> None:
    root = api_as(cast.superuser)
    response = root.post(f"{URL}?team=team-b", data=json.dumps(run_event()), content_type="application/json")
    assert response.status_code == 201, response.content
    assert Namespace.objects.get(name="airflow://team-a").team == cast.team_b
    unknown = api_as(cast.engineer_a).post(
        f"{URL}?team=nope", data=json.dumps(run_event()), content_type="application/json"
    )
    assert unknown.status_code == 400
    assert "team" in unknown.json()["error"]["fields"]


def test_a_run_id_is_normalised(engineer: APIClient) -> None:
    run_id = uuid.uuid4()
    response = post(engineer, run_event("START", run_id=str(run_id).upper()))
    assert response.status_code == 201
    assert LineageRun.objects.get().run_id == run_id
