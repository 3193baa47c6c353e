"""Every lineage read endpoint, tried by every persona of the cast and by an anonymous client (tests/api_cases.py).

Team A's members (and platform administrators) read team A's lineage; the engineer of team B gets the same 404 as
for a node that does not exist, and lists without team A's rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lineage.models import LineageDataset, LineageRun
from tests.api_cases import PERSONAS, TEAM_A, ApiCase, World, matrix, run_case
from tests.governance.factories import write_onnx
from tests.lineage.view_graph import Scene, key
from tests.registry import factories
from tests.registry.factories import make_model, make_model_version

artifact_root = factories.artifact_root
world = factories.world

EVERYONE = dict.fromkeys(PERSONAS, 200)
TEAM_A_AND_ROOT = ("superuser", *TEAM_A)


def reads() -> dict[str, int]:
    return {**dict.fromkeys(TEAM_A_AND_ROOT, 200), "engineer_b": 404}


def _scene(world: World) -> dict[str, Any]:
    return {"scene": Scene(world.cast)}


def _closure(world: World) -> dict[str, Any]:
    folder = Path(world.cast.team_a.slug + "-onnx")
    folder.mkdir(exist_ok=True)
    model = make_model(world.cast.team_a, world.cast.engineer_a)
    version = make_model_version(model, world.cast.engineer_a, write_onnx(folder / "m.onnx"))
    return {"scene": Scene(world.cast, version), "version": version}


def graph_url(world: World) -> str:
    return f"/api/v1/lineage?nodeId={key(world.scene.customers)}&depth=2"


CASES = [
    ApiCase("lineage.graph", "get", graph_url, statuses=reads(), setup=_scene),
    ApiCase(
        "lineage.column",
        "get",
        lambda w: f"/api/v1/lineage/column?nodeId={key(w.scene.features)}",
        statuses=reads(),
        setup=_scene,
    ),
    ApiCase(
        "lineage.run_events",
        "get",
        lambda w: f"/api/v1/lineage/runs/{w.scene.materialize_run.run_id}/events",
        statuses=reads(),
        setup=_scene,
    ),
    ApiCase(
        "lineage.namespaces.list",
        "get",
        lambda w: "/api/v1/lineage/namespaces/",
        statuses=EVERYONE,
        setup=_scene,
        listed=lambda w: '"name":"s3://lake"',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "lineage.namespaces.detail",
        "get",
        lambda w: f"/api/v1/lineage/namespaces/{w.scene.lake.pk}/",
        statuses=reads(),
        setup=_scene,
    ),
    ApiCase(
        "lineage.datasets.list",
        "get",
        lambda w: "/api/v1/lineage/datasets/",
        statuses=EVERYONE,
        setup=_scene,
        listed=lambda w: '"name":"customers"',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "lineage.datasets.detail",
        "get",
        lambda w: f"/api/v1/lineage/datasets/{w.scene.customers.pk}/",
        statuses=reads(),
        setup=_scene,
    ),
    ApiCase(
        "lineage.jobs.list",
        "get",
        lambda w: "/api/v1/lineage/jobs/",
        statuses=EVERYONE,
        setup=_scene,
        listed=lambda w: '"name":"features.materialize"',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "lineage.jobs.detail",
        "get",
        lambda w: f"/api/v1/lineage/jobs/{w.scene.ingest.pk}/",
        statuses=reads(),
        setup=_scene,
    ),
    ApiCase(
        "lineage.runs.list",
        "get",
        lambda w: "/api/v1/lineage/runs/",
        statuses=EVERYONE,
        setup=_scene,
        listed=lambda w: f'"run_id":"{w.scene.failed_run.run_id}"',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "lineage.runs.detail",
        "get",
        lambda w: f"/api/v1/lineage/runs/{w.scene.failed_run.run_id}/",
        statuses=reads(),
        setup=_scene,
    ),
    ApiCase(
        "model_versions.lineage",
        "get",
        lambda w: f"/api/v1/model-versions/{w.version.pk}/lineage/",
        statuses=reads(),
        setup=_closure,
    ),
    ApiCase(
        "lineage.datasets.create",
        "post",
        lambda w: "/api/v1/lineage/datasets/",
        data=lambda w: {"name": "x"},
        default=405,
        setup=_scene,
        counted=(LineageDataset, LineageRun),
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES))
def test_matrix(case: ApiCase, persona: str, world: World, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    run_case(case, persona, world)
