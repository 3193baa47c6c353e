"""The events Assay's jobs emit, built from registry objects (unsaved: no database), checked against the
openlineage-python client's generated classes and lineage.naming."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from openlineage.client.event_v2 import RunEvent, RunState
from openlineage.client.serde import Serde

from core.models import Job, Team
from lineage.emit import (
    PLATFORM_NAMESPACE,
    PRODUCER,
    JobLineage,
    build_run_event,
    dataset_version_input,
    feature_column_lineage,
    feature_set_input,
    feature_set_output,
    job_lineage,
    model_version_output,
    run_id,
)
from lineage.naming import DatasetName, split_location
from registry.models import Dataset, DatasetVersion, FeatureSetVersion, FeatureView, ModelVersion, RegisteredModel
from tests.registry.factories import EVENTS_SCHEMA, FEATURES, SPINE_SCHEMA

TEAM = Team(slug="team-a", name="Team A")
EVENTS_FINGERPRINT = "a" * 64
SPINE_FINGERPRINT = "b" * 64
DIGEST = "c" * 64
WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NONE = JobLineage()


def a_job(kind: str = "registry.materialize_features", team: Team | None = TEAM) -> Job:
    return Job(kind=kind, team=team, public_id=uuid.UUID("12345678-1234-5678-1234-567812345678"))


def events_version() -> DatasetVersion:
    dataset = Dataset(team=TEAM, name="Events", location="s3://bank-data/events/2026/")
    return DatasetVersion(dataset=dataset, number=1, schema=EVENTS_SCHEMA, content_fingerprint=EVENTS_FINGERPRINT)


def spine_version() -> DatasetVersion:
    dataset = Dataset(team=TEAM, name="Labels", location="lake://churn/labels")
    return DatasetVersion(dataset=dataset, number=2, schema=SPINE_SCHEMA, content_fingerprint=SPINE_FINGERPRINT)


def feature_set(features: list[dict[str, Any]] = FEATURES) -> FeatureSetVersion:
    view = FeatureView(team=TEAM, name="customer_activity", entity="customer", event_time_column="event_time")
    return FeatureSetVersion(feature_view=view, number=3, features=features, fingerprint="d" * 64)


def as_json(event: RunEvent) -> dict[str, Any]:
    """What goes on the wire: the client's serialisation, through JSON."""
    return json.loads(Serde.to_json(event))


def fields_of(facet: dict[str, Any], name: str) -> list[tuple[str, str, str, str]]:
    """(dataset name, field, type, subtype) of each input field of output column ``name``."""
    return [
        (item["name"], item["field"], item["transformations"][0]["type"], item["transformations"][0]["subtype"])
        for item in facet["fields"][name]["inputFields"]
    ]


def test_run_ids_are_derived_from_the_job_and_its_attempt() -> None:
    job = a_job()
    assert run_id(job, 1) == run_id(a_job(), 1)
    assert run_id(job, 1) != run_id(job, 2)
    assert run_id(job, 1).version == 5


def test_a_start_event_names_the_job_in_its_teams_namespace() -> None:
    event = as_json(build_run_event(a_job(), RunState.START, attempt=1, event_time=WHEN, lineage=JobLineage()))
    assert event["eventType"] == "START"
    assert event["eventTime"] == "2026-03-01T12:00:00+00:00"
    assert event["producer"] == PRODUCER
    assert event["schemaURL"].startswith("https://openlineage.io/spec/")
    assert event["job"]["namespace"] == "assay://team-a"
    assert event["job"]["name"] == "registry.materialize_features"
    assert event["job"]["facets"]["jobType"]["integration"] == "ASSAY"
    assert event["run"]["runId"] == str(run_id(a_job(), 1))
    assert event["run"]["facets"]["processing_engine"]["name"] == "Assay"
    assert "errorMessage" not in event["run"]["facets"]


def test_a_job_without_a_team_runs_in_the_platform_namespace() -> None:
    event = as_json(build_run_event(a_job("audit.verify", team=None), RunState.COMPLETE, attempt=1, event_time=WHEN))
    assert event["job"]["namespace"] == PLATFORM_NAMESPACE
    assert event["inputs"] == [] or "inputs" not in event


