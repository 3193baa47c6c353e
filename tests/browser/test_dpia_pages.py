"""The DPIA pages in a real browser: a compliance officer opens a DPIA for a use case, screens it, enters a review
date in the past (refused on its field), fills the assessment and submits it; the privacy reviewer approves it and
the document reads as approved. Screenshots go to $ASSAY_DATA_DIR/shots (default /tmp/assay-ui/shots)."""

from __future__ import annotations

import datetime
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from compliance.dpia_rules import DpiaStatus
from compliance.models import DpiaVersion
from tests.compliance.dpia_factories import SCREENING, make_personal_dataset
from tests.conftest import PASSWORD
from tests.registry.factories import make_use_case

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("ASSAY_DATA_DIR") or Path(tempfile.gettempdir()) / "assay-ui") / "shots"


def shot(ui: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    ui.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_dpia_from_draft_to_approval_in_the_browser(ui: Any, cast: Any) -> None:
    use_case = make_use_case(cast.team_a, cast.engineer_a, name="Credit limit", risk_tier="high")
    dataset = make_personal_dataset(cast)
    page = ui.page

    ui.login("carol-compliance", PASSWORD)
    ui.go("/compliance/dpias/")
    ui.assert_styled()
    page.click("text=New DPIA")
    page.select_option("#id_use_case", str(use_case.pk))
    page.select_option("#id_datasets", [str(dataset.pk)])
    with page.expect_navigation():
        page.click("#create-form button[type=submit]")
    assert "DPIA: Credit limit" in page.inner_text("h1")
    assert "age, income" in page.inner_text("#dpia-document")

    # Screening
    page.click("#dpia-screen")
    for key, item in SCREENING.items():
        page.check(f"input[name='{key}__answer'][value='{'yes' if item['answer'] else 'no'}']")
    with page.expect_navigation():
        page.click("#screen-form button[type=submit]")
    assert "A full DPIA is required." in page.inner_text("#screening-outcome")

    # A review date in the past is refused on its field
    page.click("#dpia-edit")
    page.fill("#id_purposes", "Decide credit limit increases.")
    page.fill("#id_review_date", "2001-01-01")
    with page.expect_navigation():
        page.click("#edit-form button[type=submit]")
    assert "is not after today" in page.inner_text("#id_review_date_error")
    shot(ui, "dpia-edit-refused")

    later = (timezone.localdate() + datetime.timedelta(days=200)).isoformat()
    page.fill("#id_review_date", later)
    for name, text in {
        "processing_description": "Monthly scoring of applications.",
        "data_subjects": "Applicants.",
        "necessity": "Needed for the decision.",
        "proportionality": "Financial features only.",
        "dpo_advice": "Proceed.",
    }.items():
        page.fill(f"#id_{name}", text)
    page.select_option("#id_legal_basis", "contract")
    page.fill("#id_risks-0-title", "Discrimination by proxy")
    page.select_option("#id_risks-0-likelihood", "possible")
    page.select_option("#id_risks-0-severity", "severe")
    page.select_option("#id_risks-0-residual_likelihood", "remote")
    page.select_option("#id_risks-0-residual_severity", "significant")
    with page.expect_navigation():
        page.click("#edit-form button[type=submit]")
    assert "Discrimination by proxy" in page.inner_text("#risk-table")
    with page.expect_navigation():
        page.click("#submit-form button[type=submit]")
    assert DpiaVersion.objects.get().status == DpiaStatus.SUBMITTED

    # The privacy reviewer approves
    ui.page.context.clear_cookies()
    ui.login("rita-privacy", PASSWORD)
    ui.go(f"/compliance/dpias/{DpiaVersion.objects.get().dpia_id}/")
    page.select_option("#id_decision", "approve")
    page.fill("#id_comment", "Mitigations suffice.")
    with page.expect_navigation():
        page.click("#review-form button[type=submit]")
    assert DpiaVersion.objects.get().status == DpiaStatus.APPROVED
    assert "rita-privacy" in page.inner_text("#dpia-document")
    shot(ui, "dpia-approved")
