"""The data access pages, as a user clicks through them (Django's test client; the browser test drives the same
path in Chromium): team B requests team A's dataset through the form, team A's admin and its compliance officer
approve on the grant's page, the grant covers use, and team B's release page lists the grant."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from compliance.choices import GrantStatus
from compliance.models import DataAccessGrant
from core import actions as core_actions
from core.choices import AuditEventType, Role
from core.models import AuditEvent
from governance import actions as governance_actions
from registry import actions as registry_actions
from tests.compliance.grant_factories import make_borrow, request_grant
from tests.conftest import make_user
from tests.governance.factories import make_board, make_environment, make_policy
from tests.registry.factories import chunks_of, make_model

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_request_approve_both_sides_and_the_release_page_shows_the_grant(cast, onnx_path, artifact_root):
    borrow = make_borrow(cast)
    engineer_b = client_for(cast.engineer_b)
    # GIVEN the data access page: the catalogue names team A's dataset by team and name
    page = engineer_b.get("/compliance/data-grants/")
    assert page.status_code == 200
    assert "team-a / Shared events" in page.content.decode()
    # WHEN team B requests it
    expires = (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    body = {
        "team": "team-b",
        "dataset": borrow.dataset.pk,
        "use_case": borrow.use_case.pk,
        "purpose": "Churn features.",
        "expires_at": expires,
    }
    response = engineer_b.post("/compliance/data-grants/", body)
    grant = DataAccessGrant.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/compliance/data-grants/{grant.pk}/"
    # THEN the requester sees no decide buttons; team A's admin sees the owner side awaiting them
    assert 'id="approve-' not in engineer_b.get(f"/compliance/data-grants/{grant.pk}/").content.decode()
    admin = client_for(cast.admin_a)
    assert f'data-grant="{grant.pk}"' in admin.get("/compliance/data-grants/?show=awaiting").content.decode()
    detail = admin.get(f"/compliance/data-grants/{grant.pk}/").content.decode()
    assert 'id="approve-owner"' in detail
    assert 'id="approve-compliance"' not in detail
    # a refusal needs a reason: shown on the page, nothing written
    refused = admin.post(f"/compliance/data-grants/{grant.pk}/refuse/", {"side": "owner", "comment": ""})
    assert refused.status_code == 400
    assert "Say what" in refused.content.decode()
    admin.post(f"/compliance/data-grants/{grant.pk}/approve/", {"side": "owner", "comment": "Fine."})
    officer = client_for(cast.compliance)
    officer.post(f"/compliance/data-grants/{grant.pk}/approve/", {"side": "compliance"})
    grant.refresh_from_db()
    assert grant.status == GrantStatus.APPROVED
    shown = engineer_b.get(f"/compliance/data-grants/{grant.pk}/").content.decode()
    assert "Approved by both sides" in shown
    assert 'id="granted-versions"' in shown
    assert AuditEvent.objects.filter(event_type=AuditEventType.DATA_GRANT_APPROVED).count() == 2
    # WHEN team B builds a model on the data and requests a release THEN its page lists the grant
    environment = make_environment(cast.superuser)
    board = make_board(cast.superuser, None, dict(cast.reviewers))
    make_policy(cast.superuser, None, environment, board, risk_tier="limited")
    model = make_model(cast.team_b, cast.engineer_b, owner=cast.engineer_b, use_case=borrow.use_case)
    version = registry_actions.do_register_model_version(
        model, actor=cast.engineer_b, chunks=chunks_of(onnx_path), dataset_versions=[borrow.version.pk]
    )
    release = governance_actions.do_request_release(version, actor=cast.engineer_b, environment=environment)
    release_page = engineer_b.get(f"/releases/{release.pk}/").content.decode()
    assert 'id="manifest-grants"' in release_page
    assert f'href="/compliance/data-grants/{grant.pk}/"' in release_page


def test_an_outsider_gets_404_and_a_forged_step_is_refused(cast):
    borrow = make_borrow(cast)

    grant = request_grant(borrow)

    team_c = core_actions.do_create_team(actor=cast.superuser, slug="team-c", name="Team C")
    outsider = make_user("cleo-engineer")
    core_actions.do_grant_membership(team_c, actor=cast.superuser, user=outsider, role=Role.ENGINEER)
    client = client_for(outsider)
    assert client.get(f"/compliance/data-grants/{grant.pk}/").status_code == 404
    assert client.post(f"/compliance/data-grants/{grant.pk}/approve/", {"side": "owner"}).status_code == 404
    # The requester forging the owner side: 403 on the page, nothing decided
    forged = client_for(cast.engineer_b).post(f"/compliance/data-grants/{grant.pk}/approve/", {"side": "owner"})
    assert forged.status_code == 403
    assert not grant.decisions.exists()
    # CSRF: a post without the token is refused
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(cast.admin_a)
    assert strict.post(f"/compliance/data-grants/{grant.pk}/approve/", {"side": "owner"}).status_code == 403
    assert not grant.decisions.exists()
