"""Managing governance in a real browser, tried as a new compliance officer would: she creates a review board, seats
its members (one refused, on its field), writes a new policy naming the board, and changes the rules of the policy
an open release is judged by: an impossible count is refused on the roles, then the preview lists the release that
the change affects, and she confirms. A platform administrator creates an environment. Screenshots go to
test-artifacts/screenshots."""

from __future__ import annotations

from typing import Any

import pytest

from governance.models import BoardMember, Environment, ReleasePolicy, ReleasePolicyVersion, ReviewBoard
from tests.conftest import PASSWORD
from tests.governance.factories import ReleaseWorld

pytestmark = pytest.mark.browser


def text_of(locator: Any) -> str:
    return " ".join(locator.inner_text().split())


def submit(ui: Any, selector: str) -> None:
    with ui.page.expect_navigation():
        ui.page.click(selector)
    ui.page.wait_for_load_state("networkidle")


def test_a_compliance_officer_manages_boards_and_policies_in_the_browser(ui: Any, rw: ReleaseWorld) -> None:
    ui.login("carol-compliance", PASSWORD)
    ui.assert_styled()

    # A new board, from the boards page
    ui.go("/boards/")
    submit(ui, "#new-board")
    ui.page.select_option("#id_team", "team-a")
    ui.page.fill("#id_slug", "credit-board")
    ui.page.fill("#id_name", "Credit board")
    ui.page.fill("#id_description", "Signs the credit models' releases.")
    ui.shot("governance-board-new")
    submit(ui, "#board-form button[type=submit]")
    board = ReviewBoard.objects.get(slug="credit-board")
    assert ui.page.url.endswith(f"/boards/{board.pk}/")
    assert "Created board Credit board" in text_of(ui.page.locator("body"))

    # Seat three members; an engineer of another team is refused, on the name field
    for username, role in (("rita-legal", "legal"), ("rita-risk", "risk"), ("rita-technical", "technical")):
        ui.page.fill("#id_username", username)
        ui.page.select_option("#id_board_role", role)
        submit(ui, "#seat-form button[type=submit]")
    ui.page.fill("#id_username", "bob-engineer")
    ui.page.select_option("#id_board_role", "legal")
    submit(ui, "#seat-form button[type=submit]")
    assert "is not a member of team team-a" in text_of(ui.page.locator("#id_username_error"))
    ui.shot("governance-board-seat-refused")
    ui.assert_fits()
    assert sorted(BoardMember.objects.filter(board=board).values_list("board_role", flat=True)) == [
        "legal",
        "risk",
        "technical",
    ]
    assert ui.page.locator("#members tbody tr").count() == 3

    # A new policy naming the board: no open release is affected, she confirms
    ui.go("/policies/")
    submit(ui, "#new-policy")
    ui.page.fill("#id_name", "Limited-risk production")
    ui.page.select_option("#id_team", "team-a")
    ui.page.select_option("#id_environment", "production")
    ui.page.select_option("#id_risk_tier", "limited")
    ui.page.select_option("#id_board", label="Credit board (team-a)")
    ui.page.fill("#id_role_legal", "1")
    ui.page.fill("#id_role_technical", "1")
    ui.page.fill("#id_min_total", "2")
    ui.page.fill("#id_approval_valid_days", "60")
    ui.page.check("input[name=required_checks][value=lineage_complete]")
    ui.shot("governance-policy-new")
    submit(ui, "#preview-button")
    assert "open releases this affects 0" in text_of(ui.page.locator("#preview-heading"))
    assert not ReleasePolicy.objects.filter(name="Limited-risk production").exists()
    submit(ui, "#confirm-save")
    policy = ReleasePolicy.objects.get(name="Limited-risk production")
    assert ui.page.url.endswith(f"/policies/{policy.pk}/")
    version = ReleasePolicyVersion.objects.get(policy=policy)
    assert (version.required_roles, version.required_checks) == ({"legal": 1, "technical": 1}, ["lineage_complete"])

    # The rules of the policy the open release is judged by: an impossible count first
    ui.go(f"/policies/{rw.policy.pk}/")
    submit(ui, "#new-version")
    ui.page.fill("#id_role_legal", "2")
    submit(ui, "#preview-button")
    assert "too few members in role(s) legal" in text_of(ui.page.locator("#id_required_roles_error"))
    assert ui.page.locator("#preview").count() == 0
    ui.shot("governance-policy-refused")

    # Then a possible change: the preview lists the open release and what changes for it
    ui.page.fill("#id_role_legal", "1")
    ui.page.fill("#id_role_risk", "1")
    ui.page.fill("#id_min_total", "3")
    ui.page.fill("#id_note", "Risk signs too from Q4.")
    submit(ui, "#preview-button")
    row = ui.page.locator(f"#affected-releases tr[data-release='{rw.release.pk}']")
    assert row.count() == 1
    assert "Least number of approvers: 2 → 3" in text_of(row)
    assert "1 \N{MULTIPLICATION SIGN} Risk" in text_of(row)
    ui.shot("governance-policy-preview")
    ui.assert_fits()
    assert list(ReleasePolicyVersion.objects.filter(policy=rw.policy).values_list("number", flat=True)) == [1]
    submit(ui, "#confirm-save")
    assert ui.page.url.endswith(f"/policies/{rw.policy.pk}/")
    assert ui.page.locator("tr[data-policy-version='2']").count() == 1
    assert ReleasePolicyVersion.objects.get(policy=rw.policy, number=2).required_roles == {
        "legal": 1,
        "risk": 1,
        "technical": 1,
    }
    ui.shot("governance-policy-saved")


def test_an_engineer_sees_no_governance_buttons(ui: Any, rw: ReleaseWorld) -> None:
    ui.login("erin-engineer", PASSWORD)
    ui.go("/boards/")
    assert ui.page.locator("#new-board").count() == 0
    ui.go(f"/policies/{rw.policy.pk}/")
    assert ui.page.locator("#new-version").count() == 0
    response = ui.go(f"/policies/{rw.policy.pk}/versions/new/")
    assert response.status == 403


def test_a_platform_administrator_creates_an_environment(ui: Any, cast: Any) -> None:
    ui.login("root", PASSWORD)
    ui.go("/environments/")
    submit(ui, "#new-environment")
    ui.page.fill("#id_slug", "staging")
    ui.page.fill("#id_name", "Staging")
    ui.page.fill("#id_rank", "2.5")
    submit(ui, "#environment-form button[type=submit]")
    assert "Enter a whole number" in text_of(ui.page.locator("#id_rank_error"))
    ui.page.fill("#id_rank", "5")
    ui.page.fill("#id_allowed_regions", "eu-west-1, eu-central-1")
    submit(ui, "#environment-form button[type=submit]")
    assert ui.page.url.endswith("/environments/staging/")
    assert Environment.objects.get(slug="staging").allowed_regions == ["eu-west-1", "eu-central-1"]
    ui.shot("governance-environment-created")
