"""Every DPIA and column-reclassification endpoint, tried by every persona of the cast and by an anonymous client
(tests/api_cases.py).

Team A's members read its DPIAs; its compliance officer and admin (and the platform administrator) write them; only
its privacy reviewer approves or returns one, and every other attempt is a recorded refusal. Team B's engineer sees
nothing of team A's (404, or a 400 naming the use case or dataset that "does not exist").
"""

from __future__ import annotations

from typing import Any

import pytest

from compliance.models import ColumnReclassification, Dpia, DpiaVersion
from core.choices import AuditEventType
from tests.api_cases import PERSONAS, TEAM_A, ApiCase, World, matrix, run_case
from tests.compliance.dpia_factories import (
    RISK,
    SCREENING,
    in_days,
    make_approved,
    make_draft,
    make_personal_dataset,
    make_submitted,
)
from tests.registry.factories import make_use_case

TEAM_A_AND_ROOT = ("superuser", *TEAM_A)
WRITERS = ("superuser", "admin_a", "compliance")


def only(status: int, personas: tuple[str, ...]) -> dict[str, int]:
    return dict.fromkeys(personas, status)


def reads() -> dict[str, int]:
    return {**only(200, TEAM_A_AND_ROOT), "engineer_b": 404}


def writes(status: int, *, outsider: int = 404) -> dict[str, int]:
    return {**only(403, TEAM_A), **only(status, WRITERS), "engineer_b": outsider}


def review() -> dict[str, int]:
    return {**only(403, TEAM_A_AND_ROOT), "reviewer_privacy": 200, "engineer_b": 404}


def _draft(world: World) -> dict[str, Any]:
    return {"version": make_draft(world.cast)}


def _submitted(world: World) -> dict[str, Any]:
    return {"version": make_submitted(world.cast)}


def _approved(world: World) -> dict[str, Any]:
    return {"version": make_approved(world.cast)}


def _use_case(world: World) -> dict[str, Any]:
    cast = world.cast
    return {
        "use_case": make_use_case(cast.team_a, cast.engineer_a, name="Credit limit", risk_tier="high"),
        "dataset": make_personal_dataset(cast),
    }


def _dpia_url(world: World, suffix: str = "") -> str:
    return f"/api/v1/dpias/{world.version.dpia_id}/{suffix}"


CREATE_BODY = {
    "purposes": "Decide credit limit increases.",
    "legal_basis": "contract",
    "risks": [RISK],
    "review_date": in_days(200).isoformat(),
}

CASES = [
    ApiCase(
        "dpias.list",
        "get",
        lambda w: "/api/v1/dpias/",
        statuses={**only(200, TEAM_A_AND_ROOT), "engineer_b": 200},
        setup=_draft,
        listed=lambda w: '"use_case_name":"Credit limit"',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase("dpias.detail", "get", lambda w: _dpia_url(w), statuses=reads(), setup=_draft),
    ApiCase(
        "dpias.create",
        "post",
        lambda w: "/api/v1/dpias/",
        data=lambda w: {**CREATE_BODY, "use_case": w.use_case.pk, "datasets": [w.dataset.pk]},
        statuses=writes(201, outsider=400),
        setup=_use_case,
        event=AuditEventType.DPIA_CREATED,
        counted=(Dpia, DpiaVersion),
    ),
    ApiCase(
        "dpias.edit",
        "patch",
        lambda w: _dpia_url(w),
        data=lambda w: {"purposes": "Decide limits.", "review_date": in_days(100).isoformat()},
        statuses=writes(200),
        setup=_draft,
        event=AuditEventType.DPIA_UPDATED,
        counted=(DpiaVersion,),
    ),
    ApiCase(
        "dpias.screen",
        "post",
        lambda w: _dpia_url(w, "screen/"),
        data=lambda w: {"criteria": SCREENING},
        statuses=writes(200),
        setup=_draft,
        event=AuditEventType.DPIA_SCREENED,
    ),
    ApiCase(
        "dpias.submit",
        "post",
        lambda w: _dpia_url(w, "submit/"),
        data=lambda w: {"comment": "Ready."},
        statuses=writes(200),
        setup=lambda w: {"version": _screened(w)},
        event=AuditEventType.DPIA_SUBMITTED,
    ),
    ApiCase(
        "dpias.approve",
        "post",
        lambda w: _dpia_url(w, "approve/"),
        data=lambda w: {"comment": "Fine."},
        statuses=review(),
        setup=_submitted,
        event=AuditEventType.DPIA_APPROVED,
        refusal_event=AuditEventType.DPIA_REFUSED,
    ),
    ApiCase(
        "dpias.return",
        "post",
        lambda w: _dpia_url(w, "return/"),
        data=lambda w: {"comment": "Assess re-identification."},
        statuses=review(),
        setup=_submitted,
        event=AuditEventType.DPIA_RETURNED,
        refusal_event=AuditEventType.DPIA_REFUSED,
    ),
    ApiCase(
        "dpias.new_version",
        "post",
        lambda w: _dpia_url(w, "versions/"),
        statuses=writes(201),
        setup=_approved,
        event=AuditEventType.DPIA_VERSION_CREATED,
        counted=(DpiaVersion,),
    ),
    ApiCase(
        "column_reclassifications.create",
        "post",
        lambda w: "/api/v1/column-reclassifications/",
        data=lambda w: {
            "dataset": w.dataset.pk,
            "column": "customer_id",
            "flags": {"personal_data": True},
            "reason": "It is the customer's account number.",
        },
        statuses=writes(201, outsider=400),
        setup=_use_case,
        event=AuditEventType.COLUMN_RECLASSIFIED,
        counted=(ColumnReclassification,),
    ),
    ApiCase(
        "column_reclassifications.list",
        "get",
        lambda w: "/api/v1/column-reclassifications/",
        statuses={**only(200, TEAM_A_AND_ROOT), "engineer_b": 200},
        setup=lambda w: _reclassified(w),
        listed=lambda w: '"column":"customer_id"',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "column_reclassifications.detail",
        "get",
        lambda w: f"/api/v1/column-reclassifications/{w.row.pk}/",
        statuses=reads(),
        setup=lambda w: _reclassified(w),
    ),
]


def _screened(world: World) -> Any:
    from compliance import actions

    version = make_draft(world.cast)
    return actions.do_screen_dpia(version.dpia, actor=world.cast.compliance, criteria=SCREENING)


def _reclassified(world: World) -> dict[str, Any]:
    from compliance import actions

    objects = _use_case(world)
    objects["row"] = actions.do_reclassify_column(
        objects["dataset"],
        actor=world.cast.compliance,
        column="customer_id",
        flags={"personal_data": True},
        reason="Account number.",
    )
    return objects


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "persona"), matrix(CASES, PERSONAS))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)
