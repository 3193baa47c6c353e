"""Folding stored events into the graph, in bulk: the write half of ``do_ingest_events`` (no audit of its own).

One pass per kind of row, whatever the number of events: namespaces, datasets and jobs are created with
``bulk_create(ignore_conflicts=True)`` and read back (two writers naming the same new dataset both succeed, one row
results); runs are then locked (``select_for_update`` in primary-key order, the one lock order) so that two requests
carrying events of the same run fold one after the other; transitions, edges and column edges are inserted in bulk.

Who may change what a dataset node says (its facets, its schema history): the team owning its namespace, or anyone
while the namespace is unclaimed. A run that reads another team's dataset records what it saw on its own edge,
verbatim, and leaves the node alone.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils import timezone

from core.models import Job
from lineage import links
from lineage.choices import TERMINAL_STATES, Direction, EventKind, RunState
from lineage.events import DatasetRef, ValidEvent
from lineage.models import (
    ColumnEdge,
    DatasetSchema,
    LineageDataset,
    LineageEvent,
    LineageJob,
    LineageRun,
    Namespace,
    RunEdge,
    RunTransition,
)

Key = tuple[int, str]


@dataclass(frozen=True)
class Stored:
    """A valid event and the row it was stored as."""

    event: ValidEvent
    row: LineageEvent


def named_namespaces(events: Iterable[ValidEvent]) -> set[str]:
    """Every namespace the events name: jobs', datasets', column lineage's inputs'."""
    names: set[str] = set()
    for event in events:
        names.add(event.namespace)
        for ref in _refs(event):
            names.add(ref.namespace)
            names.update(column.input_namespace for column in ref.columns)
    return names


def ensure_namespaces(names: set[str]) -> dict[str, Namespace]:
    """The namespaces named, created unclaimed where missing."""
    found = {namespace.name: namespace for namespace in Namespace.objects.filter(name__in=names)}
    missing = names - found.keys()
    if missing:
        Namespace.objects.bulk_create([Namespace(name=name) for name in missing], ignore_conflicts=True)
        found |= {namespace.name: namespace for namespace in Namespace.objects.filter(name__in=missing)}
    return found


def fold(stored: list[Stored], namespaces: dict[str, Namespace], *, assay_job: Job | None) -> None:
    """Folds stored events into the graph (see the module docstring)."""
    if not stored:
        return
    stored = sorted(stored, key=lambda item: (item.event.event_time, item.row.pk))
    datasets = _ensure_datasets(stored, namespaces)
    schemas = _fold_datasets(stored, namespaces, datasets)
    jobs = _fold_jobs(stored, namespaces)
    runs = _fold_runs(stored, jobs, namespaces, assay_job=assay_job)
    _fold_edges(stored, runs, datasets, schemas, namespaces)
    _fold_columns(stored, runs, datasets, namespaces)
    # Link what the events named to the registry (lineage.links), whatever was registered first.
    unresolved_edges = RunEdge.objects.filter(run__in=list(runs.values()), dataset_version__isnull=True).exclude(
        version=""
    )
    links.resolve_new(list(datasets.values()), list(unresolved_edges) if runs else [])


def by_pk(rows: dict[int, Any]) -> list[Any]:
    """Rows to update in primary-key order: two requests updating the same rows lock them in the same order
    (the kinds of rows are always written in the same order too: datasets, schemas, jobs, runs, edges)."""
    return [rows[pk] for pk in sorted(rows)]


def _refs(event: ValidEvent) -> list[DatasetRef]:
    refs = [*event.inputs, *event.outputs]
    if event.dataset is not None:
        refs.append(event.dataset)
    return refs


def _key(namespaces: dict[str, Namespace], namespace: str, name: str) -> Key:
    return namespaces[namespace].pk, name


def _ensure(model: type[LineageDataset | LineageJob], keys: set[Key]) -> dict[Key, Any]:
    """Rows of ``model`` (LineageDataset or LineageJob) for (namespace id, name) keys, created where missing."""
    found: dict[Key, Any] = {}
    by_namespace: dict[int, set[str]] = {}
    for namespace_id, name in keys:
        by_namespace.setdefault(namespace_id, set()).add(name)
    query = models.Q()
    for namespace_id, names in by_namespace.items():
        query |= models.Q(namespace_id=namespace_id, name__in=names)

    def read() -> None:
        for row in model._default_manager.filter(query):
            key = (row.namespace_id, row.name)
            if key in keys:
                found[key] = row

    read()
    missing = keys - found.keys()
    if missing:
        rows: list[Any] = [model(namespace_id=namespace_id, name=name) for namespace_id, name in missing]
        model._default_manager.bulk_create(rows, ignore_conflicts=True)
        read()
    return found


def _ensure_datasets(stored: list[Stored], namespaces: dict[str, Namespace]) -> dict[Key, LineageDataset]:
    keys: set[Key] = set()
    for item in stored:
        for ref in _refs(item.event):
            keys.add(_key(namespaces, ref.namespace, ref.name))
            keys.update(_key(namespaces, column.input_namespace, column.input_name) for column in ref.columns)
    return _ensure(LineageDataset, keys)


def may_describe(namespace: Namespace, team_id: int | None) -> bool:
    """Whether a writer of the team ``team_id`` may change what the namespace's nodes say (module docstring)."""
    return namespace.team_id is None or namespace.team_id == team_id


