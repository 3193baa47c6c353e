"""Data access across teams in a real browser: team B's engineer requests team A's dataset, team A's admin and its
compliance officer approve on the grant's page, team B's release of a model trained on the data shows the grant.
Screenshots go to test-artifacts/screenshots/grants-*.png."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from compliance.choices import GrantStatus
from compliance.models import DataAccessGrant
from governance import actions as governance_actions
from registry import actions as registry_actions
from tests.compliance.grant_factories import make_borrow
from tests.conftest import PASSWORD
from tests.governance.factories import make_board, make_environment, make_policy, write_onnx
from tests.registry.factories import chunks_of, make_model

pytestmark = pytest.mark.browser


def login_as(ui: Any, username: str) -> None:
    ui.page.context.clear_cookies()
    ui.login(username, PASSWORD)


def click(ui: Any, selector: str) -> None:
    with ui.page.expect_navigation():
        ui.page.click(selector)


def test_request_approve_both_sides_and_the_release_shows_the_grant(
    ui: Any, cast: Any, settings: Any, tmp_path: Path
) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    borrow = make_borrow(cast)
    # Team B's engineer finds Data access among the compliance pages and requests team A's dataset
    login_as(ui, "bob-engineer")
    ui.go("/compliance/data-grants/")
    ui.assert_styled()
    ui.page.select_option("#id_team", "team-b")
    ui.page.select_option("#id_dataset", str(borrow.dataset.pk))
    ui.page.select_option("#id_use_case", str(borrow.use_case.pk))
    ui.page.fill("#id_purpose", "Churn features for retention calls.")
    ui.page.fill("#id_expires_at", (timezone.now() + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M"))
    click(ui, "#grant-form button[type=submit]")
    assert "At most 365 days ahead" in ui.page.inner_text("#grant-form")
    ui.shot("grants-request-refused")
    ui.page.fill("#id_expires_at", (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"))
    click(ui, "#grant-form button[type=submit]")
    grant = DataAccessGrant.objects.get()
    assert ui.page.inner_text("#grant-status") == "Awaiting approval"
    ui.shot("grants-requested")
    # Team A's admin sees it awaiting the owner side and approves
    login_as(ui, "alice-admin")
    ui.go("/compliance/data-grants/?show=awaiting")
    click(ui, f"tr[data-grant='{grant.pk}'] a")
    ui.page.fill("#comment-owner", "Fine for retention work.")
    click(ui, "#approve-owner")
    assert "Owning team's admin" in ui.page.inner_text("#decisions")
    # Team A's compliance officer approves the compliance side
    login_as(ui, "carol-compliance")
    ui.go(f"/compliance/data-grants/{grant.pk}/")
    click(ui, "#approve-compliance")
    assert ui.page.inner_text("#grant-status") == "Approved by both sides"
    ui.shot("grants-approved")
    grant.refresh_from_db()
    assert grant.status == GrantStatus.APPROVED
    # Team B trains on the data and requests a release: the release page lists the grant
    onnx = write_onnx(tmp_path / "add.onnx")
    environment = make_environment(cast.superuser)
    board = make_board(cast.superuser, None, dict(cast.reviewers))
    make_policy(cast.superuser, None, environment, board, risk_tier="limited")
    model = make_model(cast.team_b, cast.engineer_b, owner=cast.engineer_b, use_case=borrow.use_case)
    version = registry_actions.do_register_model_version(
        model, actor=cast.engineer_b, chunks=chunks_of(onnx), dataset_versions=[borrow.version.pk]
    )
    release = governance_actions.do_request_release(version, actor=cast.engineer_b, environment=environment)
    login_as(ui, "bob-engineer")
    ui.go(f"/releases/{release.pk}/")
    row = ui.page.inner_text(f"#manifest-grants tr[data-grant='{grant.pk}']")
    assert "Shared events" in row
    assert "approved" in row
    ui.page.locator("#manifest-grants").scroll_into_view_if_needed()
    ui.shot("grants-release")
