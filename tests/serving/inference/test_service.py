"""The inference service over HTTP (gunicorn's ASGI worker, as the Procfile runs it): the OIP v2 and rows-form
endpoints, every bad input of the issue, authentication, scopes and rate limits."""

from __future__ import annotations

import http.client
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

from core import actions as core_actions
from core.choices import AuditEventType
from core.models import ApiToken, AuditEvent
from serving.actions import do_set_inference_scope
from serving.models import PredictionLog
from serving.subjects import subject_digest
from tests.serving.factories import service_token
from tests.serving.inference.conftest import (
    MAX_BODY_BYTES,
    MAX_ROWS,
    Service,
    logs_of,
    release_of_new_version,
    wait_for,
)

MODEL = "/production/v2/models/Limit%20scorer"
ROW = {"age": 41, "income": 52000.0, "debt": 1200.5}


def oip(data: list[Any] | None = None, **overrides: Any) -> dict[str, Any]:
    tensor: dict[str, Any] = {"name": "X", "shape": [1, 3], "datatype": "FP32", "data": data or [41, 52000.0, 1200.5]}
    tensor.update(overrides)
    return {"id": "req-7", "inputs": [tensor]}


def test_the_rows_form_scores_and_logs_who_what_and_which_version(service: Service) -> None:
    """GIVEN the world's model deployed to production and a token scoped there
    WHEN the rows form scores two rows with a key and a subject
    THEN the answer names the model, version, deployment and role with one prediction and score per row; and the
    prediction log holds the request: caller, version, inputs as received, outputs, the keyed digests."""
    reply = service.predict([ROW, {**ROW, "age": 23}], key="customer-17", subject="person-42")
    assert reply.status == 200, reply.body
    body = reply.body
    assert (body["model"], body["version"], body["role"]) == ("Limit scorer", 1, "primary")
    assert body["deployment"] == service.deployment.pk
    assert len(body["predictions"]) == 2
    assert set(body["predictions"][0]) == {"probabilities", "label"}
    assert body["scores"] == [pytest.approx(p["probabilities"][1]) for p in body["predictions"]]
    assert reply.headers["assay-request-id"] == body["request_id"]
    (log,) = wait_for(lambda: logs_of(body["request_id"]), "the prediction log")
    assert (log.model_version_id, log.deployment_id, log.role, log.returned) == (
        service.rw.version.pk,
        service.deployment.pk,
        "primary",
        True,
    )
    assert log.caller == "svc-scoring"
    assert log.rows == 2
    assert log.inputs == [ROW, {**ROW, "age": 23}]
    assert len(log.inputs_sha256) == 64
    assert log.outputs == body["predictions"]
    assert log.scores == pytest.approx(body["scores"])
    assert log.subject_digest == subject_digest("person-42")
    assert len(log.routing_key_digest) == 64
    assert log.environment_id == service.rw.environment.pk


def test_the_open_inference_protocol_endpoints(service: Service) -> None:
    """GIVEN the deployed model
    WHEN a KServe-style client asks health, server and model metadata, readiness and inference
    THEN each answers as OIP v2 says, the model's inputs and outputs from the version's interface, ``id`` echoed."""
    assert service.call("GET", "/v2/health/live", token="").body == {"live": True}
    assert service.call("GET", "/v2/health/ready", token="").body["ready"] is True
    server = service.call("GET", "/production/v2")
    assert server.status == 200
    assert server.body["name"] == "assay-inference"
    metadata = service.call("GET", MODEL).body
    assert metadata["versions"] == ["1"]
    assert metadata["platform"] == "onnxruntime_onnx"
    assert metadata["inputs"] == [{"name": "X", "datatype": "FP32", "shape": [-1, 3]}]
    assert {o["name"]: o["datatype"] for o in metadata["outputs"]} == {"probabilities": "FP32", "label": "INT64"}
    ready = service.call("GET", MODEL + "/ready")
    assert (ready.status, ready.body["ready"], ready.body["version"]) == (200, True, "1")
    reply = service.infer(oip())
    assert reply.status == 200, reply.body
    assert reply.body["id"] == "req-7"
    assert reply.body["model_version"] == "1"
    outputs = {o["name"]: o for o in reply.body["outputs"]}
    assert outputs["probabilities"]["shape"] == [1, 2]
    assert outputs["label"]["datatype"] == "INT64"
    only = service.infer({**oip(), "outputs": [{"name": "label"}]})
    assert [o["name"] for o in only.body["outputs"]] == ["label"]
    (log,) = wait_for(lambda: logs_of(reply.body["parameters"]["request_id"]), "the prediction log")
    assert log.inputs == oip()["inputs"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"rows": [{"age": 41, "income": 1.0}]}, "rows[0].debt is missing"),
        ({"rows": [{**ROW, "zip": "0150"}]}, "rows[0].zip is not a feature of the model"),
        ({"rows": [{**ROW, "income": "high"}]}, "rows[0].income is the string 'high'"),
        ({"rows": [{**ROW, "income": None}]}, "rows[0].income is missing (null)"),
        ({"rows": [ROW], "colour": "red"}, "Unknown field 'colour'"),
        ({"rows": []}, "'rows' must be a non-empty list"),
    ],
)
def test_bad_rows_are_refused_naming_the_input_and_nothing_is_logged(
    service: Service, body: dict[str, object], message: str
) -> None:
    reply = service.call("POST", "/production/models/Limit%20scorer/predict", body)
    assert reply.status == 400
    assert message in reply.body["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"inputs": [{"name": "Z", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}, "Input 'Z' is not an"),
        (oip(datatype="INT64"), "Input 'X' has datatype 'INT64'; the model takes FP32"),
        (oip(shape=[3, 1]), "Input 'X' has shape [3, 1]; the model takes [-1, 3]"),
        (oip(shape=[2, 3]), "Input 'X' has 3 values; its shape [2, 3] holds 6"),
        (oip(data=["a", 2, 3]), "Input 'X' at position 0 is the string 'a'"),
        ({"id": 1}, "'inputs' must be a non-empty list"),
    ],
)
def test_bad_oip_inputs_are_refused_naming_the_input(service: Service, body: dict[str, object], message: str) -> None:
    reply = service.infer(body)
    assert reply.status == 400
    assert message in reply.body["error"]


