"""The lineage pages and the registry pages' lineage cards, through Django's test client: who sees what, hostile
names escaped, bad controls refused. The drawing itself is tested in a browser (tests/browser/test_lineage_pages.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from lineage import naming
from registry import actions as registry_actions
from tests.governance.factories import write_onnx
from tests.lineage import view_graph as g
from tests.lineage.view_graph import Scene, key
from tests.registry.factories import (
    make_dataset,
    make_events_dataset,
    make_feature_view,
    make_model,
    make_model_version,
)

pytestmark = pytest.mark.django_db

# A name as hostile as one can be stored: PostgreSQL cannot hold a NUL, and ingestion refuses it (a 400 naming the
# field); the escape character stands in for the control characters that can be stored.
HOSTILE = "../../etc/passwd\x1b[31m<script>alert(1)</script>\r\nSet-Cookie: x=1\u202egnp.exe"


@pytest.fixture
def scene(cast: Any) -> Scene:
    return Scene(cast)


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_dataset_page_draws_from_embedded_json_and_lists_the_graph(scene: Scene, cast: Any) -> None:
    response = client_for(cast.compliance).get(f"/lineage/datasets/{scene.customers.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="lineage-data" type="application/json"' in html
    assert "vendor/cytoscape/cytoscape.min.js" in html
    assert "js/lineage-graph.js" in html
    assert "<script>" not in html.replace('<script src="', "").split("</footer>")[0]
    # the table says what the drawing shows, in words
    assert "Personal data" in html
    assert "Failed run" in html
    assert "Unregistered" in html
    assert "not visible to you" in html
    assert f'href="/datasets/{scene.registry_dataset.pk}/"' in html


def test_job_model_version_and_registry_dataset_pages(cast: Any, settings: Any, tmp_path: Path) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    version = make_model_version(
        make_model(cast.team_a, cast.engineer_a), cast.engineer_a, write_onnx(tmp_path / "m.onnx")
    )
    scene = Scene(cast, version)
    client = client_for(cast.auditor)
    job = client.get(f"/lineage/jobs/{scene.ingest.pk}/")
    assert job.status_code == 200
    assert str(scene.failed_run.run_id) in job.content.decode()
    closure = client.get(f"/lineage/model-versions/{version.pk}/")
    assert closure.status_code == 200
    text = closure.content.decode()
    assert "models.train" in text
    assert key(scene.raw) in text
    registry = client.get(f"/lineage/registry-datasets/{scene.registry_dataset.pk}/")
    assert registry.status_code == 200
    assert f"/lineage/datasets/{scene.customers.pk}/" in registry.content.decode()


def test_registry_pages_show_upstream_and_downstream(cast: Any, settings: Any, tmp_path: Path) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    version = make_model_version(
        make_model(cast.team_a, cast.engineer_a), cast.engineer_a, write_onnx(tmp_path / "m.onnx")
    )
    scene = Scene(cast, version)
    client = client_for(cast.engineer_a)
    dataset_page = client.get(f"/datasets/{scene.registry_dataset.pk}/").content.decode()
    assert 'id="lineage-panel"' in dataset_page
    assert "ingest" in dataset_page
    assert "features.materialize" in dataset_page
    assert f"/lineage/registry-datasets/{scene.registry_dataset.pk}/" in dataset_page
    model_page = client.get(f"/models/{version.model_id}/versions/{version.number}/").content.decode()
    assert 'id="lineage-panel"' in model_page
    assert "models.train" in model_page
    assert f"/lineage/model-versions/{version.pk}/" in model_page


def test_a_registry_page_without_lineage_says_so(cast: Any) -> None:
    dataset = make_dataset(cast.team_a, cast.engineer_a, location="s3://nowhere/at-all/")
    page = client_for(cast.engineer_a).get(f"/datasets/{dataset.pk}/").content.decode()
    assert "No lineage event names this object yet." in page


def test_another_team_gets_404s(scene: Scene, cast: Any) -> None:
    client = client_for(cast.engineer_b)
    assert client.get(f"/lineage/datasets/{scene.customers.pk}/").status_code == 404
    assert client.get(f"/lineage/jobs/{scene.ingest.pk}/").status_code == 404
    assert client.get(f"/lineage/registry-datasets/{scene.registry_dataset.pk}/").status_code == 404
    index = client.get("/lineage/").content.decode()
    assert "customers" not in index


def test_hostile_names_are_escaped_and_their_controls_shown(cast: Any) -> None:
    ns = g.namespace("s3://lake", cast.team_a)
    node = g.dataset(ns, HOSTILE)
    g.run(g.job(ns, HOSTILE), inputs=[node], outputs=[g.dataset(ns, "clean")])
    client = client_for(cast.engineer_a)
    for url in (f"/lineage/datasets/{node.pk}/", "/lineage/"):
        html = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "\u202e" not in html.split('id="lineage-data"')[0]
        assert "\\u202e" in html
        assert "\\u001b" in html
        assert "\r\nSet-Cookie" not in html


def test_bad_controls_are_a_400_naming_them(scene: Scene, cast: Any) -> None:
    client = client_for(cast.engineer_a)
    response = client.get(f"/lineage/datasets/{scene.customers.pk}/", {"depth": "999", "direction": "sideways"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Depth" in html
    assert "Direction" in html


def test_a_feature_set_version_page_shows_its_lineage(cast: Any) -> None:
    # GIVEN team A's feature-set version and the materialization that wrote its node
    events, events_v1 = make_events_dataset(cast.team_a, cast.engineer_a, location="s3://lake/events/")
    view = make_feature_view(cast.team_a, cast.engineer_a, events)
    version = registry_actions.do_register_feature_set_version(
        view, actor=cast.engineer_a, dataset_versions=[events_v1.pk]
    )
    name = naming.feature_set_version_name(version)
    node = g.dataset(g.namespace(name.namespace, cast.team_a), name.name)
    lake = g.namespace("s3://lake", cast.team_a)
    g.run(
        g.job(g.namespace(name.namespace), "features.materialize"), inputs=[g.dataset(lake, "events")], outputs=[node]
    )
    # WHEN its page is read THEN the lineage card names the job upstream and links to the node's lineage page
    page = client_for(cast.compliance).get(f"/feature-views/{view.pk}/versions/{version.number}/").content.decode()
    assert 'id="lineage-panel"' in page
    assert "features.materialize" in page
    assert f"/lineage/datasets/{node.pk}/" in page
