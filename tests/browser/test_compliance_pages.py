"""Retention and legal holds in a real browser: a compliance officer writes a retention policy and sees what expires,
places a hold on the credit dataset, the dataset's owner tries to delete its files and is refused, and the hold's
release takes a second officer. Screenshots go to test-artifacts/screenshots/compliance-*.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from compliance.models import LegalHold
from core import actions as core_actions
from core.choices import Role
from tests.compliance.conftest import Estate, make_estate
from tests.conftest import PASSWORD, make_user
from tests.governance.factories import write_onnx

pytestmark = pytest.mark.browser


@pytest.fixture
def estate(cast: Any, settings: Any, tmp_path: Path) -> Estate:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.DATA_LAKE_ROOT = tmp_path / "lake"
    Path(settings.DATA_LAKE_ROOT).mkdir()
    onnx = write_onnx(tmp_path / "add.onnx")
    officer = make_user("olga-compliance")
    core_actions.do_grant_membership(cast.team_a, actor=cast.superuser, user=officer, role=Role.COMPLIANCE_OFFICER)
    return make_estate(cast, Path(settings.DATA_LAKE_ROOT), onnx)


def login_as(ui: Any, username: str) -> None:
    ui.page.context.clear_cookies()
    ui.login(username, PASSWORD)


def submit(ui: Any, selector: str) -> None:
    with ui.page.expect_navigation():
        ui.page.click(f"{selector} button[type=submit]")


def test_policy_hold_refused_deletion_and_two_officer_release(ui: Any, cast: Any, estate: Estate) -> None:
    # A compliance officer writes a policy from the Retention page
    ui.login("carol-compliance", PASSWORD)
    with ui.page.expect_navigation():
        ui.page.click("#compliance-links a:text-is('Retention')")
    ui.assert_styled()
    ui.page.select_option("#id_team", "team-a")
    ui.page.select_option("#id_target_kind", "dataset_version_files")
    ui.page.select_option("#id_classification", "confidential")
    ui.page.fill("#id_keep_days", "-7")
    ui.page.select_option("#id_counted_from", "created")
    submit(ui, "#policy-form")
    assert "Keep records between 1 and 36500 days" in ui.page.inner_text("#policy-form")
    ui.page.fill("#id_keep_days", "20")
    submit(ui, "#policy-form")
    assert "Created the retention policy" in ui.page.inner_text(".messages")
    ui.go("/compliance/retention/")
    assert str(estate.version) in ui.page.inner_text("#expiring")

    # ... places a hold on the credit dataset
    with ui.page.expect_navigation():
        ui.page.click("#compliance-pages a:text-is('Legal holds')")
    ui.page.select_option("#id_team", "team-a")
    ui.page.select_option("#id_scope", "dataset")
    ui.page.select_option("#id_dataset", str(estate.dataset.pk))
    ui.page.fill("#id_case_reference", "LIT-2026-014")
    ui.page.fill("#id_reason", "Class action over refused credit-limit increases.")
    submit(ui, "#hold-form")
    assert ui.page.inner_text("#hold-status") == "Active"
    ui.go("/compliance/retention/")
    assert "kept: LIT-2026-014" in ui.page.inner_text("#expiring")
    ui.shot("compliance-retention")

    # The dataset's owner tries to delete the version's files: refused, nothing lost
    login_as(ui, "erin-engineer")
    ui.go(f"/datasets/{estate.dataset.pk}/versions/{estate.version.number}/")
    with ui.page.expect_navigation():
        ui.page.click("text=Delete this version's files…")
    ui.page.fill("#id_reason", "Tidying up.")
    submit(ui, "#delete-form")
    assert "under legal hold" in ui.page.inner_text("main")
    assert (estate.files / "part-0.parquet").exists()
    ui.shot("compliance-delete-refused")

    # The officer asks for the release and cannot confirm it alone; a second officer does
    hold = LegalHold.objects.get()
    login_as(ui, "carol-compliance")
    ui.go(f"/compliance/holds/{hold.pk}/")
    ui.page.fill("#id_note", "Judgment given.")
    submit(ui, "#request-form")
    ui.page.fill("#id_note", "")
    submit(ui, "#confirm-form")
    assert "a second compliance officer must confirm it" in ui.page.inner_text("main")
    assert ui.page.inner_text("#hold-status") == "Release requested (still holding)"
    ui.shot("compliance-hold-release-refused")
    login_as(ui, "olga-compliance")
    ui.go(f"/compliance/holds/{hold.pk}/")
    submit(ui, "#confirm-form")
    assert ui.page.inner_text("#hold-status") == "Released"
    assert "olga-compliance" in ui.page.inner_text("#history")
    ui.shot("compliance-hold-released")