def merged_facets(current: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Facets last seen: each facet key replaced by the newer one; a facet ``{"_deleted": true}`` removes its key."""
    merged = dict(current)
    for key, facet in new.items():
        if isinstance(facet, dict) and facet.get("_deleted") is True:
            merged.pop(key, None)
        else:
            merged[key] = facet
    return merged


def _fold_datasets(
    stored: list[Stored], namespaces: dict[str, Namespace], datasets: dict[Key, LineageDataset]
) -> dict[tuple[int, str], DatasetSchema]:
    """Updates the facets of the nodes the writers may describe, records their new schemas; returns every schema
    the events name that exists (dataset id, digest) -> row, for the edges."""
    changed: dict[int, LineageDataset] = {}
    new_schemas: dict[tuple[int, str], DatasetSchema] = {}
    wanted: set[tuple[int, str]] = set()
    now = timezone.now()
    for item in stored:
        team_id = item.row.team_id
        for ref in _refs(item.event):
            namespace = namespaces[ref.namespace]
            dataset = datasets[(namespace.pk, ref.name)]
            schema_key = None
            if ref.schema_fields is not None:
                schema_key = (dataset.pk, ref.schema_digest)
                wanted.add(schema_key)
            if not may_describe(namespace, team_id):
                continue
            if ref.facets:
                facets = merged_facets(dataset.facets, ref.facets)
                if facets != dataset.facets:
                    dataset.facets = facets
                    dataset.last_seen_at = now
                    changed[dataset.pk] = dataset
            if schema_key is not None and schema_key not in new_schemas:
                new_schemas[schema_key] = DatasetSchema(
                    dataset=dataset,
                    digest=schema_key[1],
                    fields=ref.schema_fields,
                    first_seen_at=item.event.event_time,
                    event=item.row,
                )
    if changed:
        LineageDataset.objects.bulk_update(by_pk(changed), ["facets", "last_seen_at"])
    if not wanted:
        return {}

    def read() -> dict[tuple[int, str], DatasetSchema]:
        rows = DatasetSchema.objects.filter(
            dataset_id__in={key[0] for key in wanted}, digest__in={key[1] for key in wanted}
        ).only("pk", "dataset_id", "digest")
        return {(row.dataset_id, row.digest): row for row in rows if (row.dataset_id, row.digest) in wanted}

    # Most schemas were seen before: read first, insert only the new ones (then read those back).
    found = read()
    missing = [schema for key, schema in new_schemas.items() if key not in found]
    if missing:
        DatasetSchema.objects.bulk_create(missing, ignore_conflicts=True)
        found = read()
    return found


def _fold_jobs(stored: list[Stored], namespaces: dict[str, Namespace]) -> dict[Key, LineageJob]:
    keys = {
        _key(namespaces, item.event.job_namespace, item.event.job_name)
        for item in stored
        if item.event.kind != EventKind.DATASET
    }
    if not keys:
        return {}
    jobs = _ensure(LineageJob, keys)
    changed: dict[int, LineageJob] = {}
    now = timezone.now()
    for item in stored:
        event = item.event
        if event.kind == EventKind.DATASET or not event.job_facets:
            continue
        job = jobs[_key(namespaces, event.job_namespace, event.job_name)]
        facets = merged_facets(job.facets, event.job_facets)
        if facets != job.facets:
            job.facets = facets
            job.last_seen_at = now
            changed[job.pk] = job
    if changed:
        LineageJob.objects.bulk_update(by_pk(changed), ["facets", "last_seen_at"])
    return jobs


# Which state a run reports wins: a terminal state over START and RUNNING, those over OTHER (metadata sent
# alongside, say after completion); at equal rank the later event.
_RANK = {RunState.OTHER: 0, RunState.START: 1, RunState.RUNNING: 1}


def rank(state: str) -> int:
    return 2 if state in TERMINAL_STATES else _RANK.get(RunState(state), 0)


def folded_state(current: tuple[str, dt.datetime] | None, state: str, at: dt.datetime) -> tuple[str, dt.datetime]:
    """The run's state once a transition to ``state`` at ``at`` is folded in, whatever order they arrive in."""
    if current is None:
        return state, at
    current_rank, new_rank = rank(current[0]), rank(state)
    if new_rank > current_rank or (new_rank == current_rank and at >= current[1]):
        return state, at
    return current


RUN_FIELDS = ["state", "state_at", "started_at", "ended_at", "facets", "parent_run_id", "assay_job_id"]
RUN_UPDATE = ["state", "state_at", "started_at", "ended_at", "facets", "parent_run_id", "assay_job"]


def _apply(run: LineageRun, event: ValidEvent, assay_job: Job | None) -> None:
    """Folds one run event into ``run`` (in memory)."""
    run.state, run.state_at = folded_state((run.state, run.state_at), event.event_type, event.event_time)
    if event.event_type == RunState.START and (run.started_at is None or event.event_time < run.started_at):
        run.started_at = event.event_time
    if run.state in TERMINAL_STATES:
        run.ended_at = run.state_at
    run.facets = merged_facets(run.facets, event.run_facets)
    run.parent_run_id = event.parent_run_id or run.parent_run_id
    if assay_job is not None:
        run.assay_job = assay_job


def _snapshot(run: LineageRun) -> tuple[Any, ...]:
    return tuple(getattr(run, name) for name in RUN_FIELDS)


def _fold_runs(
    stored: list[Stored],
    jobs: dict[Key, LineageJob],
    namespaces: dict[str, Namespace],
    *,
    assay_job: Job | None,
) -> dict[uuid.UUID, LineageRun]:
    """Runs new to the store are inserted already folded from this request's events; the others (and any a
    concurrent request inserted first) are locked, folded onto, and updated only when that changed them."""
    run_events = [item for item in stored if item.event.kind == EventKind.RUN]
    if not run_events:
        return {}
    by_run: dict[uuid.UUID, list[Stored]] = {}
    for item in run_events:
        by_run.setdefault(item.event.run_id, []).append(item)  # type: ignore[arg-type]
    # The race: two requests folding events of one run. Locked in primary-key order (the one lock order), each
    # folds onto what the other committed.
    runs = {run.run_id: run for run in LineageRun.objects.select_for_update().filter(run_id__in=by_run).order_by("pk")}
    missing = [run_id for run_id in by_run if run_id not in runs]
    if missing:
        fresh = []
        for run_id in missing:
            first = by_run[run_id][0].event
            run = LineageRun(
                run_id=run_id,
                job=jobs[_key(namespaces, first.job_namespace, first.job_name)],
                state=first.event_type,
                state_at=first.event_time,
                assay_job=assay_job,
            )
            for item in by_run[run_id]:
                _apply(run, item.event, assay_job)
            fresh.append(run)
        LineageRun.objects.bulk_create(fresh, ignore_conflicts=True)
        runs |= {
            run.run_id: run for run in LineageRun.objects.select_for_update().filter(run_id__in=missing).order_by("pk")
        }
    changed, transitions = [], []
    for run_id, items in by_run.items():
        run = runs[run_id]
        before = _snapshot(run)
        for item in items:
            event = item.event
            if run.job_id != jobs[_key(namespaces, event.job_namespace, event.job_name)].pk:
                continue  # a concurrent request created the run under another job; the check before missed it
            _apply(run, event, assay_job)
            transitions.append(
                RunTransition(run=run, state=event.event_type, event_time=event.event_time, event=item.row)
            )
        if _snapshot(run) != before:
            changed.append(run)
    if changed:
        LineageRun.objects.bulk_update(changed, RUN_UPDATE)
    RunTransition.objects.bulk_create(transitions, ignore_conflicts=True)
    return runs


def _fold_edges(
    stored: list[Stored],
    runs: dict[uuid.UUID, LineageRun],
    datasets: dict[Key, LineageDataset],
    schemas: dict[tuple[int, str], DatasetSchema],
    namespaces: dict[str, Namespace],
) -> None:
    if not runs:
        return
    existing = {
        (edge.run_id, edge.dataset_id, edge.direction): edge
        for edge in RunEdge.objects.filter(run__in=list(runs.values()))
    }
    new: dict[tuple[int, int, str], RunEdge] = {}
    changed: dict[int, RunEdge] = {}
    for item in stored:
        event = item.event
        if event.kind != EventKind.RUN:
            continue
        run = runs[event.run_id]  # type: ignore[index]
        for direction, refs, io_key in (
            (Direction.INPUT, event.inputs, "inputFacets"),
            (Direction.OUTPUT, event.outputs, "outputFacets"),
        ):
            for ref in refs:
                dataset = datasets[_key(namespaces, ref.namespace, ref.name)]
                facets = {**ref.facets, io_key: ref.io_facets} if ref.io_facets else dict(ref.facets)
                schema = None
                if ref.schema_fields is not None:
                    schema = schemas.get((dataset.pk, ref.schema_digest))
                key = (run.pk, dataset.pk, str(direction))
                edge = existing.get(key) or new.get(key)
                if edge is None:
                    new[key] = RunEdge(
                        run=run, dataset=dataset, direction=direction, facets=facets, version=ref.version, schema=schema
                    )
                    continue
                merged = merged_facets(edge.facets, facets)
                if merged != edge.facets or (ref.version and ref.version != edge.version) or schema is not None:
                    edge.facets = merged
                    edge.version = ref.version or edge.version
                    edge.schema = schema or edge.schema
                    if edge.pk is not None:
                        changed[edge.pk] = edge
    if new:
        RunEdge.objects.bulk_create(list(new.values()), ignore_conflicts=True)
    if changed:
        RunEdge.objects.bulk_update(by_pk(changed), ["facets", "version", "schema"])


def _fold_columns(
    stored: list[Stored],
    runs: dict[uuid.UUID, LineageRun],
    datasets: dict[Key, LineageDataset],
    namespaces: dict[str, Namespace],
) -> None:
    edges: dict[tuple[Any, ...], ColumnEdge] = {}
    for item in stored:
        event = item.event
        run = runs.get(event.run_id) if event.run_id is not None else None
        targets = [event.dataset] if event.dataset is not None else event.outputs
        for ref in targets:
            output = datasets[_key(namespaces, ref.namespace, ref.name)]
            for column in ref.columns:
                source = datasets[_key(namespaces, column.input_namespace, column.input_name)]
                key = (run.pk if run else None, output.pk, column.output_field, source.pk, column.input_field)
                edges.setdefault(
                    key,
                    ColumnEdge(
                        run=run,
                        output_dataset=output,
                        output_field=column.output_field,
                        input_dataset=source,
                        input_field=column.input_field,
                        transformations=column.transformations,
                    ),
                )
    if edges:
        ColumnEdge.objects.bulk_create(list(edges.values()), ignore_conflicts=True)
