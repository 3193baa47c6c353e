"""The registry's pages in a real browser: a compliance officer walks from the navigation to each model, dataset and
use case page, filters the lists, and reads the contract, the schema markers, the evolution report, the KPIs and the
audit trail. Data comes from the registry's actions with a real ONNX model. Screenshots go to
test-artifacts/screenshots/registry-*.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression

from tests.conftest import PASSWORD
from tests.registry.test_ui import RegistryWorld, build_registry

pytestmark = pytest.mark.browser


def text_of(locator: Any) -> str:
    return " ".join(locator.inner_text().split())


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(11)
    features = rng.normal(size=(200, 4)).astype(np.float32)
    labels = (features[:, 0] - features[:, 2] > 0).astype(np.int64)
    model = to_onnx(LogisticRegression().fit(features, labels), features[:1], options={"zipmap": False})
    path = tmp_path_factory.mktemp("onnx") / "churn-logistic.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture
def world(cast: Any, onnx_model: Path, settings: Any, tmp_path: Path) -> RegistryWorld:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    return build_registry(cast, onnx_model)


def test_models_from_the_list_to_a_version(ui: Any, cast: Any, world: RegistryWorld) -> None:
    ui.login("carol-compliance", PASSWORD)
    with ui.page.expect_navigation():
        ui.page.click(".site-nav a:text-is('Models')")
    assert ui.page.url == ui.base_url + "/models/"
    assert ui.page.locator(".site-nav a[aria-current=page]").inner_text() == "Models"
    ui.assert_styled()
    assert ui.page.inner_text("#model-count") == "2"
    latest = ui.page.locator("tr", has_text="Churn scorer").locator("[data-version-status=in_review]")
    assert latest.inner_text() == "In review"
    ui.assert_fits()
    ui.shot("registry-model-list")

    # Filter by status through the form
    ui.page.select_option("#f-status", "deployed")
    with ui.page.expect_navigation():
        ui.page.click("#model-filter button[type=submit]")
    assert "status=deployed" in ui.page.url
    assert ui.page.inner_text("#model-count") == "1"
    assert ui.page.locator("table.table--models tbody tr").count() == 1

    with ui.page.expect_navigation():
        ui.page.click("table.table--models a:text-is('Churn scorer')")
    assert ui.page.inner_text("h1").startswith("Churn scorer")
    history = ui.page.locator("section[aria-labelledby=history-heading] tbody tr")
    assert history.count() == 4
    assert "Fairness checks passed on age bands." in text_of(history.nth(2))
    trail = ui.page.locator("#audit-trail tbody tr")
    assert trail.count() == 7
    ui.assert_fits()
    ui.shot("registry-model-detail")

    with ui.page.expect_navigation():
        ui.page.click("table.table--versions a:text-is('v2')")
    assert text_of(ui.page.locator("h1")) == "Churn scorer v2 In review"
    inputs = ui.page.locator("table[aria-labelledby=inputs-heading] tbody tr")
    interface = world.mv2.interface
    assert inputs.count() == len(interface["inputs"])
    assert interface["inputs"][0]["name"] in inputs.first.inner_text()
    assert ui.page.inner_text("#artifact-sha256") == world.mv2.artifact_sha256
    assert "test.recall" in ui.page.locator("table[aria-labelledby=metrics-heading]").inner_text()
    ui.assert_fits()
    ui.shot("registry-model-version")

    # The lineage link leads to the dataset version it was trained on
    with ui.page.expect_navigation():
        ui.page.click("section[aria-labelledby=lineage-heading] a")
    assert text_of(ui.page.locator("h1")).startswith("Customers v2")

    for path in ["/models/", f"/models/{world.model.pk}/", f"/models/{world.model.pk}/versions/2/"]:
        ui.page.set_viewport_size({"width": 390, "height": 844})
        ui.go(path)
        ui.assert_fits()
    ui.shot("registry-model-version-narrow")


def test_dataset_schema_markers_and_evolution(ui: Any, cast: Any, world: RegistryWorld) -> None:
    ui.login("carol-compliance", PASSWORD)
    ui.go("/datasets/")
    ui.assert_styled()
    row = ui.page.locator("table.table--datasets tbody tr", has_text="Customers")
    assert "Confidential" in row.inner_text()
    assert "1 breaking" in row.inner_text()
    ui.assert_fits()
    ui.shot("registry-dataset-list")

    with ui.page.expect_navigation():
        row.locator("a", has_text="Customers").click()
    assert ui.page.locator("table.table--versions tbody tr").count() == 2
    ui.assert_fits()
    ui.shot("registry-dataset-detail")

    ui.go(f"/datasets/{world.dataset.pk}/versions/2/")
    # Every marker is a word on the page, not a colour: read it back as a screen reader would get it
    ethnicity = ui.page.locator("tr[data-column=ethnicity] td").nth(3)
    assert text_of(ethnicity) == "Personal data Special category Protected attribute Prohibited input"
    assert text_of(ui.page.locator("tr[data-column=customer_id] td").nth(3)) == "—"
    assert ui.page.locator("tr.schema-row--flagged").count() == 4
    # The markers are styled (the stylesheet reached them) and readable against their background
    colour = ui.page.eval_on_selector(".flag--prohibited_input", "el => getComputedStyle(el).color")
    assert colour == "rgb(164, 22, 26)"
    breaking = ui.page.locator("tr[data-change-kind=type_changed] .badge--breaking")
    assert breaking.inner_text() == "Breaking"
    review = ui.page.locator("tr[data-change-kind=flag_removed] .badge--review")
    assert review.inner_text() == "Needs review"
    assert "Registered with the explicit breaking-change flag" in ui.page.inner_text("[data-evolution-summary]")
    ui.assert_fits()
    ui.shot("registry-dataset-version")

    # On a phone the schema table scrolls inside its card; the page itself does not
    ui.page.set_viewport_size({"width": 390, "height": 844})
    ui.go(f"/datasets/{world.dataset.pk}/versions/2/")
    ui.assert_fits()
    ui.shot("registry-dataset-version-narrow")


def test_use_case_objective_kpis_and_risk(ui: Any, cast: Any, world: RegistryWorld) -> None:
    ui.login("carol-compliance", PASSWORD)
    ui.go("/use-cases/")
    ui.assert_styled()
    ui.page.select_option("#f-risk", "high")
    with ui.page.expect_navigation():
        ui.page.click("#use-case-filter button[type=submit]")
    assert ui.page.inner_text("#use-case-count") == "1"
    ui.go("/use-cases/")
    ui.assert_fits()
    ui.shot("registry-use-case-list")

    with ui.page.expect_navigation():
        ui.page.click("table.table--use-cases a:text-is('Churn prevention')")
    assert "Limited risk" in ui.page.inner_text("#risk")
    assert "Not for credit decisions." in ui.page.inner_text("#limitations")
    kpi = ui.page.locator("article[data-kpi=churn_rate]")
    assert kpi.locator("tbody tr").count() == 4
    chart = kpi.locator("svg")
    box = chart.bounding_box()
    assert box is not None
    assert box["width"] > 100
    assert box["height"] > 40
    # The chart is drawn by the stylesheet (no inline style under the CSP): the line has its stroke
    stroke = kpi.locator("polyline").evaluate("el => getComputedStyle(el).stroke")
    assert stroke == "rgb(11, 87, 164)"
    assert ui.page.locator("article[data-kpi=retained_revenue] svg").count() == 0
    ui.assert_fits()
    ui.shot("registry-use-case-detail")
    ui.page.set_viewport_size({"width": 390, "height": 844})
    ui.go(f"/use-cases/{world.use_case.pk}/")
    ui.assert_fits()
    ui.shot("registry-use-case-detail-narrow")


def test_an_engineer_sees_no_trail_and_another_team_sees_nothing(ui: Any, cast: Any, world: RegistryWorld) -> None:
    ui.login("erin-engineer", PASSWORD)
    ui.go(f"/models/{world.model.pk}/")
    trail = ui.page.locator("#audit-trail")
    assert "shown to the team's compliance officers, auditors and admins" in trail.inner_text()
    assert trail.locator("table").count() == 0
    ui.shot("registry-model-detail-engineer")

    ui.page.context.clear_cookies()
    ui.login("bob-engineer", PASSWORD)
    response = ui.go(f"/models/{world.model.pk}/")
    assert response.status == 404
    assert "Not found" in ui.page.inner_text("h1")
    ui.go("/models/")
    assert ui.page.inner_text("#model-count") == "1"
    assert "Ledger scorer" in ui.page.inner_text("table.table--models")