def test_a_fail_event_carries_the_error() -> None:
    event = as_json(
        build_run_event(a_job(), RunState.FAIL, attempt=2, event_time=WHEN, error="no such column", lineage=NONE)
    )
    assert event["run"]["facets"]["errorMessage"]["message"] == "no such column"
    assert event["run"]["facets"]["errorMessage"]["programmingLanguage"] == "python"
    assert event["run"]["runId"] == str(run_id(a_job(), 2))


def test_the_same_state_of_the_same_attempt_builds_the_same_event() -> None:
    first = Serde.to_json(build_run_event(a_job(), RunState.COMPLETE, attempt=1, event_time=WHEN, lineage=NONE))
    again = Serde.to_json(build_run_event(a_job(), RunState.COMPLETE, attempt=1, event_time=WHEN, lineage=NONE))
    assert first == again


def test_a_kind_nobody_registered_emits_no_datasets() -> None:
    assert job_lineage(a_job("some.kind")) == JobLineage()


def test_a_dataset_version_is_named_by_its_location_with_its_fingerprint_as_version() -> None:
    item = Serde.to_dict(dataset_version_input(events_version()))
    assert (item["namespace"], item["name"]) == split_location("s3://bank-data/events/2026/")
    assert (item["namespace"], item["name"]) == ("s3://bank-data", "events/2026")
    assert item["facets"]["version"]["datasetVersion"] == EVENTS_FINGERPRINT
    assert item["facets"]["dataSource"] == {
        "_producer": item["facets"]["dataSource"]["_producer"],
        "_schemaURL": item["facets"]["dataSource"]["_schemaURL"],
        "name": "s3://bank-data",
        "uri": "s3://bank-data/events/2026/",
    }
    assert [(f["name"], f["type"]) for f in item["facets"]["schema"]["fields"]] == [
        ("customer_id", "int64"),
        ("event_time", "timestamp"),
        ("amount", "decimal(12,2)"),
        ("channel", "string"),
    ]


def test_a_feature_set_output_has_its_schema_and_column_lineage_from_the_definitions() -> None:
    """GIVEN features reading amount (sum over 7d), nothing (count) and channel (last over 90d)
    WHEN the materialization's output is built from the events and no spine
    THEN each feature's columns come from the events with the aggregation, grouped by the entity, windowed by time."""
    item = Serde.to_dict(feature_set_output(feature_set(), events_version()))
    assert (item["namespace"], item["name"]) == ("assay://team-a", "feature-sets/customer_activity/v3")
    assert item["facets"]["version"]["datasetVersion"] == "d" * 64
    schema = [(f["name"], f.get("type")) for f in item["facets"]["schema"]["fields"]]
    assert schema == [
        ("customer_id", "int64"),
        ("event_time", "timestamp"),
        ("spend_7d", None),
        ("orders_30d", "int64"),
        ("last_channel", None),
        ("as_of_date", "date"),
    ]
    lineage = item["facets"]["columnLineage"]
    events = "events/2026"
    assert fields_of(lineage, "spend_7d") == [
        (events, "amount", "DIRECT", "AGGREGATION"),
        (events, "customer_id", "INDIRECT", "GROUP_BY"),
        (events, "event_time", "INDIRECT", "WINDOW"),
    ]
    assert lineage["fields"]["spend_7d"]["inputFields"][0]["transformations"][0]["description"] == "sum(amount) over 7d"
    # A count of a literal reads no column: only the grouping and the window.
    assert fields_of(lineage, "orders_30d") == [
        (events, "customer_id", "INDIRECT", "GROUP_BY"),
        (events, "event_time", "INDIRECT", "WINDOW"),
    ]
    assert fields_of(lineage, "last_channel")[0] == (events, "channel", "DIRECT", "AGGREGATION")
    assert fields_of(lineage, "customer_id") == [(events, "customer_id", "DIRECT", "IDENTITY")]
    assert fields_of(lineage, "as_of_date") == [(events, "event_time", "DIRECT", "TRANSFORMATION")]


