"""The lineage read API (lineage.api.views): Marquez's graph shape, flags, opaque nodes of other teams, column
lineage, a run's events, a model version's closure, the lists, and every bad input refused with the field named."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.models import AuditEvent
from lineage import traversal
from lineage.actions.links import do_relink
from lineage.choices import EventKind
from lineage.models import LineageEvent
from tests.api_cases import assert_error_shape
from tests.governance.factories import write_onnx
from tests.lineage import view_graph as g
from tests.lineage.view_graph import Scene, key
from tests.registry.factories import make_dataset, make_model, make_model_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(cast: Any) -> Scene:
    return Scene(cast)


@pytest.fixture
def client_a(api_as: Any, cast: Any) -> Any:
    return api_as(cast.engineer_a)


def graph(client: Any, node_id: str, **params: Any) -> Any:
    return client.get("/api/v1/lineage", {"nodeId": node_id, **params})


def by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["id"]: node for node in body["graph"]}


def test_the_graph_around_a_dataset_reads_as_marquez_draws_it(scene: Scene, client_a: Any) -> None:
    # WHEN team A's engineer asks for the graph around customers, both ways, depth 1
    response = graph(client_a, key(scene.customers), depth=1)
    # THEN nodes are Marquez's {id, type, data, inEdges, outEdges}
    assert response.status_code == 200, response.content
    nodes = by_id(response.json())
    assert set(nodes) == {
        key(scene.customers),
        key(scene.ingest),
        key(scene.raw),
        key(scene.materialize),
        key(scene.features),
        key(scene.b_report),
        key(scene.b_output),
    }
    customers = nodes[key(scene.customers)]
    assert customers["type"] == "DATASET"
    assert {"origin": key(scene.ingest), "destination": key(scene.customers)} in customers["inEdges"]
    assert {"origin": key(scene.customers), "destination": key(scene.materialize)} in customers["outEdges"]
    # AND customers is registered (linked at read time), links to its registry object and holds personal data
    data = customers["data"]
    assert data["registered"] is True
    assert data["registry"]["type"] == "dataset"
    assert data["registry"]["url"] == f"/api/v1/datasets/{scene.registry_dataset.pk}/"
    assert data["registry"]["webUrl"] == f"/datasets/{scene.registry_dataset.pk}/"
    assert data["personalData"] is True
    assert data["flags"] == ["personal_data"]
    assert data["facets"] == {"schema": {"fields": [{"name": "age", "type": "int"}]}}
    # AND the ingest job's latest run failed
    ingest = nodes[key(scene.ingest)]["data"]
    assert ingest["failed"] is True
    assert ingest["latestRun"]["state"] == "FAIL"
    assert ingest["flags"] == ["failed"]
    # AND the unclaimed raw source is named, unregistered, without its facets
    raw = nodes[key(scene.raw)]["data"]
    assert raw["visible"] is True
    assert raw["registered"] is False
    assert raw["flags"] == ["unregistered"]
    assert "facets" not in raw


def test_another_teams_nodes_are_opaque(scene: Scene, client_a: Any) -> None:
    nodes = by_id(graph(client_a, key(scene.customers), depth=2, direction="downstream").json())
    for hidden in (scene.b_report, scene.b_output):
        assert nodes[key(hidden)]["data"] == {"visible": False, "note": "not visible to you", "flags": []}
    assert "team B's facet" not in str(nodes)


def test_team_b_sees_its_own_nodes_and_not_team_as(scene: Scene, api_as: Any, cast: Any) -> None:
    client_b = api_as(cast.engineer_b)
    assert graph(client_b, key(scene.customers)).status_code == 404
    nodes = by_id(graph(client_b, key(scene.b_report), direction="upstream").json())
    assert nodes[key(scene.b_report)]["data"]["visible"] is True
    assert nodes[key(scene.customers)]["data"]["visible"] is False


def test_direction_and_depth_bound_the_walk(scene: Scene, client_a: Any) -> None:
    upstream = by_id(graph(client_a, key(scene.features), direction="upstream", depth=1).json())
    assert key(scene.materialize) in upstream
    assert key(scene.train) not in upstream
    everything = by_id(graph(client_a, key(scene.model), direction="upstream", depth=traversal.MAX_DEPTH).json())
    assert key(scene.raw) in everything
    alone = by_id(graph(client_a, key(scene.customers), depth=0).json())
    assert list(alone) == [key(scene.customers)]


def test_a_job_node_id_is_found_too(scene: Scene, client_a: Any) -> None:
    nodes = by_id(graph(client_a, key(scene.materialize), depth=1).json())
    assert {key(scene.customers), key(scene.features)} <= set(nodes)


def test_a_namespace_with_colons_resolves(cast: Any, client_a: Any) -> None:
    ns = g.namespace("postgres://db:5432", cast.team_a)
    node = g.dataset(ns, "public.loans:2024")
    response = graph(client_a, "dataset:postgres://db:5432:public.loans:2024")
    assert response.status_code == 200, response.content
    assert response.json()["graph"][0]["id"] == key(node)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"nodeId": "dataset:s3://lake:customers", "depth": traversal.MAX_DEPTH + 1}, "depth"),
        ({"nodeId": "dataset:s3://lake:customers", "depth": -1}, "depth"),
        ({"nodeId": "dataset:s3://lake:customers", "depth": "deep"}, "depth"),
        ({"nodeId": "dataset:s3://lake:customers", "direction": "sideways"}, "direction"),
        ({"nodeId": "table:s3://lake:customers"}, "nodeId"),
        ({"nodeId": "dataset:customers"}, "nodeId"),
        ({"nodeId": "dataset:s3://lake:cust\x00omers"}, "nodeId"),
        ({"nodeId": "dataset:" + ":" * 40}, "nodeId"),
        ({"nodeId": "dataset:s3://lake:" + "x" * 5000}, "nodeId"),
        ({"nodeId": "dataset:s3://lake:customers", "colour": "red"}, "colour"),
        ({}, "nodeId"),
    ],
)
def test_bad_graph_queries_are_400s_naming_the_parameter(
    scene: Scene, client_a: Any, params: dict[str, Any], field: str
) -> None:
    before = AuditEvent.objects.count()
    response = client_a.get("/api/v1/lineage", params)
    assert response.status_code == 400, response.content
    error = assert_error_shape(response)
    assert field in error.get("fields", {}), error
    assert AuditEvent.objects.count() == before


def test_an_unknown_node_is_a_404(scene: Scene, client_a: Any) -> None:
    response = graph(client_a, "dataset:s3://lake:nothing-here")
    assert response.status_code == 404
    assert_error_shape(response)


def test_the_number_of_queries_does_not_grow_with_the_graph(cast: Any, client_a: Any) -> None:
    ns = g.namespace("s3://lake", cast.team_a)
    hub = g.dataset(ns, "hub")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert graph(client_a, key(hub), depth=2).status_code == 200
        return len(queries)

    g.run(g.job(ns, "first"), inputs=[g.dataset(ns, "in-0")], outputs=[hub])
    count()  # the first request of a client also reads its token
    small = count()
    for index in range(1, 15):
        g.run(g.job(ns, f"job-{index}"), inputs=[g.dataset(ns, f"in-{index}")], outputs=[hub])
        g.run(g.job(ns, f"reader-{index}"), inputs=[hub], outputs=[g.dataset(ns, f"out-{index}")])
    assert count() == small


def test_column_lineage_follows_fields(scene: Scene, client_a: Any) -> None:
    response = client_a.get(
        "/api/v1/lineage/column", {"nodeId": f"datasetField:assay://team-a:{scene.model.name}:score", "depth": 5}
    )
    assert response.status_code == 200, response.content
    nodes = by_id(response.json())
    age = "datasetField:s3://lake:customers:age"
    assert age in nodes
    assert nodes[age]["type"] == "DATASET_FIELD"
    assert nodes[age]["data"]["field"] == "age"
    bucket = nodes["datasetField:assay://team-a:feature-sets/customer_activity/v1:age_bucket"]
    assert bucket["inEdges"][0]["origin"] == age
    assert bucket["inEdges"][0]["transformations"]


def test_column_lineage_of_a_dataset_and_a_field_parameter(scene: Scene, client_a: Any) -> None:
    response = client_a.get(
        "/api/v1/lineage/column", {"nodeId": key(scene.features), "field": "age_bucket", "direction": "both"}
    )
    assert response.status_code == 200, response.content
    assert "datasetField:s3://lake:customers:age" in by_id(response.json())
    refused = client_a.get("/api/v1/lineage/column", {"nodeId": key(scene.materialize)})
    assert refused.status_code == 400
    assert "nodeId" in assert_error_shape(refused)["fields"]


def test_a_runs_events_are_listed_in_event_time_order(scene: Scene, client_a: Any, api_as: Any, cast: Any) -> None:
    run_id = scene.materialize_run.run_id
    for index, event_type in enumerate(["COMPLETE", "START"]):
        LineageEvent.objects.create(
            digest=f"{index:064d}",
            kind=EventKind.RUN,
            event_type=event_type,
            event_time=g.T0.replace(minute=10 + (1 - index)),
            namespace=scene.assay,
            team=cast.team_a,
            run_id=run_id,
            job_name=scene.materialize.name,
            producer="https://example.com/producer",
            schema_url="https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            payload={"eventType": event_type, "run": {"runId": str(run_id)}},
        )
    response = client_a.get(f"/api/v1/lineage/runs/{run_id}/events")
    assert response.status_code == 200, response.content
    assert [event["event_type"] for event in response.json()["results"]] == ["START", "COMPLETE"]
    assert response.json()["results"][0]["payload"]["run"]["runId"] == str(run_id)
    assert api_as(cast.engineer_b).get(f"/api/v1/lineage/runs/{run_id}/events").status_code == 404
    assert client_a.get(f"/api/v1/lineage/runs/{uuid.uuid4()}/events").status_code == 404


def test_a_model_versions_closure_reaches_its_raw_sources(
    cast: Any, client_a: Any, api_as: Any, settings: Any, tmp_path: Path
) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    version = make_model_version(
        make_model(cast.team_a, cast.engineer_a), cast.engineer_a, write_onnx(tmp_path / "m.onnx")
    )
    scene = Scene(cast, version)
    response = client_a.get(f"/api/v1/model-versions/{version.pk}/lineage/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["modelVersion"]["id"] == version.pk
    assert body["producingRun"]["runId"] == str(scene.train_run.run_id)
    assert body["producingRun"]["state"] == "COMPLETE"
    assert body["rawInputs"] == [key(scene.raw)]
    assert body["truncated"] is False
    nodes = by_id(body)
    assert nodes[key(scene.model)]["data"]["registry"]["type"] == "modelVersion"
    assert nodes[key(scene.raw)]["data"]["flags"] == ["unregistered"]
    assert key(scene.b_report) not in nodes
    # AND the ingest job is not flagged: the closure followed its COMPLETE run, though its latest run failed
    ingest = nodes[key(scene.ingest)]["data"]
    assert ingest["latestRun"]["state"] == "FAIL"
    assert ingest["closureRun"]["state"] == "COMPLETE"
    assert ingest["failed"] is False
    materialize = next(run for run in body["runs"] if run["job"] == key(scene.materialize))
    assert materialize["inputs"][0]["version"] == "v1"
    # AND another team cannot read it: the same 404 as a missing version
    assert api_as(cast.engineer_b).get(f"/api/v1/model-versions/{version.pk}/lineage/").status_code == 404


def test_lists_of_namespaces_datasets_jobs_and_runs(scene: Scene, client_a: Any) -> None:
    namespaces = [row["name"] for row in client_a.get("/api/v1/lineage/namespaces/").json()["results"]]
    assert namespaces == ["assay://team-a", "s3://lake"]
    datasets = client_a.get("/api/v1/lineage/datasets/", {"namespace": "s3://lake"}).json()["results"]
    assert [row["name"] for row in datasets] == ["customers"]
    assert datasets[0]["registered"] is True
    assert datasets[0]["node_id"] == key(scene.customers)
    unregistered = client_a.get("/api/v1/lineage/datasets/", {"registered": "false"}).json()["results"]
    assert {row["name"] for row in unregistered} == {scene.features.name, scene.model.name, "customers"}
    jobs = [row["name"] for row in client_a.get("/api/v1/lineage/jobs/").json()["results"]]
    assert sorted(jobs) == ["features.materialize", "ingest", "models.train"]
    failed = client_a.get("/api/v1/lineage/runs/", {"state": "FAIL"}).json()["results"]
    assert [row["run_id"] for row in failed] == [str(scene.failed_run.run_id)]
    assert failed[0]["failed"] is True
    detail = client_a.get(f"/api/v1/lineage/runs/{scene.failed_run.run_id}/")
    assert detail.status_code == 200
    bad = client_a.get("/api/v1/lineage/runs/", {"state": "EXPLODED"})
    assert bad.status_code == 400
    assert "state" in assert_error_shape(bad)["fields"]


def test_a_model_version_without_lineage_has_an_empty_closure(
    cast: Any, client_a: Any, settings: Any, tmp_path: Path
) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    model = make_model(cast.team_a, cast.engineer_a)
    version = make_model_version(model, cast.engineer_a, write_onnx(tmp_path / "m.onnx"))
    body = client_a.get(f"/api/v1/model-versions/{version.pk}/lineage/").json()
    assert body["graph"] == []
    assert body["producingRun"] is None
    assert body["runs"] == []
    assert body["rawInputs"] == []
    client_a.force_login(cast.engineer_a)
    page = client_a.get(f"/lineage/model-versions/{version.pk}/")
    assert page.status_code == 200
    assert "No run produced this version" in page.content.decode()


def test_an_unclaimed_node_linked_on_read_to_another_teams_dataset_is_opaque(
    cast: Any, client_a: Any, api_as: Any
) -> None:
    # GIVEN team B's job reading an unclaimed bucket's table, which team A registered after the events arrived
    shared = g.dataset(g.namespace("s3://shared"), "customers")
    b_ns = g.namespace("b-warehouse", cast.team_b)
    g.run(g.job(b_ns, "b-copy"), inputs=[shared], outputs=[g.dataset(b_ns, "copy")])
    dataset = make_dataset(cast.team_a, cast.engineer_a, location="s3://shared/customers/")
    # WHEN team B reads its job's graph THEN the table is team A's data: opaque to team B
    nodes = by_id(api_as(cast.engineer_b).get("/api/v1/lineage", {"nodeId": "job:b-warehouse:b-copy"}).json())
    assert nodes[key(shared)]["data"]["visible"] is False
    # AND team A, once linked, sees it registered
    do_relink(actor=cast.superuser)
    mine = by_id(graph(client_a, key(shared)).json())
    assert mine[key(shared)]["data"]["registry"]["id"] == dataset.pk
    assert mine[key(g.job(b_ns, "b-copy"))]["data"]["visible"] is False
