"""A small lineage graph written straight into the models, as the ingestion fold would leave it: the read side's
tests (links, read API, pages) build on it without going through ingestion."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from lineage.choices import Direction, RunState
from lineage.models import ColumnEdge, LineageDataset, LineageJob, LineageRun, Namespace, RunEdge

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
