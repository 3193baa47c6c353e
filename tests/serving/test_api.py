"""The gate's and serving's endpoints: every persona of the cast and an anonymous client (tests/api_cases.py), then
the rules by hand: a 409 lists every check and leaves its record, idempotency keys, bad input, filters, the schema.

Engineers and admins of team A (and platform administrators) deploy and roll back; everyone in team A reads the gate
preview and the deployments; the engineer of team B sees none of it (404).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.choices import AuditEventType, BoardRole
from core.models import AuditEvent
from governance.models import GateEvaluation
from serving.actions import do_deploy
from serving.models import Deployment
from tests.api_cases import PERSONAS, TEAM_A, ApiCase, World, assert_error_shape, matrix, run_case
from tests.governance.factories import make_release_world
from tests.serving.factories import approve, new_version, overwrite_artifact, request, submit

pytestmark = pytest.mark.django_db

TEAM_A_AND_ROOT = ("superuser", *TEAM_A)
WRITERS = ("superuser", "admin_a", "engineer_a")
ONNX: list[Path] = []
CHECK_NAMES = [
    "release_open",
    "policy_current",
    "quorum",
    "manifest_current",
    "artifact_integrity",
    "decisions_explainable",
]


@pytest.fixture(autouse=True)
def _onnx(onnx_path: Path) -> None:
    ONNX[:] = [onnx_path]


def reads() -> dict[str, int]:
    return {**dict.fromkeys(TEAM_A_AND_ROOT, 200), "engineer_b": 404}


def deploys(status: int) -> dict[str, int]:
    return {**dict.fromkeys(TEAM_A, 403), **dict.fromkeys(WRITERS, status), "engineer_b": 404}


def _release(world: World) -> dict[str, Any]:
    rw = make_release_world(world.cast, ONNX[0])
    return {"rw": rw, "release": rw.release}


def _approved(world: World) -> dict[str, Any]:
    objects = _release(world)
    approve(objects["rw"])
    return objects


def _deployed(world: World) -> dict[str, Any]:
    objects = _approved(world)
    objects["deployment"] = do_deploy(objects["release"], actor=world.cast.engineer_a)
    return objects


def _two_deployed(world: World) -> dict[str, Any]:
    objects = _deployed(world)
    rw = objects["rw"]
    second = request(rw, new_version(rw, ONNX[0].parent, 2))
    approve(rw, second)
    do_deploy(second, actor=world.cast.engineer_a)
    return objects


CASES = [
    ApiCase(
        "gate.preview",
        "get",
        lambda w: f"/api/v1/releases/{w.release.pk}/gate/",
        setup=_approved,
        statuses=reads(),
        default=200,
    ),
    ApiCase(
        "releases.deploy",
        "post",
        lambda w: f"/api/v1/releases/{w.release.pk}/deploy/",
        data=lambda w: {"idempotency_key": "ci-1"},
        setup=_approved,
        statuses=deploys(201),
        event=AuditEventType.DEPLOYMENT_CREATED,
        counted=(Deployment, GateEvaluation),
    ),
    ApiCase(
        "deployments.list",
        "get",
        lambda w: "/api/v1/deployments/",
        setup=_deployed,
        statuses=dict.fromkeys(PERSONAS, 200),
        listed=lambda w: str(w.release.uid),
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "deployments.detail",
        "get",
        lambda w: f"/api/v1/deployments/{w.deployment.pk}/",
        setup=_deployed,
        statuses=reads(),
        default=200,
    ),
    ApiCase(
        "models.rollback",
        "post",
        lambda w: f"/api/v1/models/{w.release.model_version.model_id}/rollback/",
        data=lambda w: {"environment": "production", "release": w.release.pk},
        setup=_two_deployed,
        statuses=deploys(201),
        event=AuditEventType.DEPLOYMENT_CREATED,
        counted=(Deployment, GateEvaluation),
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)


@pytest.mark.parametrize("persona", PERSONAS)
def test_bundle_matrix(persona: str, world: World) -> None:
    """The bundle is read by whoever reads the release, and each export is recorded (so it is no plain GET)."""
    world.objects.update(_approved(world))
    client = world.client(persona)
    before = AuditEvent.objects.filter(event_type=AuditEventType.RELEASE_BUNDLE_EXPORTED).count()
    response = client.get(f"/api/v1/releases/{world.release.pk}/bundle/")
    expected = 401 if persona == "anonymous" else reads().get(persona, 200)
    assert response.status_code == expected, response.content[:300]
    exported = AuditEvent.objects.filter(event_type=AuditEventType.RELEASE_BUNDLE_EXPORTED).count() - before
    if expected == 200:
        assert response.json()["manifest"]["release"] == str(world.release.uid)
        assert exported == 1
    else:
        assert_error_shape(response)
        assert exported == 0


# --- The rules, by hand -------------------------------------------------------------------------------------------


def test_a_refused_deploy_is_a_409_listing_every_check_with_its_record(world: World) -> None:
    # GIVEN a release only the legal reviewer approved, whose artifact was then rewritten on disk
    objects = _release(world)
    rw, release = objects["rw"], objects["release"]
    submit(rw, world.cast.reviewers[BoardRole.LEGAL], BoardRole.LEGAL)
    overwrite_artifact(rw.version)
    # WHEN engineer A deploys it over the API
    response = world.client("engineer_a").post(f"/api/v1/releases/{release.pk}/deploy/", {}, format="json")
    # THEN a 409 in the API's error shape listing every check, passed or not, with its reason
    assert response.status_code == 409, response.content
    error = assert_error_shape(response)
    assert error["code"] == "gate_refused"
    assert "quorum, artifact_integrity failed" in error["message"]
    checks = response.json()["error"]["checks"]
    assert [check["name"] for check in checks] == CHECK_NAMES
    assert {check["name"]: check["passed"] for check in checks} == {
        "release_open": True,
        "policy_current": True,
        "quorum": False,
        "manifest_current": True,
        "artifact_integrity": False,
        "decisions_explainable": True,
    }
    assert all(check["reason"] for check in checks)
    # AND the evaluation is stored, gate.failed and artifact.corrupted are written, nothing is deployed
    evaluation = GateEvaluation.objects.get(pk=response.json()["error"]["gate_evaluation"])
    assert evaluation.checks == checks
    failed = AuditEvent.objects.get(event_type=AuditEventType.GATE_FAILED)
    assert [item["name"] for item in failed.metadata["failed"]] == ["quorum", "artifact_integrity"]
    assert AuditEvent.objects.filter(event_type=AuditEventType.ARTIFACT_CORRUPTED).count() == 1
    assert Deployment.objects.count() == 0


def test_deploy_returns_the_deployment_and_the_same_key_returns_it_again(world: World) -> None:
    objects = _approved(world)
    client = world.client("engineer_a")
    url = f"/api/v1/releases/{objects['release'].pk}/deploy/"
    first = client.post(url, {"idempotency_key": "pipeline-9"}, format="json")
    again = client.post(url, {"idempotency_key": "pipeline-9"}, format="json")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    body = first.json()
    assert body["environment"] == "production"
    assert body["release_uid"] == str(objects["release"].uid)
    assert body["model_version"] == 1
    assert body["deployed_by"] == "erin-engineer"
    assert body["is_rollback"] is False
    assert GateEvaluation.objects.get(pk=body["gate_evaluation"]).passed
    assert Deployment.objects.count() == 1


def test_an_idempotency_key_used_for_another_release_is_a_409(world: World) -> None:
    objects = _deployed(world)
    rw = objects["rw"]
    second = request(rw, new_version(rw, ONNX[0].parent, 2))
    approve(rw, second)
    client = world.client("engineer_a")
    used = client.post(f"/api/v1/releases/{second.pk}/deploy/", {"idempotency_key": "k"}, format="json")
    assert used.status_code == 201, used.content
    third = request(rw, new_version(rw, ONNX[0].parent, 3))
    approve(rw, third)
    response = client.post(f"/api/v1/releases/{third.pk}/deploy/", {"idempotency_key": "k"}, format="json")
    assert response.status_code == 409
    assert assert_error_shape(response)["code"] == "idempotency_conflict"
    assert Deployment.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"idempotency_key": "x" * 129}, "idempotency_key"),
        ({"idempotency_key": 5}, "idempotency_key"),
        ({"idempotency_key": "bell\x07"}, "idempotency_key"),
        ({"environment": "production"}, "environment"),
    ],
)
def test_bad_deploy_bodies_are_refused_naming_the_field(world: World, body: dict[str, Any], field: str) -> None:
    objects = _approved(world)
    response = world.client("engineer_a").post(f"/api/v1/releases/{objects['release'].pk}/deploy/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in assert_error_shape(response)["fields"]
    assert Deployment.objects.count() == 0
    assert GateEvaluation.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"release": 1}, "environment"),
        ({"environment": "production"}, "release"),
        ({"environment": "nowhere", "release": "{release}"}, "environment"),
        ({"environment": "production", "release": 99999}, "release"),
        ({"environment": "production", "release": "{never}"}, "release"),
        ({"environment": "production", "release": "{release}", "extra": 1}, "extra"),
    ],
)
def test_bad_rollback_bodies_are_refused_naming_the_field(world: World, body: dict[str, Any], field: str) -> None:
    objects = _deployed(world)
    rw = objects["rw"]
    never = request(rw, new_version(rw, ONNX[0].parent, 2))
    values = {"{release}": objects["release"].pk, "{never}": never.pk}
    body = {key: values.get(value, value) if isinstance(value, str) else value for key, value in body.items()}
    model_id = objects["release"].model_version.model_id
    response = world.client("engineer_a").post(f"/api/v1/models/{model_id}/rollback/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in assert_error_shape(response)["fields"]
    assert Deployment.objects.count() == 1


def test_rollback_over_the_api_goes_through_the_gate(world: World) -> None:
    objects = _two_deployed(world)
    model_id = objects["release"].model_version.model_id
    client = world.client("engineer_a")
    response = client.post(
        f"/api/v1/models/{model_id}/rollback/",
        {"environment": "production", "release": objects["release"].pk},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["is_rollback"] is True
    assert body["model_version"] == 1
    listed = client.get(f"/api/v1/deployments/?model={model_id}&environment=production").json()["results"]
    assert [row["model_version"] for row in listed] == [1, 2, 1]  # newest first
    assert listed[0]["replaces"] == listed[1]["id"]


def test_deployments_filter_by_environment_and_model(world: World) -> None:
    objects = _deployed(world)
    client = world.client("compliance")
    model_id = objects["release"].model_version.model_id
    assert len(client.get("/api/v1/deployments/?environment=production").json()["results"]) == 1
    assert client.get("/api/v1/deployments/?environment=staging").json()["results"] == []
    assert client.get(f"/api/v1/deployments/?model={model_id + 1}").json()["results"] == []
    response = client.get("/api/v1/deployments/?ordering=model")
    assert response.status_code == 400
    assert "ordering" in assert_error_shape(response)["fields"]


def test_the_gate_preview_stores_nothing_and_can_skip_the_rehash(world: World) -> None:
    objects = _approved(world)
    client = world.client("reviewer_legal")
    url = f"/api/v1/releases/{objects['release'].pk}/gate/"
    body = client.get(url).json()
    assert body["id"] is None
    assert body["purpose"] == "preview"
    assert body["passed"] is True
    assert [check["name"] for check in body["checks"]] == CHECK_NAMES
    cheap = client.get(url + "?rehash=false").json()
    assert "not re-hashed" in check_named(cheap, "artifact_integrity")["reason"]
    response = client.get(url + "?rehash=maybe")
    assert response.status_code == 400
    assert "rehash" in assert_error_shape(response)["fields"]
    assert GateEvaluation.objects.count() == 0


def test_a_gate_preview_that_finds_the_artifact_corrupted_records_it(world: World) -> None:
    objects = _approved(world)
    overwrite_artifact(objects["rw"].version)
    body = world.client("auditor").get(f"/api/v1/releases/{objects['release'].pk}/gate/").json()
    assert body["passed"] is False
    assert check_named(body, "artifact_integrity")["passed"] is False
    event = AuditEvent.objects.get(event_type=AuditEventType.ARTIFACT_CORRUPTED)
    assert event.actor_id == world.cast.auditor.pk


def test_the_schema_documents_the_endpoints(world: World) -> None:
    response = world.client("engineer_a").get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/v1/releases/{id}/gate/",
        "/api/v1/releases/{id}/deploy/",
        "/api/v1/releases/{id}/bundle/",
        "/api/v1/deployments/",
        "/api/v1/deployments/{id}/",
        "/api/v1/models/{id}/rollback/",
    ):
        assert path in paths, sorted(paths)
    assert "409" in paths["/api/v1/releases/{id}/deploy/"]["post"]["responses"]


def check_named(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The check called ``name`` in a gate answer's ``checks``."""
    return next(check for check in body["checks"] if check["name"] == name)
