"""The inference service follows the routes without a restart: new deployments, rollbacks, retirements, canaries and
shadows; it refuses an artifact whose bytes are not the approved ones and keeps serving what it served; a request is
answered, and logged, by exactly one version while deployments change under it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db.models import F
from django.utils import timezone

from core.choices import AuditEventType
from core.models import AuditEvent
from serving import actions as serving_actions
from serving.actions import do_deploy, do_rollback
from serving.models import PredictionLog, Route
from tests.serving.factories import overwrite_artifact
from tests.serving.inference.conftest import Service, deploy_version, logs_of, release_of_new_version, wait_for

ROW = {"age": 41, "income": 52000.0, "debt": 1200.5}


def version_for(service: Service, key: str) -> int:
    reply = service.predict([ROW], key=key)
    assert reply.status == 200, reply.body
    return int(reply.body["version"])


def test_a_new_deployment_and_a_rollback_serve_within_seconds(service: Service) -> None:
    """GIVEN version 1 serving
    WHEN version 2 is deployed, and then version 1 rolled back to
    THEN each serves once the service has polled (no restart), and answers say so."""
    deploy_version(service.rw, service.folder, 2)
    wait_for(lambda: service.serving_version() == 2, "version 2 to serve")
    assert version_for(service, "a") == 2
    do_rollback(
        service.rw.version.model,
        service.rw.environment,
        actor=service.rw.cast.engineer_a,
        to_release=service.rw.release,
    )
    wait_for(lambda: service.serving_version() == 1, "the rollback to serve")
    assert version_for(service, "a") == 1


def test_a_retired_model_is_404_within_seconds(service: Service) -> None:
    """GIVEN version 1 serving
    WHEN its route is retired (its primary emptied, as the retire action does)
    THEN the model answers 404."""
    Route.objects.filter(model=service.rw.version.model).update(
        primary=None, revision=F("revision") + 1, changed_at=timezone.now()
    )
    wait_for(lambda: service.predict([ROW]).status == 404, "the retirement")
    assert service.call("GET", "/production/v2/models/Limit%20scorer").status == 404


def test_a_canary_takes_its_share_by_key_and_one_key_always_meets_one_version(service: Service) -> None:
    """GIVEN version 2 deployed as a canary of 30%
    WHEN 60 customers' keys score, each twice
    THEN both versions answer, a key meets the same version both times, and each log names the version and role
    that answered."""
    deploy_version(service.rw, service.folder, 2, role="canary", traffic=30)
    wait_for(
        lambda: service.call("GET", "/production/v2/models/Limit%20scorer").body["versions"] == ["1", "2"], "canary"
    )
    first = {f"customer-{n}": version_for(service, f"customer-{n}") for n in range(60)}
    again = {key: version_for(service, key) for key in first}
    assert first == again
    assert set(first.values()) == {1, 2}
    reply = service.predict([ROW], key=next(key for key, version in first.items() if version == 2))
    (log,) = wait_for(lambda: logs_of(reply.body["request_id"]), "the canary's log")
    assert (log.model_version.number, log.role, log.returned) == (2, "canary", True)
    assert reply.body["role"] == "canary"


def test_a_shadow_scores_every_request_is_never_returned_and_is_logged_beside_the_primary(service: Service) -> None:
    """GIVEN version 2 deployed as a shadow
    WHEN a request scores
    THEN version 1 answers; the log holds two rows under the request's id: version 1 returned, version 2 not."""
    deploy_version(service.rw, service.folder, 2, role="shadow")
    logs = wait_for(lambda: _shadow_logged(service), "the shadow's log")
    assert {(log.model_version.number, log.role, log.returned) for log in logs} == {
        (1, "primary", True),
        (2, "shadow", False),
    }
    assert len({log.request_id for log in logs}) == 1
    shadow = next(log for log in logs if log.role == "shadow")
    primary = next(log for log in logs if log.role == "primary")
    assert shadow.outputs != primary.outputs  # another version, other weights
    assert shadow.inputs == primary.inputs == [ROW]