def test_nan_is_refused_where_the_contract_forbids_it(service: Service) -> None:
    """GIVEN a contract without nullable inputs
    WHEN a client sends NaN (as Python's and JavaScript's encoders write it) in either form
    THEN 400 naming the input and position; nothing is scored or logged."""
    rows = b'{"rows": [{"age": 41, "income": NaN, "debt": 3}]}'
    reply = service.call("POST", "/production/models/Limit%20scorer/predict", rows)
    assert (reply.status, reply.body["error"]) == (
        400,
        "rows[0].income is nan: the contract allows only finite numbers.",
    )
    tensor = b'{"inputs": [{"name": "X", "shape": [1, 3], "datatype": "FP32", "data": [1, Infinity, 3]}]}'
    reply = service.infer(tensor)
    assert reply.status == 400
    assert "Input 'X' at position 1 is inf" in reply.body["error"]
    assert PredictionLog.objects.count() == 0


def test_a_body_over_the_limit_is_refused_before_it_is_read(service: Service) -> None:
    """GIVEN the service's body limit (4096 bytes in these tests)
    WHEN a client declares a larger body, or streams one in chunks without declaring its length
    THEN 413 either way, without reading it all: the declared one is answered before a byte of it is sent."""
    target = urlsplit(service.base)
    host, port = str(target.hostname), int(target.port or 80)
    declared = http.client.HTTPConnection(host, port, timeout=30)
    declared.putrequest("POST", "/production/models/Limit%20scorer/predict")
    declared.putheader("Authorization", f"Bearer {service.token}")
    declared.putheader("Content-Length", str(50 * MAX_BODY_BYTES))
    declared.endheaders()  # no body sent at all
    response = declared.getresponse()
    assert response.status == 413
    assert b"at most 4096" in response.read()
    declared.close()

    # Chunked, no length declared: one chunk past the limit, and no last chunk (the service must not wait for it).
    with socket.create_connection((host, port), timeout=30) as sock:
        chunk = b"[" * (MAX_BODY_BYTES + 1)
        sock.sendall(
            b"POST /production/models/Limit%20scorer/predict HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {service.token}\r\n".encode()
            + b"Transfer-Encoding: chunked\r\n\r\n"
            + f"{len(chunk):x}\r\n".encode()
            + chunk
            + b"\r\n"
        )
        answer = sock.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"exceeds 4096 bytes" in answer


def test_more_rows_than_the_limit_are_413(service: Service) -> None:
    reply = service.predict([ROW] * (MAX_ROWS + 1))
    assert reply.status == 413
    assert f"at most {MAX_ROWS} per request" in reply.body["error"]


def test_unknown_environments_and_models_are_404(service: Service) -> None:
    assert service.call("POST", "/nowhere/models/Limit%20scorer/predict", {"rows": [ROW]}).status == 404
    reply = service.call("POST", "/production/models/Nothing/predict", {"rows": [ROW]})
    assert (reply.status, reply.body["error"]) == (404, "No model 'Nothing' is served in environment 'production'.")
    assert service.call("GET", "/production/v2/models/Nothing").status == 404
    assert service.call("GET", "/production/v3/anything").status == 404


def test_a_model_is_also_found_by_its_team_qualified_name_and_wrong_methods_are_405(service: Service) -> None:
    qualified = service.call("GET", "/production/v2/models/team-a.Limit%20scorer")
    assert (qualified.status, qualified.body["versions"]) == (200, ["1"])
    wrong = service.call("GET", "/production/models/Limit%20scorer/predict")
    assert (wrong.status, wrong.headers["allow"]) == (405, "POST")
    assert service.call("POST", MODEL, {}).status == 405


