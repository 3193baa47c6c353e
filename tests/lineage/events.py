"""OpenLineage events for the lineage tests, built as the spec's JSON (what a producer sends)."""

from __future__ import annotations

import copy
import uuid
from typing import Any

PRODUCER = "https://github.com/example/pipeline/v1"
RUN_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
DATASET_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent"
JOB_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent"
FACET = {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/Facet.json"}


def facet(**fields: Any) -> dict[str, Any]:
    return {**FACET, **fields}


def schema(*names: str) -> dict[str, Any]:
    return facet(fields=[{"name": name, "type": "string"} for name in names])


def dataset(namespace: str, name: str, **facets: Any) -> dict[str, Any]:
    return {"namespace": namespace, "name": name, "facets": facets}


def column_lineage(mapping: dict[str, list[tuple[str, str, str]]]) -> dict[str, Any]:
    """``{"out_field": [(namespace, name, field), ...]}`` as a columnLineage facet (spec 1-2-0 shape)."""
    return facet(
        fields={
            output: {
                "inputFields": [
                    {
                        "namespace": namespace,
                        "name": name,
                        "field": field,
                        "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}],
                    }
                    for namespace, name, field in sources
                ]
            }
            for output, sources in mapping.items()
        }
    )


def run_event(
    event_type: str = "START",
    *,
    run_id: str | None = None,
    namespace: str = "airflow://team-a",
    job: str = "etl.daily",
    time: str = "2026-01-01T10:00:00Z",
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    run_facets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "eventTime": time,
        "run": {"runId": run_id or str(uuid.uuid4()), "facets": run_facets or {}},
        "job": {"namespace": namespace, "name": job, "facets": {}},
        "inputs": inputs if inputs is not None else [dataset("s3://raw", "events/2026", schema=schema("id", "ts"))],
        "outputs": outputs if outputs is not None else [dataset("warehouse://team-a", "daily", schema=schema("id"))],
        "producer": PRODUCER,
        "schemaURL": RUN_SCHEMA,
    }


def dataset_event(namespace: str = "warehouse://team-a", name: str = "daily", **facets: Any) -> dict[str, Any]:
    return {
        "eventTime": "2026-01-01T09:00:00Z",
        "dataset": dataset(namespace, name, **facets),
        "producer": PRODUCER,
        "schemaURL": DATASET_SCHEMA,
    }


def job_event(namespace: str = "airflow://team-a", name: str = "etl.daily", **facets: Any) -> dict[str, Any]:
    return {
        "eventTime": "2026-01-01T09:00:00Z",
        "job": {"namespace": namespace, "name": name, "facets": facets},
        "inputs": [],
        "outputs": [],
        "producer": PRODUCER,
        "schemaURL": JOB_SCHEMA,
    }


def copy_of(event: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(event)
