"""The lineage pages in a real browser: the graph drawn by cytoscape's dagre layout from the page's JSON (no inline
script, no CSP violation), unregistered, failed and personal-data nodes marked in words as well as colour, a click
through to a node's page, the registry pages' lineage cards, and hostile names shown inert. Screenshots go to
test-artifacts/screenshots/lineage-*.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSWORD
from tests.governance.factories import write_onnx
from tests.lineage import view_graph as g
from tests.lineage.view_graph import Scene
from tests.registry.factories import make_model, make_model_version

pytestmark = pytest.mark.browser

# A name as hostile as one can be stored: PostgreSQL cannot hold a NUL, and ingestion refuses it (a 400 naming the
# field); the escape character stands in for the control characters that can be stored.
HOSTILE = "../../etc/passwd\x1b[31m<img src=x onerror=alert(1)>\r\nSet-Cookie: x=1\u202egnp.exe"


@pytest.fixture
def scene(cast: Any, settings: Any, tmp_path: Path) -> tuple[Scene, Any]:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    version = make_model_version(
        make_model(cast.team_a, cast.engineer_a), cast.engineer_a, write_onnx(tmp_path / "m.onnx")
    )
    return Scene(cast, version), version


def drawn(ui: Any) -> int:
    ui.page.wait_for_selector("#lineage-graph[data-drawn]")
    return int(ui.page.get_attribute("#lineage-graph", "data-drawn"))


def test_a_dataset_graph_is_drawn_and_clicks_through(ui: Any, scene: tuple[Scene, Any]) -> None:
    world, _ = scene
    ui.login("carol-compliance", PASSWORD)
    ui.go(f"/lineage/datasets/{world.customers.pk}/")
    ui.assert_styled()
    rows = ui.page.locator("#lineage-table tbody tr").count()
    assert drawn(ui) == rows >= 7
    # a canvas, laid out: cytoscape drew into the container
    assert ui.page.locator("#lineage-graph canvas").count() >= 1
    table = ui.page.inner_text("#lineage-table")
    assert "Failed run" in table
    assert "Personal data" in table
    assert "Unregistered" in table
    assert "not visible to you" in table
    ui.shot("lineage-dataset")
    # click the ingest job's node on the canvas: its lineage page opens
    node_id = "job:s3://lake:ingest"
    box = ui.page.locator("#lineage-graph").bounding_box()
    at = ui.page.evaluate("(id) => window.lineageGraph.getElementById(id).renderedPosition()", node_id)
    with ui.page.expect_navigation():
        ui.page.mouse.click(box["x"] + at["x"], box["y"] + at["y"])
    assert ui.page.url.endswith(f"/lineage/jobs/{world.ingest.pk}/")
    assert drawn(ui) >= 3
    ui.shot("lineage-job")


def test_a_model_versions_closure_page(ui: Any, scene: tuple[Scene, Any]) -> None:
    _, version = scene
    ui.login("alice-admin", PASSWORD)
    ui.go(f"/models/{version.model_id}/versions/{version.number}/")
    panel = ui.page.inner_text("#lineage-panel")
    assert "models.train" in panel
    ui.shot("lineage-model-version-card")
    with ui.page.expect_navigation():
        ui.page.click("#lineage-panel .card__head a")
    assert ui.page.url.endswith(f"/lineage/model-versions/{version.pk}/")
    assert drawn(ui) >= 7
    assert "events/2026" in ui.page.inner_text("#closure-facts")
    ui.shot("lineage-model-version")


def test_hostile_names_stay_inert(ui: Any, cast: Any) -> None:
    ns = g.namespace("s3://lake", cast.team_a)
    node = g.dataset(ns, HOSTILE)
    g.run(g.job(ns, "copy"), inputs=[node], outputs=[g.dataset(ns, "clean")])
    dialogs: list[str] = []

    def refuse(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    ui.page.on("dialog", refuse)
    ui.login("erin-engineer", PASSWORD)
    ui.go(f"/lineage/datasets/{node.pk}/")
    assert drawn(ui) == 3
    heading = ui.page.inner_text("h1")
    assert "<img src=x onerror=alert(1)>" in heading
    assert "\\u202e" in heading
    assert "\\u001b" in heading
    assert ui.page.locator("img[src=x]").count() == 0
    assert dialogs == []
    ui.shot("lineage-hostile-name")
