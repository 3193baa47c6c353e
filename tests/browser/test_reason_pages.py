"""The reason catalogue in a real browser: an engineer reads the model page's catalogue (every feature, the gaps,
the feature never given as a reason), edits it, sees a refusal on the box it names, then saves a version.

Screenshots go to $ASSAY_DATA_DIR/shots (default /tmp/assay-ui/shots) and test-artifacts/screenshots.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from audits.models import ReasonCatalogue
from tests.audits.reason_factories import make_flagged_credit
from tests.browser.test_audit_pages import shot
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_an_engineer_edits_the_reason_catalogue_and_a_refusal_shows_on_its_box(
    ui: Any, cast: Any, settings: Any, tmp_path: Path
) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    model = make_flagged_credit(cast.team_a, cast.engineer_a, tmp_path / "models")
    # GIVEN an engineer of the team on the model's page: no catalogue yet, every gap shown, debt never a reason
    ui.login("erin-engineer", PASSWORD)
    ui.go(f"/models/{model.pk}/")
    ui.assert_styled()
    assert ui.page.is_visible("#reasons-none")
    income = ui.page.inner_text("#reason-rows tr[data-feature=income]")
    assert income.count("no reason text") == 2
    assert "never given as a reason" in ui.page.inner_text("#reason-rows tr[data-feature=debt]")
    # WHEN she edits the catalogue with markup in a sentence
    with ui.page.expect_navigation():
        ui.page.click("#edit-reasons")
    ui.page.fill("#id_text_0_raises", "<b>Your income</b> is low")
    ui.page.fill("#id_threshold", "0.3")
    ui.page.fill("#id_positive_decision", "Declined")
    ui.page.fill("#id_negative_decision", "Approved")
    with ui.page.expect_navigation():
        ui.page.click("#reasons-form button[type=submit]")
    # THEN the refusal shows on that box, and nothing is written
    assert "no HTML" in ui.page.inner_text("#id_text_0_raises_error")
    assert not ReasonCatalogue.objects.exists()
    ui.assert_fits()
    shot(ui, "reasons-refused")
    # WHEN she writes plain sentences and saves
    ui.page.fill("#id_text_0_raises", "Your income is low relative to the amount requested")
    ui.page.fill("#id_note", "First catalogue.")
    with ui.page.expect_navigation():
        ui.page.click("#reasons-form button[type=submit]")
    # THEN the model page shows version 1 in force, by her, with the sentence and the remaining gap
    assert "Version 1 in force, set by erin-engineer" in ui.page.inner_text("#reasons-in-force")
    income = ui.page.inner_text("#reason-rows tr[data-feature=income]")
    assert "Your income is low relative to the amount requested" in income
    assert income.count("no reason text") == 1
    assert ReasonCatalogue.objects.get().entries == [
        {"feature": "income", "direction": "raises", "text": "Your income is low relative to the amount requested"}
    ]
    ui.assert_fits()
    shot(ui, "reasons-saved")