def test_a_registered_but_undeployed_version_is_never_served(service: Service) -> None:
    """GIVEN version 2 registered, approved, but not deployed
    WHEN a client asks for version 2 by its path, or scores without one
    THEN 404 for version 2; version 1 answers; the metadata lists version 1 only."""
    release_of_new_version(service.rw, service.folder, 2)
    reply = service.infer(oip(), path=MODEL + "/versions/2/infer")
    assert reply.status == 404
    assert "Version 2 of 'Limit scorer' is not served" in reply.body["error"]
    assert service.call("GET", MODEL + "/versions/2").status == 404
    pinned = service.infer(oip(), path=MODEL + "/versions/1/infer")
    assert (pinned.status, pinned.body["model_version"]) == (200, "1")
    assert service.predict([ROW]).body["version"] == 1
    assert service.call("GET", MODEL).body["versions"] == ["1"]


def test_tokens_are_checked_and_scoped(service: Service) -> None:
    """GIVEN tokens: none, malformed, unknown, one in the URL, one scoped to staging only, a service token without a
    scope, a personal token, a token of team B's service account scoped to production
    THEN 401 for those that do not authenticate (with a Bearer challenge), 403 for those that may not score here."""
    cast = service.rw.cast
    assert service.call("GET", MODEL, token="").status == 401
    assert service.call("GET", MODEL, token="").headers["www-authenticate"] == 'Bearer realm="inference"'
    assert service.call("GET", MODEL, token="nonsense").body["error"] == "Malformed token."
    unknown = "assay_abcdefgh_" + "x" * 43
    assert service.call("GET", MODEL, token=unknown).body["error"] == "Invalid token."
    in_url = service.call("GET", MODEL + f"?token={service.token}", token="")
    assert (in_url.status, in_url.body["error"]) == (
        401,
        "Send the token in the Authorization header, never in the URL.",
    )

    staging = service.predict([ROW], token=service.staging_token)
    assert (staging.status, staging.body["error"]) == (403, "This token may not score in environment 'production'.")
    _, unscoped = service_token(cast, username="svc-unscoped")
    assert "has no inference scope" in service.predict([ROW], token=unscoped).body["error"]
    _, personal = core_actions.do_create_token(actor=cast.engineer_a, name="mine")
    reply = service.predict([ROW], token=personal)
    assert (reply.status, reply.body["error"]) == (403, "Only service-account tokens score in the inference service.")
    other_row, other = service_token(cast, username="svc-team-b", team=cast.team_b)
    do_set_inference_scope(other_row, actor=cast.superuser, environments=[service.rw.environment], models=[])
    reply = service.predict([ROW], token=other)
    assert (reply.status, reply.body["error"]) == (403, "This token may not score model 'Limit scorer'.")
    assert PredictionLog.objects.count() == 0


def test_a_revoked_token_stops_within_the_cache_time(service: Service) -> None:
    """GIVEN a token that scores
    WHEN it is revoked
    THEN within the token cache's time (half a second here) it is refused."""
    assert service.predict([ROW]).status == 200
    token = service_token_row(service)
    core_actions.do_revoke_token(token, actor=service.rw.cast.admin_a)
    wait_for(lambda: service.predict([ROW]).status == 401, "the revocation to bite")
    assert service.predict([ROW]).body["error"] == "This token has been revoked."


def service_token_row(service: Service) -> ApiToken:
    return ApiToken.objects.get(user__username="svc-scoring")


def test_a_token_over_its_rate_is_answered_429_with_retry_after(service: Service) -> None:
    """GIVEN a token limited to 1 request per second in bursts of 2
    WHEN it sends 4 requests at once
    THEN the burst passes and the rest are 429 with Retry-After."""
    cast = service.rw.cast
    row, token = service_token(cast, username="svc-limited")
    do_set_inference_scope(
        row, actor=cast.admin_a, environments=[service.rw.environment], models=[], requests_per_second=1, burst=2
    )
    statuses = [service.predict([ROW], token=token) for _ in range(4)]
    assert [reply.status for reply in statuses].count(429) >= 1
    refused = next(reply for reply in statuses if reply.status == 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert "Rate limit of 1 requests per second (bursts of 2)" in refused.body["error"]


def test_an_explanation_of_a_version_without_an_explanation_report_is_refused(service: Service) -> None:
    """GIVEN a deployed version no explanation report covers
    WHEN a request asks for an explanation, in either form
    THEN 409 says the version has no explanation report (explained decisions: test_decisions_served.py)."""
    reply = service.predict([ROW], explain=True)
    assert reply.status == 409
    assert "has no explanation report" in reply.body["error"]
    reply = service.infer({**oip(), "parameters": {"explain": True}})
    assert reply.status == 409
    assert service.predict([ROW], explain="yes").body["error"] == "'explain' must be true or false."


def test_scope_events_are_audited(service: Service) -> None:
    assert AuditEvent.objects.filter(event_type=AuditEventType.INFERENCE_SCOPE_SET).count() == 2
