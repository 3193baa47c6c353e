"""The inference service's application driven in this process (ASGI calls, no server): what must hold at the
instant the answer leaves, which a client of a real server cannot observe without racing the log writer."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connections

from serving.actions import do_deploy, do_set_inference_scope
from serving.inference.app import InferenceService
from serving.inference.auth import TokenCache
from serving.inference.loaded import Routes, Snapshot
from serving.inference.logbook import Logbook, inputs_digest, write_rows
from serving.models import PredictionLog
from tests.registry.factories import make_dataset, make_dataset_version
from tests.serving.factories import approve, service_token
from tests.serving.inference.conftest import release_of_new_version

pytestmark = pytest.mark.django_db(transaction=True)
ROW = {"age": 41, "income": 52000.0, "debt": 1200.5}


def call(app: InferenceService, method: str, path: str, body: Any, token: str) -> tuple[int, Any]:
    """One ASGI request to ``app``; its status and decoded body."""
    messages = [{"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json")],
    }

    # In a thread of its own: a test earlier in this process (Playwright's sync API) may have left an event loop
    # running in this one, where asyncio.run refuses to start another.
    def run() -> None:
        try:
            asyncio.run(app(scope, receive, send))
        finally:
            connections.close_all()  # this thread's, if the app opened one

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(run).result()
    return sent[0]["status"], json.loads(sent[1]["body"])


def predict(world: dict[str, Any]) -> tuple[int, Any]:
    return call(world["app"], "POST", "/production/models/Limit scorer/predict", {"rows": [ROW]}, world["token"])


class Refusing:
    """The log table's writer, with the database refusing connections while ``down``."""

    down = False

    def __call__(self, rows: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
        if self.down:
            raise OperationalError("connection refused")
        return write_rows(rows, **options)


@pytest.fixture
def world(rw: Any, tmp_path: Path) -> dict[str, Any]:
    approve(rw)
    deployment = do_deploy(rw.release, actor=rw.cast.engineer_a)
    token_row, token = service_token(rw.cast)
    do_set_inference_scope(token_row, actor=rw.cast.admin_a, environments=[rw.environment], models=[])
    sink = Refusing()
    routes = Routes(refresh_seconds=60)
    routes.refresh()
    app = InferenceService(
        routes=routes,
        # The writer thread is never started: whatever is in the table when the answer returns was written before.
        logbook=Logbook(capacity=100, batch=10, flush_seconds=60, spool_dir=tmp_path / "spool", sink=sink),
        tokens=TokenCache(60),
        max_body_bytes=65536,
        max_rows=10,
    )
    app._started = True  # no poller, no writer: this test drives both by hand
    return {"app": app, "routes": routes, "token": token, "sink": sink, "deployment": deployment}


def always_record(routes: Routes) -> None:
    """The loaded deployment as if its release's policy said ``decision_records = always``."""
    (route,) = routes._loaded.values()
    primary = dataclasses.replace(route.primary, decision_records_always=True)
    routes.snapshot = Snapshot.of([dataclasses.replace(route, primary=primary)])


def test_where_the_policy_asks_for_records_a_version_without_an_explanation_report_is_not_answered(
    world: dict[str, Any],
) -> None:
    """GIVEN a deployment whose policy asks for decision records always, of a version no explanation report covers
    WHEN a request is scored
    THEN 409 says the version has no explanation report (a record without its reasons is no record), and nothing
    is logged. Recorded decisions where the policy asks: test_decisions_served.py."""
    always_record(world["routes"])
    status, body = predict(world)
    assert status == 409, body
    assert "has no explanation report" in body["error"]
    assert world["app"].logbook.depth == 0
    assert not PredictionLog.objects.exists()


def test_without_the_policy_the_log_waits_for_the_writer(world: dict[str, Any]) -> None:
    status, body = call(
        world["app"], "POST", "/production/models/Limit scorer/predict", {"rows": [ROW]}, world["token"]
    )
    assert status == 200
    assert world["app"].logbook.depth == 1
    assert not PredictionLog.objects.exists()
    world["app"].logbook.flush()
    assert PredictionLog.objects.filter(request_id=body["request_id"]).exists()


def test_inputs_of_a_model_trained_on_restricted_data_are_logged_as_their_digest_only(
    world: dict[str, Any], rw: Any, tmp_path: Path
) -> None:
    """GIVEN version 2 of the model, trained on a dataset classified restricted, deployed
    WHEN a request is scored by it
    THEN its log keeps the digest of the inputs and not the inputs."""
    restricted = make_dataset(rw.cast.team_a, rw.cast.engineer_a, name="Health records", classification="restricted")
    version = make_dataset_version(restricted, rw.cast.engineer_a)
    release = release_of_new_version(rw, tmp_path, 2, dataset_versions=[version.pk])
    do_deploy(release, actor=rw.cast.engineer_a)
    world["routes"].refresh()
    status, body = call(
        world["app"], "POST", "/production/models/Limit scorer/predict", {"rows": [ROW]}, world["token"]
    )
    assert (status, body["version"]) == (200, 2)
    world["app"].logbook.flush()
    log = PredictionLog.objects.get(request_id=body["request_id"])
    assert log.inputs is None
    assert log.inputs_sha256 == inputs_digest([ROW])
