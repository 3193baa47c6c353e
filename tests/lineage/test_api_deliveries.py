"""``GET /api/v1/lineage/deliveries/``: the forwarding outbox, tried by every persona (tests/api_cases.py), and its
filters."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from core.jobs import dispatch_job
from lineage.choices import DeliveryState
from lineage.models import LineageDelivery
from tests.api_cases import PERSONAS, TEAM_A, ApiCase, World, matrix, run_case

EVERYONE = dict.fromkeys(PERSONAS, 200)
TEAM_A_AND_ROOT = ("superuser", *TEAM_A)
TARGET = "http://marquez.example:5000/api/v1/lineage"


@pytest.fixture
def world(cast: Any, api_as: Any) -> World:
    return World(cast=cast, make_client=api_as)


def _deliveries(world: World) -> dict[str, Any]:
    cast = world.cast
    job, _ = dispatch_job("audit.verify", actor=cast.engineer_a, team=cast.team_a)
    team_a = LineageDelivery.objects.create(
        payload={"eventType": "START"},
        event_type="START",
        job=job,
        team=cast.team_a,
        target=TARGET,
        attempts=3,
        last_error="ConnectionError: refused",
        last_attempt_at=timezone.now(),
        next_attempt_at=timezone.now(),
    )
    platform = LineageDelivery.objects.create(
        payload={"eventType": "COMPLETE"}, event_type="COMPLETE", target=TARGET, team=None
    )
    team_b = LineageDelivery.objects.create(
        payload={"eventType": "FAIL"},
        event_type="FAIL",
        team=cast.team_b,
        target=TARGET,
        state=DeliveryState.DELIVERED,
        delivered_at=timezone.now(),
    )
    return {"job": job, "team_a": team_a, "platform": platform, "team_b": team_b}


CASES = [
    ApiCase(
        "deliveries.list_team_a",
        "get",
        lambda w: "/api/v1/lineage/deliveries/",
        setup=_deliveries,
        statuses=EVERYONE,
        listed=lambda w: f'"id":{w.team_a.pk},',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "deliveries.list_platform",
        "get",
        lambda w: "/api/v1/lineage/deliveries/",
        setup=_deliveries,
        statuses=EVERYONE,
        listed=lambda w: f'"id":{w.platform.pk},',
        visible_to=("superuser",),
    ),
    ApiCase(
        "deliveries.retrieve_team_a",
        "get",
        lambda w: f"/api/v1/lineage/deliveries/{w.team_a.pk}/",
        setup=_deliveries,
        statuses=dict.fromkeys(TEAM_A_AND_ROOT, 200),
        default=404,
    ),
    ApiCase(
        "deliveries.retrieve_team_b",
        "get",
        lambda w: f"/api/v1/lineage/deliveries/{w.team_b.pk}/",
        setup=_deliveries,
        statuses={"superuser": 200, "engineer_b": 200},
        default=404,
    ),
    ApiCase(
        "deliveries.create",
        "post",
        lambda w: "/api/v1/lineage/deliveries/",
        data=lambda w: {"payload": {}},
        setup=_deliveries,
        default=405,
        counted=(LineageDelivery,),
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)


def test_a_pending_delivery_shows_its_delay(world: World) -> None:
    objects = _deliveries(world)
    body = world.client("engineer_a").get(f"/api/v1/lineage/deliveries/{objects['team_a'].pk}/").json()
    assert body["state"] == "pending"
    assert body["job"] == str(objects["job"].public_id)
    assert body["team"] == "team-a"
    assert body["attempts"] == 3
    assert body["last_error"] == "ConnectionError: refused"
    assert body["pending_since"]
    assert body["next_attempt_at"]
    assert body["delivered_at"] is None
    assert body["payload"] == {"eventType": "START"}


def test_the_list_filters_by_job_and_state(world: World) -> None:
    objects = _deliveries(world)
    client = world.client("superuser")
    by_job = client.get(f"/api/v1/lineage/deliveries/?job={objects['job'].public_id}").json()["results"]
    assert [row["id"] for row in by_job] == [objects["team_a"].pk]
    delivered = client.get("/api/v1/lineage/deliveries/?state=delivered").json()["results"]
    assert [row["id"] for row in delivered] == [objects["team_b"].pk]
    assert "payload" not in delivered[0]


@pytest.mark.parametrize(
    ("query", "field"),
    [("state=lost", "state"), ("job=not-a-uuid", "job"), ("run_id=12", "run_id")],
)
def test_a_bad_filter_is_refused_naming_it(world: World, query: str, field: str) -> None:
    response = world.client("superuser").get(f"/api/v1/lineage/deliveries/?{query}")
    assert response.status_code == 400
    assert field in response.content.decode()
