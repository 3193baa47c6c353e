"""Every data access grant endpoint, tried by every persona of the cast and by an anonymous client
(tests/api_cases.py).

Team B (engineer_b) borrows team A's dataset: team B's engineers and admins request; team A's admin decides the
``owner`` side, its compliance officer (or a platform superuser) the ``compliance`` side; the members of both teams
read the grant; the catalogue is open to everyone signed in.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from compliance.models import DataAccessGrant, DataAccessGrantDecision
from core.choices import AuditEventType
from tests.api_cases import PERSONAS, ApiCase, World, matrix, run_case
from tests.compliance.grant_factories import approved_grant, make_borrow, request_grant

EVERYONE = dict.fromkeys(PERSONAS, 200)
COUNTED = (DataAccessGrant, DataAccessGrantDecision)


def only(status: int, personas: tuple[str, ...], default: int = 403) -> dict[str, int]:
    return {**dict.fromkeys(PERSONAS, default), **dict.fromkeys(personas, status)}


def _borrow(world: World) -> dict[str, Any]:
    return {"borrow": make_borrow(world.cast)}


def _requested(world: World) -> dict[str, Any]:
    borrow = make_borrow(world.cast)
    return {"borrow": borrow, "grant": request_grant(borrow)}


def _approved(world: World) -> dict[str, Any]:
    borrow = make_borrow(world.cast)
    return {"borrow": borrow, "grant": approved_grant(borrow)}


def _request_body(world: World) -> dict[str, Any]:
    return {
        "team": "team-b",
        "dataset": world.borrow.dataset.pk,
        "use_case": world.borrow.use_case.pk,
        "purpose": "Churn model features.",
        "expires_at": (timezone.now() + timedelta(days=30)).isoformat(),
    }


CASES = [
    ApiCase(
        "data_grants.list",
        "get",
        lambda w: "/api/v1/data-grants/",
        statuses=EVERYONE,
        setup=_requested,
        listed=lambda w: '"purpose":"Train the churn model on shared events."',
        visible_to=PERSONAS,
    ),
    ApiCase(
        "data_grants.catalogue",
        "get",
        lambda w: "/api/v1/data-grants/catalogue/",
        statuses=EVERYONE,
        setup=_borrow,
        listed=lambda w: '"name":"Shared events"',
        visible_to=PERSONAS,
    ),
    ApiCase(
        "data_grants.detail",
        "get",
        lambda w: f"/api/v1/data-grants/{w.grant.pk}/",
        statuses=EVERYONE,
        setup=_requested,
    ),
    ApiCase(
        "data_grants.create",
        "post",
        lambda w: "/api/v1/data-grants/",
        data=_request_body,
        setup=_borrow,
        # Team A's members do not see team B: its slug reads as absent (400).
        statuses={**only(201, ("superuser", "engineer_b"), default=400)},
        event=AuditEventType.DATA_GRANT_REQUESTED,
        counted=COUNTED,
    ),
    ApiCase(
        "data_grants.approve_owner",
        "post",
        lambda w: f"/api/v1/data-grants/{w.grant.pk}/approve/",
        data=lambda w: {"side": "owner", "comment": "Fine."},
        setup=_requested,
        statuses=only(200, ("admin_a",)),
        event=AuditEventType.DATA_GRANT_APPROVED,
        counted=COUNTED,
    ),
    ApiCase(
        "data_grants.approve_compliance",
        "post",
        lambda w: f"/api/v1/data-grants/{w.grant.pk}/approve/",
        data=lambda w: {"side": "compliance"},
        setup=_requested,
        statuses=only(200, ("superuser", "compliance")),
        event=AuditEventType.DATA_GRANT_APPROVED,
        counted=COUNTED,
    ),
    ApiCase(
        "data_grants.refuse",
        "post",
        lambda w: f"/api/v1/data-grants/{w.grant.pk}/refuse/",
        data=lambda w: {"side": "compliance", "comment": "No legal basis for this purpose."},
        setup=_requested,
        statuses=only(200, ("superuser", "compliance")),
        event=AuditEventType.DATA_GRANT_REFUSED,
        counted=COUNTED,
    ),
    ApiCase(
        "data_grants.revoke",
        "post",
        lambda w: f"/api/v1/data-grants/{w.grant.pk}/revoke/",
        data=lambda w: {"reason": "The purpose changed."},
        setup=_approved,
        statuses=only(200, ("superuser", "admin_a", "compliance")),
        event=AuditEventType.DATA_GRANT_REVOKED,
        counted=COUNTED,
    ),
    ApiCase(
        "data_grants.withdraw",
        "post",
        lambda w: f"/api/v1/data-grants/{w.grant.pk}/withdraw/",
        data=lambda w: {"reason": "Not needed after all."},
        setup=_requested,
        statuses=only(200, ("engineer_b",)),
        event=AuditEventType.DATA_GRANT_REVOKED,
        counted=COUNTED,
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)
