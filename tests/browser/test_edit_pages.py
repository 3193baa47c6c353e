"""The edit pages in a real browser (issue 10): an engineer opens a dataset, follows "Edit", changes its description
and sees it on the dataset's page; then changes a model's owner and sees the new owner; a refusal by the action shows
on the field it names. A reader of the team sees no "Edit" link. Screenshots: test-artifacts/screenshots/edit-*.png.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.choices import AuditEventType
from core.models import AuditEvent
from tests.conftest import PASSWORD
from tests.registry.factories import make_dataset, make_model

pytestmark = pytest.mark.browser


def text_of(locator: Any) -> str:
    return " ".join(locator.inner_text().split())


def test_an_engineer_edits_a_datasets_description_and_a_models_owner(ui: Any, cast: Any) -> None:
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    model = make_model(cast.team_a, cast.engineer_a)
    ui.login("erin-engineer", PASSWORD)

    # The dataset: from its page to the form and back
    ui.go(f"/datasets/{dataset.pk}/")
    with ui.page.expect_navigation():
        ui.page.click("#edit-link")
    assert ui.page.url == ui.base_url + f"/datasets/{dataset.pk}/edit/"
    ui.assert_styled()
    assert ui.page.input_value("#id_description") == "One row per customer and month."
    assert ui.page.input_value("#id_partitioning") == "month"
    ui.page.fill("#id_description", "One row per customer and month, from the billing system.")
    ui.shot("edit-dataset-form")
    with ui.page.expect_navigation():
        ui.page.click("#edit-form button[type=submit]")
    assert ui.page.url == ui.base_url + f"/datasets/{dataset.pk}/"
    assert "One row per customer and month, from the billing system." in text_of(ui.page.locator(".page-head"))
    assert "Saved Description." in text_of(ui.page.locator("body"))
    ui.shot("edit-dataset-saved")

    # A refusal of the action shows on its field, and nothing is saved
    ui.go(f"/datasets/{dataset.pk}/edit/")
    ui.page.fill("#id_location", "https://127.0.0.1/x")
    with ui.page.expect_navigation():
        ui.page.click("#edit-form button[type=submit]")
    assert ui.page.locator("#id_location_error").is_visible()
    assert ui.page.locator("#edit-errors").is_visible()
    ui.shot("edit-dataset-refused")

    # The model: a new owner chosen from the team's members
    ui.go(f"/models/{model.pk}/")
    assert "erin-engineer" in text_of(ui.page.locator("#responsibility-heading").locator("xpath=../.."))
    with ui.page.expect_navigation():
        ui.page.click("#edit-link")
    ui.page.select_option("#id_owner", "alice-admin")
    ui.page.fill("#id_tags", "churn, tier-2")
    with ui.page.expect_navigation():
        ui.page.click("#edit-form button[type=submit]")
    assert ui.page.url == ui.base_url + f"/models/{model.pk}/"
    responsibility = text_of(ui.page.locator("#responsibility-heading").locator("xpath=../.."))
    assert "Owner alice-admin" in responsibility
    assert text_of(ui.page.locator(".page-head")).endswith("churn tier-2")
    assert "Saved Owner, Tags." in text_of(ui.page.locator("body"))
    ui.shot("edit-model-saved")

    events = AuditEvent.objects.filter(event_type=AuditEventType.MODEL_UPDATED)
    assert [(event.before, event.after) for event in events] == [
        ({"owner": "erin-engineer", "tags": ["churn", "tier-1"]}, {"owner": "alice-admin", "tags": ["churn", "tier-2"]})
    ]


def test_a_reader_sees_no_edit_link(ui: Any, cast: Any) -> None:
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    ui.login("dave-auditor", PASSWORD)
    ui.go(f"/datasets/{dataset.pk}/")
    assert ui.page.locator("#edit-link").count() == 0
    response = ui.go(f"/datasets/{dataset.pk}/edit/")
    assert response.status == 403
