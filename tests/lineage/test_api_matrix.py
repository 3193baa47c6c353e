"""Every lineage endpoint of this module, tried by every persona of the cast and an anonymous client (see
tests/api_cases.py).

Engineers and admins of a team (and platform admins) write events into its namespaces; the engineer of team B is
refused team A's namespace (403, recorded); compliance officers, auditors and reviewers read only (their writes are
refused, recorded). Namespaces are listed per team; only a platform admin assigns one.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.choices import AuditEventType
from lineage.actions import do_ingest_events
from lineage.models import LineageEvent, LineageRun, Namespace
from tests.api_cases import PERSONAS, TEAM_A, ApiCase, World, matrix, run_case
from tests.lineage.events import run_event

TEAM_A_AND_ROOT = ("superuser", *TEAM_A)
WRITERS = ("superuser", "admin_a", "engineer_a")


def _claimed(world: World) -> dict[str, Any]:
    """Team A's namespaces, claimed by a first event of its engineer."""
    do_ingest_events([run_event("START")], actor=world.cast.engineer_a)
    return {"namespace": Namespace.objects.get(name="airflow://team-a")}


CASES = [
    ApiCase(
        "lineage.ingest",
        "post",
        lambda w: "/api/v1/lineage",
        setup=_claimed,
        data=lambda w: run_event("COMPLETE"),
        statuses={**dict.fromkeys(WRITERS, 201), "engineer_b": 403},
        default=403,
        event=AuditEventType.LINEAGE_EVENTS_INGESTED,
        refusal_event=AuditEventType.LINEAGE_WRITE_REFUSED,
        counted=(LineageEvent, LineageRun, Namespace),
    ),
    ApiCase(
        "lineage.namespaces.list",
        "get",
        lambda w: "/api/v1/lineage/namespaces/",
        setup=_claimed,
        statuses=dict.fromkeys(PERSONAS, 200),
        listed=lambda w: "airflow://team-a",
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "lineage.namespaces.detail",
        "get",
        lambda w: f"/api/v1/lineage/namespaces/{w.namespace.pk}/",
        setup=_claimed,
        statuses={**dict.fromkeys(TEAM_A_AND_ROOT, 200), "engineer_b": 404},
    ),
    ApiCase(
        "lineage.namespaces.assign",
        "post",
        lambda w: f"/api/v1/lineage/namespaces/{w.namespace.pk}/assign/",
        setup=_claimed,
        data=lambda w: {"team": "team-b"},
        statuses={"superuser": 200, "engineer_b": 404},
        default=403,
        event=AuditEventType.LINEAGE_NAMESPACE_ASSIGNED,
        refusal_event=AuditEventType.LINEAGE_WRITE_REFUSED,
        counted=(Namespace,),
    ),
]


@pytest.fixture
def world(cast: Any, api_as: Any) -> World:
    return World(cast=cast, make_client=api_as)


@pytest.mark.parametrize(("case", "persona"), matrix(CASES))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)