def test_with_a_spine_the_rows_and_labels_come_from_the_spine() -> None:
    features = [
        *FEATURES,
        {"name": "channel_te", "definition": "target_encode(channel, churned)", "aggregation": "last", "window": "90d"},
        {
            "name": "big_spend",
            "definition": "case when AMOUNT > 100 then 1 end",
            "aggregation": "count",
            "window": "7d",
        },
    ]
    item = Serde.to_dict(feature_set_output(feature_set(features), events_version(), spine_version()))
    lineage = item["facets"]["columnLineage"]
    labels = "churn/labels"
    assert fields_of(lineage, "customer_id") == [(labels, "customer_id", "DIRECT", "IDENTITY")]
    assert fields_of(lineage, "churned") == [(labels, "churned", "DIRECT", "IDENTITY")]
    assert fields_of(lineage, "segment") == [(labels, "segment", "DIRECT", "IDENTITY")]
    assert fields_of(lineage, "channel_te")[:2] == [
        ("events/2026", "channel", "DIRECT", "TRANSFORMATION"),
        (labels, "churned", "DIRECT", "AGGREGATION"),
    ]
    # Column names are matched as Spark matches them, without case, and written as the schema writes them.
    assert fields_of(lineage, "big_spend")[0] == ("events/2026", "amount", "DIRECT", "AGGREGATION")
    assert {field["namespace"] for field in lineage["fields"]["churned"]["inputFields"]} == {"lake"}


def test_column_lineage_of_a_definition_reading_two_columns_names_both_once() -> None:
    features = [
        {"name": "f", "definition": "amount * 2 + amount / length(channel)", "aggregation": "mean", "window": "7d"}
    ]
    _, facet = feature_column_lineage(
        {"entity": "customer", "event_time_column": "event_time", "features": features},
        DatasetName("lake", "events"),
        EVENTS_SCHEMA,
    )
    assert fields_of(Serde.to_dict(facet), "f")[:2] == [
        ("events", "amount", "DIRECT", "AGGREGATION"),
        ("events", "channel", "DIRECT", "AGGREGATION"),
    ]


def test_a_feature_set_input_and_a_model_version_output_follow_the_naming_conventions() -> None:
    model = RegisteredModel(team=TEAM, name="scorer")
    version = ModelVersion(
        model=model, number=1, artifact_sha256=DIGEST, interface={"inputs": [{"name": "features", "type": "float"}]}
    )
    output = Serde.to_dict(model_version_output(version))
    assert (output["namespace"], output["name"]) == ("assay://team-a", f"sha256:{DIGEST}")
    assert [f["name"] for f in output["facets"]["schema"]["fields"]] == ["features"]
    used = Serde.to_dict(feature_set_input(feature_set()))
    assert (used["namespace"], used["name"]) == ("assay://team-a", "feature-sets/customer_activity/v3")
    assert [f["name"] for f in used["facets"]["schema"]["fields"]] == ["spend_7d", "orders_30d", "last_channel"]


def test_a_full_event_serialises_and_builds_again_through_the_client_classes() -> None:
    lineage = JobLineage(
        inputs=[dataset_version_input(events_version())],
        outputs=[feature_set_output(feature_set(), events_version())],
    )
    event = build_run_event(a_job(), RunState.COMPLETE, attempt=1, event_time=WHEN, lineage=lineage)
    payload = as_json(event)
    assert [item["name"] for item in payload["inputs"]] == ["events/2026"]
    assert [item["name"] for item in payload["outputs"]] == ["feature-sets/customer_activity/v3"]
    assert set(payload["outputs"][0]["facets"]) == {"dataSource", "schema", "version", "columnLineage"}


def test_a_bad_event_time_is_refused_by_the_client_classes() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        RunEvent(eventType=RunState.START, eventTime="yesterday", run=None, job=None, producer=PRODUCER)  # type: ignore[arg-type]


def test_a_run_asked_for_by_another_jobs_run_names_it_as_its_parent() -> None:
    parent = a_job()
    parent.attempts = 2
    child = Job(kind="registry.train_model", team=TEAM, public_id=uuid.uuid4())
    lineage = JobLineage(parent=parent)
    event = as_json(build_run_event(child, RunState.START, attempt=1, event_time=WHEN, lineage=lineage))
    facet = event["run"]["facets"]["parent"]
    assert facet["run"]["runId"] == str(run_id(parent, 2))
    assert (facet["job"]["namespace"], facet["job"]["name"]) == ("assay://team-a", "registry.materialize_features")
