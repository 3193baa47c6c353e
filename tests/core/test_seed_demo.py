"""The demo data that `make run` seeds: every persona, idempotent, and never in production."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from core import audit
from core.choices import AuditEventType, BoardRole, Role
from core.management.commands.seed_demo import DEMO_PASSWORD
from core.models import ApiToken, AuditCheckpoint, AuditEvent, GroupMapping, Membership, ServiceAccount, Team

User = get_user_model()
TOKEN = re.compile(r"\bassay_[A-Za-z0-9_-]{40,}")

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (User, Team, Membership, ServiceAccount, ApiToken, AuditCheckpoint, AuditEvent)
    }


def holders(role: str, board_role: str = "") -> set[str]:
    return set(Membership.objects.filter(role=role, board_role=board_role).values_list("user__username", flat=True))


def test_seeds_every_persona() -> None:
    # GIVEN an empty database WHEN the demo is seeded
    output = seed()

    # THEN there is a platform administrator, both teams, and someone in every role of each team
    admin = User.objects.get(username="admin")
    assert admin.is_superuser
    assert admin.check_password(DEMO_PASSWORD)
    assert set(Team.objects.values_list("slug", flat=True)) == {"credit-risk", "fraud"}
    for team in Team.objects.all():
        roles = set(Membership.objects.filter(team=team).values_list("role", flat=True))
        board_roles = set(Membership.objects.filter(team=team, role=Role.REVIEWER).values_list("board_role", flat=True))
        assert {Role.ENGINEER, Role.COMPLIANCE_OFFICER, Role.AUDITOR, Role.REVIEWER} <= roles, team.slug
        assert board_roles == set(BoardRole.values), team.slug
    assert holders(Role.ADMIN)
    assert holders(Role.ENGINEER) >= {"erin-engineer", "felix-engineer"}
    for person in User.objects.filter(service_account__isnull=True):
        assert person.check_password(DEMO_PASSWORD), person.username
        assert person.username in output, f"{person.username} is missing from the printed logins"
    assert DEMO_PASSWORD in output


def test_service_account_token_is_printed_once_and_works() -> None:
    # GIVEN a first seeding, which prints the service account's token
    first = seed()
    tokens = TOKEN.findall(first)
    assert len(tokens) == 1

    # WHEN that token calls the API THEN it acts as the service account, an engineer of credit-risk
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens[0]}")
    response = client.get("/api/v1/me/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["username"] == "credit-risk-ci"
    assert body["is_service_account"] is True

    # AND a second seeding prints no token and creates none
    second = seed()
    assert TOKEN.findall(second) == []
    assert ApiToken.objects.count() == 1


def test_running_twice_duplicates_nothing() -> None:
    # GIVEN a seeded database
    seed()
    after_first = counts()

    # WHEN it is seeded again
    output = seed()

    # THEN nothing new exists, not even an audit event, and it says so
    assert counts() == after_first
    assert "already present" in output


def test_writes_are_audited_and_the_chain_is_signed() -> None:
    seed()

    # Every team, grant and token went through an action, so each left its event.
    types = list(AuditEvent.objects.values_list("event_type", flat=True))
    assert types.count(AuditEventType.TEAM_CREATED) == Team.objects.count()
    assert types.count(AuditEventType.MEMBERSHIP_GRANTED) == Membership.objects.count()
    assert types.count(AuditEventType.SERVICE_ACCOUNT_CREATED) == 1
    assert types.count(AuditEventType.TOKEN_CREATED) == 1
    assert types.count(AuditEventType.AUDIT_CHECKPOINT_SIGNED) == 1
    # The identity provider's groups a demo maps (docs/sso.md), each through the platform admin's action.
    assert types.count(AuditEventType.SSO_MAPPING_CREATED) == GroupMapping.objects.count() == 4

    # The chain is intact and the checkpoint verifies against it.
    assert audit.verify_chain().intact
    checkpoint = AuditCheckpoint.objects.get()
    ok, reason = audit.verify_checkpoint(audit.export_checkpoint(checkpoint))
    assert ok, reason


def test_refused_in_production(settings: Any) -> None:
    # GIVEN production settings
    settings.PRODUCTION = True

    # WHEN the demo is seeded THEN it refuses and writes nothing
    with pytest.raises(CommandError, match="refuses to run with ASSAY_ENV=production"):
        seed()
    assert User.objects.count() == 0
    assert AuditEvent.objects.count() == 0
