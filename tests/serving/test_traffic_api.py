"""Canary, shadow, promote, end-trial, retire and rollback over the API, and the routes: every persona of the cast
and an anonymous client (tests/api_cases.py), then the rules by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.choices import AuditEventType
from governance.models import GateEvaluation
from serving.actions import do_deploy, do_promote
from serving.choices import DeploymentRole
from serving.models import Deployment, Route
from tests.api_cases import PERSONAS, TEAM_A, ApiCase, World, assert_error_shape, matrix, run_case
from tests.governance.factories import make_release_world
from tests.serving.factories import approve, new_version, request

pytestmark = pytest.mark.django_db

WRITERS = ("superuser", "admin_a", "engineer_a")
ONNX: list[Path] = []


@pytest.fixture(autouse=True)
def _onnx(onnx_path: Path) -> None:
    ONNX[:] = [onnx_path]


def changes(status: int) -> dict[str, int]:
    return {**dict.fromkeys(TEAM_A, 403), **dict.fromkeys(WRITERS, status), "engineer_b": 404}


def _deployed_and_second(world: World) -> dict[str, Any]:
    """Version 1 serving in production; version 2's release approved."""
    rw = make_release_world(world.cast, ONNX[0])
    approve(rw)
    first = do_deploy(rw.release, actor=world.cast.engineer_a)
    second = request(rw, new_version(rw, ONNX[0].parent, 2))
    approve(rw, second)
    return {"rw": rw, "release": rw.release, "first": first, "second": second, "model": rw.version.model}


def _canary(world: World) -> dict[str, Any]:
    objects = _deployed_and_second(world)
    objects["canary"] = do_deploy(
        objects["second"], actor=world.cast.engineer_a, role=DeploymentRole.CANARY, traffic_percent=10
    )
    return objects


def _promoted(world: World) -> dict[str, Any]:
    objects = _canary(world)
    objects["promoted"] = do_promote(objects["model"], objects["rw"].environment, actor=world.cast.engineer_a)
    return objects


def url(model: Any, suffix: str) -> str:
    return f"/api/v1/models/{model.pk}/environments/production/{suffix}/"


def at(suffix: str) -> Any:
    return lambda w: url(w.model, suffix)