def _shadow_logged(service: Service) -> list[Any] | None:
    """The two log rows of a new request once the shadow is loaded (None before: one row, the primary's)."""
    reply = service.predict([ROW])
    assert reply.body["version"] == 1
    request_id = reply.body["request_id"]
    wait_for(lambda: logs_of(request_id), "the primary's row")
    deadline = time.monotonic() + 2  # the shadow's row follows within a flush or two, if the shadow was loaded
    while time.monotonic() < deadline:
        rows = logs_of(request_id)
        if len(rows) == 2:
            return rows
        time.sleep(0.05)
    return None


def test_a_corrupted_artifact_is_refused_at_load_and_the_previous_version_keeps_serving(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN version 1 serving, and version 2 whose bytes on disk are overwritten after the gate re-hashed them (the
    window the deploy path documents)
    WHEN version 2 is deployed and the service tries to load it
    THEN it refuses (the bytes are not the approved ones), version 1 keeps answering, serving.load_refused is
    recorded once however often it retries, and /metrics and the ready endpoint count the refusal."""
    release = release_of_new_version(service.rw, service.folder, 2)
    probe = serving_actions.probe_artifact

    def probe_then_tamper(sha256: str, size: int) -> Any:
        result = probe(sha256, size)
        overwrite_artifact(release.model_version)
        return result

    monkeypatch.setattr(serving_actions, "probe_artifact", probe_then_tamper)
    do_deploy(release, actor=service.rw.cast.engineer_a)
    event = wait_for(
        lambda: AuditEvent.objects.filter(event_type=AuditEventType.SERVING_LOAD_REFUSED).first(), "the refusal"
    )
    assert event.metadata["model_version"] == 2
    assert event.metadata["expected_sha256"] == release.model_version.artifact_sha256
    assert event.metadata["found"] != release.model_version.artifact_sha256
    assert event.target_id == str(release.deployments.get().pk)
    assert version_for(service, "a") == 1
    assert service.serving_version() == 1
    metrics = service.call("GET", "/metrics", token="").body
    assert "assay_inference_load_refusals_total 1\n" in metrics
    assert service.call("GET", "/v2/health/ready", token="").body["load_refusals"] >= 1
    assert AuditEvent.objects.filter(event_type=AuditEventType.SERVING_LOAD_REFUSED).count() == 1
    assert "ALERT refused to load deployment" in service.log_path.read_text()


def test_requests_in_flight_while_the_deployment_changes_are_each_answered_and_logged_by_one_version(
    service: Service,
) -> None:
    """GIVEN clients scoring continuously
    WHEN version 2 replaces version 1 meanwhile
    THEN every request is answered by version 1 or 2, and its one log row names the version that answered."""
    answers: list[tuple[str, int]] = []
    failures: list[Any] = []
    stop = False

    def client(n: int) -> None:
        while not stop and not failures:
            reply = service.predict([ROW], key=f"client-{n}-{len(answers)}")
            if reply.status != 200:
                failures.append(reply)
                return
            answers.append((reply.body["request_id"], reply.body["version"]))

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(client, n) for n in range(4)]
        wait_for(lambda: len(answers) >= 20 or failures, "answers from version 1")
        deploy_version(service.rw, service.folder, 2)
        wait_for(lambda: sum(version == 2 for _, version in answers) >= 20 or failures, "answers from version 2")
        stop = True
        for future in futures:
            future.result()
    assert failures == []
    assert {version for _, version in answers} == {1, 2}
    last = answers[-1][0]
    wait_for(lambda: logs_of(last), "the last request's log")
    wait_for(lambda: PredictionLog.objects.count() >= len(answers), "every request's log")
    logged = {str(log.request_id): log for log in PredictionLog.objects.select_related("model_version")}
    for request_id, version in answers:
        assert logged[request_id].model_version.number == version
    assert PredictionLog.objects.count() == len(answers)
