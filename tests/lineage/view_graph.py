"""A small lineage graph written straight into the models, as the ingestion fold would leave it: the read side's
tests (links, read API, pages) build on it without going through ingestion."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from lineage.choices import Direction, RunState
from lineage.models import ColumnEdge, LineageDataset, LineageJob, LineageRun, Namespace, RunEdge
from tests.registry.factories import make_dataset, make_dataset_version

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def namespace(name: str, team: Any = None) -> Namespace:
    found, _ = Namespace.objects.get_or_create(name=name, defaults={"team": team})
    return found


def dataset(ns: Namespace, name: str, **facets: Any) -> LineageDataset:
    found, _ = LineageDataset.objects.get_or_create(namespace=ns, name=name, defaults={"facets": facets})
    return found


def job(ns: Namespace, name: str) -> LineageJob:
    found, _ = LineageJob.objects.get_or_create(namespace=ns, name=name)
    return found


def run(
    of: LineageJob,
    *,
    inputs: Iterable[LineageDataset | tuple[LineageDataset, str]] = (),
    outputs: Iterable[LineageDataset | tuple[LineageDataset, str]] = (),
    state: str = RunState.COMPLETE,
    minutes: int = 0,
) -> LineageRun:
    at = T0 + timedelta(minutes=minutes)
    created = LineageRun.objects.create(
        run_id=uuid.uuid4(), job=of, state=state, state_at=at, started_at=at, ended_at=at + timedelta(minutes=1)
    )
    for direction, nodes in ((Direction.INPUT, inputs), (Direction.OUTPUT, outputs)):
        for node in nodes:
            target, version = node if isinstance(node, tuple) else (node, "")
            RunEdge.objects.create(run=created, dataset=target, direction=direction, version=version)
    return created


def column(run_: LineageRun | None, source: tuple[LineageDataset, str], target: tuple[LineageDataset, str]) -> None:
    ColumnEdge.objects.create(
        run=run_,
        input_dataset=source[0],
        input_field=source[1],
        output_dataset=target[0],
        output_field=target[1],
        transformations=[{"type": "DIRECT", "subtype": "IDENTITY"}],
    )


class Scene:
    """Team A's pipeline, as its events would leave it:

    raw (s3://raw, unclaimed, unregistered) -> ingest (FAILED last run) -> customers (s3://lake, registered, personal)
    customers -> materialize -> feature-sets/customer_activity/v1 (assay://team-a) -> train -> sha256:<model>
    customers -> team B's job "b-report" (team B's namespace) -> b-output
    """

    def __init__(self, cast: Any, model_version: Any = None) -> None:
        self.cast = cast
        self.registry_dataset = make_dataset(cast.team_a, cast.engineer_a)
        self.dataset_version = make_dataset_version(self.registry_dataset, cast.engineer_a)
        self.raw_ns = namespace("s3://raw")
        self.lake = namespace("s3://lake", cast.team_a)
        self.assay = namespace("assay://team-a", cast.team_a)
        self.b_ns = namespace("b-warehouse", cast.team_b)
        self.raw = dataset(self.raw_ns, "events/2026")
        self.customers = dataset(self.lake, "customers", schema={"fields": [{"name": "age", "type": "int"}]})
        self.features = dataset(self.assay, "feature-sets/customer_activity/v1")
        model_name = f"sha256:{model_version.artifact_sha256}" if model_version is not None else "sha256:" + "0" * 64
        self.model = dataset(self.assay, model_name)
        self.b_output = dataset(self.b_ns, "b-output", secret="team B's facet")
        self.ingest = job(self.lake, "ingest")
        self.materialize = job(self.assay, "features.materialize")
        self.train = job(self.assay, "models.train")
        self.b_report = job(self.b_ns, "b-report")
        run(self.ingest, inputs=[self.raw], outputs=[(self.customers, "v1")], minutes=0)
        self.failed_run = run(self.ingest, inputs=[self.raw], outputs=[self.customers], state=RunState.FAIL, minutes=5)
        self.materialize_run = run(
            self.materialize, inputs=[(self.customers, "v1")], outputs=[self.features], minutes=10
        )
        self.train_run = run(self.train, inputs=[self.features], outputs=[self.model], minutes=20)
        run(self.b_report, inputs=[self.customers], outputs=[self.b_output], minutes=30)
        column(self.materialize_run, (self.customers, "age"), (self.features, "age_bucket"))
        column(self.train_run, (self.features, "age_bucket"), (self.model, "score"))


def key(node: LineageDataset | LineageJob) -> str:
    kind = "job" if isinstance(node, LineageJob) else "dataset"
    return f"{kind}:{node.namespace.name}:{node.name}"
