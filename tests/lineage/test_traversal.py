"""Traversals of the lineage graph: the graph around a node, column lineage, a model version's closure."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lineage import traversal
from lineage.choices import RunState
from tests.lineage.graphs import GraphBuilder

pytestmark = pytest.mark.django_db


def keys(graph: traversal.Graph) -> set[str]:
    return {node.key for node in graph.nodes}


def test_upstream_of_a_dataset_follows_the_runs_that_wrote_it() -> None:
    # GIVEN raw -> clean (job a) -> features (job b), and an unrelated run of job a writing elsewhere
    g = GraphBuilder()
    g.run("a", inputs=["raw"], outputs=["clean"])
    g.run("a", inputs=["other-raw"], outputs=["other-clean"])
    g.run("b", inputs=["clean"], outputs=["features"])
    # WHEN the graph upstream of features is asked for, depth 2
    graph = traversal.lineage_graph(g.dataset("features"), way="upstream", depth=2)
    # THEN it holds both jobs and the datasets on the path, not what job a's other run read
    assert keys(graph) == {
        "dataset:s3://lake:features",
        "job:s3://lake:b",
        "dataset:s3://lake:clean",
        "job:s3://lake:a",
        "dataset:s3://lake:raw",
    }
    assert traversal.Edge("job:s3://lake:b", "dataset:s3://lake:features") in graph.edges
    assert traversal.Edge("dataset:s3://lake:raw", "job:s3://lake:a") in graph.edges
    assert graph.node("dataset:s3://lake:raw").depth == 2  # type: ignore[union-attr]


def test_depth_bounds_the_walk() -> None:
    g = GraphBuilder()
    last = g.chain(5)
    graph = traversal.lineage_graph(last, way="upstream", depth=1)
    assert keys(graph) == {"dataset:s3://lake:c-out-4", "job:s3://lake:c-job-4", "dataset:s3://lake:c-out-3"}
    assert keys(traversal.lineage_graph(last, way="upstream", depth=0)) == {"dataset:s3://lake:c-out-4"}


def test_downstream_and_both_ways_from_a_job() -> None:
    g = GraphBuilder()
    g.run("ingest", inputs=["source"], outputs=["landing"])
    g.run("clean", inputs=["landing"], outputs=["tables"])
    g.run("train", inputs=["tables"], outputs=["model"])
    job = g.job("clean")
    down = traversal.lineage_graph(job, way="downstream", depth=2)
    assert keys(down) == {
        "job:s3://lake:clean",
        "dataset:s3://lake:tables",
        "job:s3://lake:train",
        "dataset:s3://lake:model",
    }
    both = traversal.lineage_graph(job, way="both", depth=1)
    assert keys(both) == {"job:s3://lake:clean", "dataset:s3://lake:tables", "dataset:s3://lake:landing"}
    assert traversal.Edge("dataset:s3://lake:landing", "job:s3://lake:clean") in both.edges
    assert traversal.Edge("job:s3://lake:clean", "dataset:s3://lake:tables") in both.edges
    assert both.root == "job:s3://lake:clean"


def test_a_job_reading_its_own_output_terminates() -> None:
    # GIVEN a job that appends to the table it reads, and two jobs feeding each other
    g = GraphBuilder()
    g.run("append", inputs=["log", "events"], outputs=["log"])
    g.run("ping", inputs=["a"], outputs=["b"])
    g.run("pong", inputs=["b"], outputs=["a"])
    # WHEN walked far in every direction THEN the walk ends, each node once
    graph = traversal.lineage_graph(g.dataset("log"), way="both", depth=traversal.MAX_DEPTH)
    assert keys(graph) == {"dataset:s3://lake:log", "dataset:s3://lake:events", "job:s3://lake:append"}
    cycle = traversal.lineage_graph(g.dataset("a"), way="both", depth=traversal.MAX_DEPTH)
    assert keys(cycle) == {"dataset:s3://lake:a", "dataset:s3://lake:b", "job:s3://lake:ping", "job:s3://lake:pong"}
    closure = traversal.closure_of_nodes([g.dataset("a")], depth=50)
    assert {item.run.job.name for item in closure.runs} == {"ping", "pong"}


def test_an_unknown_way_is_refused() -> None:
    g = GraphBuilder()
    with pytest.raises(ValueError, match="way must be one of"):
        traversal.lineage_graph(g.dataset("x"), way="sideways")


def queries_of(call: object) -> int:
    with CaptureQueriesContext(connection) as captured:
        call()  # type: ignore[operator]
    return len(captured.captured_queries)


def test_the_number_of_queries_does_not_grow_with_the_graph() -> None:
    # GIVEN a small graph and one ten times its size, of the same shape
    g = GraphBuilder()
    small = g.chain(3, prefix="s", fan_in=2)
    large = g.chain(30, prefix="l", fan_in=5)
    for _ in range(3):  # history: the large graph's first job ran again
        g.run("l-job-0", inputs=["l-raw"], outputs=["l-out-0"])
    # WHEN each is walked fully THEN the walks take the same number of queries
    for way in ("upstream", "downstream", "both"):
        first = queries_of(lambda way=way: traversal.lineage_graph(small, way=way, depth=20))
        second = queries_of(lambda way=way: traversal.lineage_graph(large, way=way, depth=20))
        assert first == second
    first = queries_of(lambda: traversal.closure_of_nodes([small], depth=40))
    second = queries_of(lambda: traversal.closure_of_nodes([large], depth=40))
    assert first == second == 3
    assert len(traversal.closure_of_nodes([large], depth=40).runs) == 30
    g.column("s-raw", "a", "s-out-0", "a")
    g.column("l-raw", "a", "l-out-0", "a")
    g.column("l-out-0", "a", "l-out-1", "b")
    first = queries_of(lambda: traversal.column_graph(g.dataset("s-out-0"), field_name="a", depth=10))
    second = queries_of(lambda: traversal.column_graph(g.dataset("l-out-1"), field_name="b", depth=10))
    assert first == second


def test_column_lineage_upstream_and_downstream() -> None:
    g = GraphBuilder()
    g.column("raw", "amount", "clean", "amount_eur")
    g.column("raw", "currency", "clean", "amount_eur")
    g.column("clean", "amount_eur", "features", "spend_30d")
    g.column("features", "spend_30d", "features", "spend_30d")  # a self-derivation: must terminate
    up = traversal.column_graph(g.dataset("features"), field_name="spend_30d", way="upstream", depth=5)
    assert {node.key for node in up.nodes} == {
        "datasetField:s3://lake:features:spend_30d",
        "datasetField:s3://lake:clean:amount_eur",
        "datasetField:s3://lake:raw:amount",
        "datasetField:s3://lake:raw:currency",
    }
    assert (
        traversal.ColumnLink(
            "datasetField:s3://lake:raw:amount", "datasetField:s3://lake:clean:amount_eur", ("DIRECT:IDENTITY",)
        )
        in up.edges
    )
    down = traversal.column_graph(g.dataset("raw"), field_name="amount", way="downstream", depth=1)
    assert {node.key for node in down.nodes} == {
        "datasetField:s3://lake:raw:amount",
        "datasetField:s3://lake:clean:amount_eur",
    }
    every_field = traversal.column_graph(g.dataset("clean"), way="both", depth=1)
    assert {node.field for node in every_field.nodes} == {"amount_eur", "amount", "currency", "spend_30d"}


def test_closure_follows_one_producer_per_input_version() -> None:
    # GIVEN a table written twice (v1 then v2) and a training run that read v1
    g = GraphBuilder()
    g.run("load", inputs=["source-1"], outputs=["table"], versions={"table": "v1"})
    g.run("load", inputs=["source-2"], outputs=["table"], versions={"table": "v2"})
    train = g.run("train", inputs=["table"], outputs=["model"], versions={"table": "v1"})
    # WHEN the model's closure is taken
    closure = traversal.closure_of_nodes([g.dataset("model")])
    # THEN it holds the training run and the load that wrote v1 only
    assert closure.producing_run is not None
    assert closure.producing_run.run == train
    assert [edge.dataset.name for edge in closure.raw_inputs()] == ["source-1"]
    assert not closure.truncated


def test_closure_prefers_the_complete_run_and_sees_a_failed_one() -> None:
    g = GraphBuilder()
    done = g.run("train", inputs=["table"], outputs=["model"])
    g.run("train", inputs=["table"], outputs=["model"], state=RunState.FAIL)
    assert traversal.closure_of_nodes([g.dataset("model")]).producing_run.run == done  # type: ignore[union-attr]
    failed = g.run("train-2", inputs=["table"], outputs=["model-2"], state=RunState.FAIL)
    assert traversal.closure_of_nodes([g.dataset("model-2")]).producing_run.run == failed  # type: ignore[union-attr]


def test_closure_deeper_than_its_bound_is_truncated() -> None:
    g = GraphBuilder()
    last = g.chain(6)
    closure = traversal.closure_of_nodes([last], depth=3)
    assert closure.truncated
    assert [item.depth for item in closure.runs] == [0, 1, 2, 3]
    assert not traversal.closure_of_nodes([last], depth=5).truncated


def test_closure_document_names_runs_and_edges() -> None:
    g = GraphBuilder()
    run = g.run("train", inputs=["table"], outputs=["model"], versions={"table": "v3"})
    document = traversal.closure_of_nodes([g.dataset("model")]).document()
    assert document["runs"] == [
        {"run_id": str(run.run_id), "job": "job:s3://lake:train", "state": "COMPLETE", "depth": 0}
    ]
    assert {(edge["direction"], edge["dataset"], edge["version"]) for edge in document["edges"]} == {
        ("input", "dataset:s3://lake:table", "v3"),
        ("output", "dataset:s3://lake:model", ""),
    }
    assert traversal.closure_of_nodes([]).document()["runs"] == []