CASES = [
    ApiCase(
        "releases.deploy-canary",
        "post",
        lambda w: f"/api/v1/releases/{w.second.pk}/deploy/",
        data=lambda w: {"role": "canary", "traffic_percent": 10},
        setup=_deployed_and_second,
        statuses=changes(201),
        event=AuditEventType.DEPLOYMENT_CREATED,
        counted=(Deployment, GateEvaluation),
    ),
    ApiCase(
        "models.environment-promote",
        "post",
        at("promote"),
        data=lambda w: {},
        setup=_canary,
        statuses=changes(201),
        event=AuditEventType.DEPLOYMENT_CREATED,
        counted=(Deployment, GateEvaluation),
    ),
    ApiCase(
        "models.environment-end-trial",
        "post",
        at("end-trial"),
        data=lambda w: {"role": "canary"},
        setup=_canary,
        statuses=changes(200),
        event=AuditEventType.DEPLOYMENT_TRIAL_ENDED,
    ),
    ApiCase(
        "models.environment-retire",
        "post",
        at("retire"),
        data=lambda w: {"reason": "Product closed"},
        setup=_canary,
        statuses=changes(200),
        event=AuditEventType.DEPLOYMENT_RETIRED,
    ),
    ApiCase(
        "models.environment-rollback",
        "post",
        at("rollback"),
        data=lambda w: {},
        setup=_promoted,
        statuses=changes(201),
        event=AuditEventType.DEPLOYMENT_CREATED,
        counted=(Deployment, GateEvaluation),
    ),
    ApiCase(
        "routes.list",
        "get",
        lambda w: "/api/v1/routes/",
        setup=_canary,
        statuses=dict.fromkeys(PERSONAS, 200),
        listed=lambda w: f'"model_name":"{w.model.name}"',
        visible_to=("superuser", *TEAM_A),
    ),
    ApiCase(
        "routes.detail",
        "get",
        lambda w: f"/api/v1/routes/{Route.objects.get(model=w.model).pk}/",
        setup=_canary,
        statuses={"engineer_b": 404},
        default=200,
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)


# --- The rules, by hand -------------------------------------------------------------------------------------------


def test_a_canary_over_the_api_shows_in_the_routes_and_promotes(world: World) -> None:
    objects = _deployed_and_second(world)
    client = world.client("engineer_a")
    # WHEN version 2 is deployed as a 10 percent canary
    response = client.post(
        f"/api/v1/releases/{objects['second'].pk}/deploy/", {"role": "canary", "traffic_percent": 10}, format="json"
    )
    assert response.status_code == 201, response.content
    assert (response.json()["role"], response.json()["traffic_percent"]) == ("canary", 10)
    # THEN the route lists the primary and the canary
    [route] = client.get("/api/v1/routes/?environment=production").json()["results"]
    assert route["primary"]["model_version"] == 1
    assert (route["canary"]["model_version"], route["canary"]["traffic_percent"]) == (2, 10)
    assert route["shadow"] is None
    assert route["revision"] == 2
    assert client.get("/api/v1/routes/?environment=staging").json()["results"] == []
    assert client.get(f"/api/v1/routes/?model={objects['model'].pk + 1}").json()["results"] == []
    # WHEN promoted
    response = client.post(url(objects["model"], "promote"), {}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["role"], response.json()["model_version"]) == ("primary", 2)
    [route] = client.get("/api/v1/routes/").json()["results"]
    assert (route["primary"]["model_version"], route["canary"], route["revision"]) == (2, None, 3)
    # AND one rollback command returns to version 1
    response = client.post(url(objects["model"], "rollback"), {}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["model_version"], response.json()["is_rollback"]) == (1, True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "canary"}, "traffic_percent"),
        ({"role": "canary", "traffic_percent": 51}, "traffic_percent"),
        ({"role": "canary", "traffic_percent": 0}, "traffic_percent"),
        ({"role": "canary", "traffic_percent": "ten"}, "traffic_percent"),
        ({"role": "shadow", "traffic_percent": 5}, "traffic_percent"),
        ({"role": "primary", "traffic_percent": 50}, "traffic_percent"),
        ({"role": "sidecar"}, "role"),
    ],
)
def test_bad_trial_deploys_are_refused_naming_the_field(world: World, body: dict[str, Any], field: str) -> None:
    objects = _deployed_and_second(world)
    response = world.client("engineer_a").post(f"/api/v1/releases/{objects['second'].pk}/deploy/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in assert_error_shape(response)["fields"]
    assert Deployment.objects.count() == 1


@pytest.mark.parametrize(
    ("suffix", "body", "field"),
    [
        ("promote", {}, "role"),  # nothing runs beside the primary
        ("promote", {"role": "primary"}, "role"),
        ("end-trial", {}, "role"),
        ("end-trial", {"role": "canary"}, "role"),  # no canary runs
        ("retire", {}, "reason"),
        ("retire", {"reason": "  "}, "reason"),
        ("rollback", {}, "release"),  # no earlier primary
        ("rollback", {"release": 99999}, "release"),
        ("rollback", {"extra": 1}, "extra"),
    ],
)
def test_bad_route_changes_are_refused_naming_the_field(
    world: World, suffix: str, body: dict[str, Any], field: str
) -> None:
    objects = _deployed_and_second(world)
    response = world.client("engineer_a").post(url(objects["model"], suffix), body, format="json")
    assert response.status_code == 400, response.content
    assert field in assert_error_shape(response)["fields"]
    assert Route.objects.get().revision == 1
    assert Deployment.objects.count() == 1


def test_an_unknown_environment_is_a_404(world: World) -> None:
    objects = _canary(world)
    url = f"/api/v1/models/{objects['model'].pk}/environments/nowhere/promote/"
    response = world.client("engineer_a").post(url, {}, format="json")
    assert response.status_code == 404
    assert_error_shape(response)


def test_the_schema_documents_the_route_endpoints(world: World) -> None:
    paths = world.client("engineer_a").get("/api/schema/?format=json").json()["paths"]
    for name in ("promote", "end-trial", "retire", "rollback"):
        assert f"/api/v1/models/{{id}}/environments/{{slug}}/{name}/" in paths, sorted(paths)
    assert "/api/v1/routes/" in paths
