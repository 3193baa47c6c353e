"""The stock openlineage-python client, pointed at a running Assay with an Assay token as its API key, sends a
small pipeline's events; the graph has them. Nothing of the client is configured beyond what its docs say."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import column_lineage_dataset, dataset_version_dataset, schema_dataset
from openlineage.client.transport.http import HttpConfig, HttpTransport

from core import actions
from lineage.choices import Direction
from lineage.choices import RunState as State
from lineage.models import ColumnEdge, LineageEvent, LineageRun, Namespace, RunEdge

pytestmark = pytest.mark.django_db(transaction=True)

AGGREGATION = column_lineage_dataset.Transformation(type="DIRECT", subtype="AGGREGATION")


def _schema(*names: str) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=name, type="STRING") for name in names]
    )


def _client(url: str, token: str, compression: str | None = None) -> OpenLineageClient:
    config = HttpConfig.from_dict(
        {"type": "http", "url": url, "auth": {"type": "api_key", "apiKey": token}, "compression": compression}
    )
    return OpenLineageClient(transport=HttpTransport(config))


def _run(state: RunState, run_id: str, job: str, inputs: list[Any], outputs: list[Any], time: str) -> RunEvent:
    return RunEvent(
        eventType=state,
        eventTime=time,
        run=Run(runId=run_id),
        job=Job(namespace="airflow://team-a", name=job),
        inputs=inputs,
        outputs=outputs,
        producer="https://example.com/pipelines/churn",
    )


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_the_stock_client_sends_a_pipeline(live_server: Any, cast: Any, compression: str | None) -> None:
    # GIVEN an engineer's Assay token, used as the client's API key
    _, token = actions.do_create_token(actor=cast.engineer_a, name="openlineage")
    client = _client(live_server.url, token, compression)
    raw = InputDataset("s3://raw", "events/2026", facets={"schema": _schema("customer_id", "ts", "amount")})
    features = OutputDataset(
        "warehouse://team-a",
        "churn_features",
        facets={
            "schema": _schema("customer_id", "spend"),
            "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion="v1"),
            "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(
                fields={
                    "spend": column_lineage_dataset.Fields(
                        inputFields=[
                            column_lineage_dataset.InputField(
                                namespace="s3://raw",
                                name="events/2026",
                                field="amount",
                                transformations=[
                                    column_lineage_dataset.Transformation(type="DIRECT", subtype="AGGREGATION")
                                ],
                            )
                        ]
                    )
                }
            ),
        },
    )
    model = OutputDataset("assay://team-a", "sha256:" + "a" * 64)
    extract, train = str(uuid.uuid4()), str(uuid.uuid4())
    as_input = InputDataset(features.namespace, features.name)

    # WHEN the client emits the pipeline's events (the training run's COMPLETE before its START)
    client.emit(_run(RunState.START, extract, "features", [raw], [features], "2026-03-01T10:00:00Z"))
    client.emit(_run(RunState.COMPLETE, extract, "features", [raw], [features], "2026-03-01T10:05:00Z"))
    client.emit(_run(RunState.COMPLETE, train, "train", [as_input], [model], "2026-03-01T11:00:00Z"))
    client.emit(_run(RunState.START, train, "train", [as_input], [model], "2026-03-01T10:30:00Z"))
    client.emit(_run(RunState.START, train, "train", [as_input], [model], "2026-03-01T10:30:00Z"))  # a retry

    # THEN four events are stored (the retry was a duplicate), and the graph has the pipeline
    assert LineageEvent.objects.count() == 4
    assert set(LineageRun.objects.values_list("state", flat=True)) == {State.COMPLETE}
    assert RunEdge.objects.filter(run__run_id=train, direction=Direction.INPUT, dataset__name="churn_features").exists()
    feature_edge = RunEdge.objects.get(run__run_id=extract, direction=Direction.OUTPUT)
    assert feature_edge.version == "v1"
    column = ColumnEdge.objects.get()
    assert (column.input_dataset.name, column.input_field, column.output_field) == ("events/2026", "amount", "spend")
    assert Namespace.objects.get(name="warehouse://team-a").team == cast.team_a
    assert Namespace.objects.get(name="s3://raw").team is None


def test_the_client_sees_a_refusal_as_an_http_error(live_server: Any, cast: Any) -> None:
    _, token = actions.do_create_token(actor=cast.auditor, name="openlineage")
    client = _client(live_server.url, token)
    event = _run(RunState.START, str(uuid.uuid4()), "features", [], [], "2026-03-01T10:00:00Z")
    with pytest.raises(Exception, match="403"):
        client.emit(event)
    assert LineageEvent.objects.count() == 0
