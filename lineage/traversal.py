"""Walks over the lineage graph: the graph around a dataset or a job (upstream, downstream or both, to a depth), at
dataset level and at column level, and a model version's upstream closure back to its raw sources.

Every walk is a recursive common table expression (``WITH RECURSIVE``, the same SQL on PostgreSQL and SQLite), so
the number of queries is fixed whatever the size of the graph (a handful per call: the walk, then the rows it
reached, loaded with their joins). Cycles (a job reading its own output, two jobs feeding each other) terminate:
each step adds one to a depth that is bounded, and ``UNION`` (not ``UNION ALL``) drops a (node, depth) already seen.

Which runs count (docs/lineage.md, "Traversals"):

- **The graph around a node** is run-precise and job-shaped, as Marquez draws it: upstream of a dataset are the
  jobs of *every* run that output it, and the inputs of *those runs* (not of every run of the job); downstream, the
  jobs of every run that read it and those runs' outputs. Nodes are datasets and jobs; depth counts jobs: depth 1
  upstream of a dataset is the jobs that wrote it and what they read.
- **A model version's upstream closure** follows one run per input: the run that produced the version a run read.
  The model version's node (lineage.naming: ``sha256:<digest>`` in its team's Assay namespace, or the node linked to
  it) is produced by its latest COMPLETE run (else its latest run, whatever its state, so that a failed training
  run is seen and named). For each input of a run in the closure, the producer is, among the *other* runs that
  output that dataset: one whose output edge names the same version (the same registry dataset version, or the same
  ``datasetVersion``) first; else one with no version on either side; a run that wrote a *different* version is
  never the producer. Among those, COMPLETE first, then the latest (``state_at``). An input nobody produced is a
  raw source. The walk stops at ``depth`` runs; a closure that would go deeper is marked ``truncated``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from django.db import connection
from django.db.models import Q

from lineage.choices import Direction, RunState
from lineage.models import ColumnEdge, LineageDataset, LineageJob, LineageRun, RunEdge
from lineage.models.graph import MAX_NAME
from lineage.naming import model_version_name

if TYPE_CHECKING:
    from registry.models import ModelVersion

Way = Literal["upstream", "downstream", "both"]
WAYS: tuple[str, ...] = ("upstream", "downstream", "both")

DEFAULT_DEPTH = 3
MAX_DEPTH = 20
# How far a model version's closure is followed back: deeper closures are reported truncated (and fail the gate).
CLOSURE_DEPTH = 25

# SQL_NOTE: the SQL below is assembled from these table names, fixed fragments and "%s" placeholders only: every
# value (ids, depths, directions, field names) is a bound parameter, so ruff's S608 is silenced where it fires.
_EDGE = RunEdge._meta.db_table
_RUN = LineageRun._meta.db_table
_DATASET = LineageDataset._meta.db_table
_COLUMN = ColumnEdge._meta.db_table


def clamp_depth(depth: int, *, limit: int = MAX_DEPTH) -> int:
    """``depth`` within 0..``limit`` (callers validate user input; this keeps a bad call from walking forever)."""
    return max(0, min(int(depth), limit))


# --- The graph around a node ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A dataset or a job of the graph. ``key`` is Marquez's node id: ``dataset:<namespace>:<name>``."""

    kind: Literal["dataset", "job"]
    id: int
    namespace: str
    name: str
    depth: int
    team_id: int | None
    obj: LineageDataset | LineageJob = field(compare=False, repr=False)

    @property
    def key(self) -> str:
        return node_key(self.kind, self.namespace, self.name)


@dataclass(frozen=True)
class Edge:
    """``origin`` feeds ``destination`` (node keys): a dataset read by a job, or a job that wrote a dataset."""

    origin: str
    destination: str


@dataclass
class Graph:
    """The nodes reached from ``root`` (its key) and the edges between them, both sorted for a stable output."""

    root: str
    way: str
    depth: int
    nodes: list[Node]
    edges: list[Edge]

    def node(self, key: str) -> Node | None:
        return next((node for node in self.nodes if node.key == key), None)

    def in_edges(self, key: str) -> list[Edge]:
        return [edge for edge in self.edges if edge.destination == key]

    def out_edges(self, key: str) -> list[Edge]:
        return [edge for edge in self.edges if edge.origin == key]


def node_key(kind: str, namespace: str, name: str) -> str:
    return f"{kind}:{namespace}:{name}"


def _in_list(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _walk(start: list[int], *, upstream: bool, depth: int) -> list[tuple[int, int, int | None, int]]:
    """One query: from the datasets ``start`` (at depth 0), the (job, dataset walked from, dataset reached or None,
    depth of the first) triples of every run met, ``depth`` jobs away at most."""
    if not start or depth <= 0:
        return []
    # upstream: from a dataset to the runs that output it, then to their inputs; downstream the other way.
    near, far = (Direction.OUTPUT, Direction.INPUT) if upstream else (Direction.INPUT, Direction.OUTPUT)
    sql = f"""
        WITH RECURSIVE walk(dataset_id, depth) AS (
            SELECT id, 0 FROM {_DATASET} WHERE id IN ({_in_list(start)})
            UNION
            SELECT far.dataset_id, walk.depth + 1
            FROM walk
            JOIN {_EDGE} near ON near.dataset_id = walk.dataset_id AND near.direction = %s
            JOIN {_EDGE} far ON far.run_id = near.run_id AND far.direction = %s
            WHERE walk.depth < %s
        ),
        reached(dataset_id, depth) AS (SELECT dataset_id, MIN(depth) FROM walk GROUP BY dataset_id)
        SELECT DISTINCT run.job_id, reached.dataset_id, far.dataset_id, reached.depth
        FROM reached
        JOIN {_EDGE} near ON near.dataset_id = reached.dataset_id AND near.direction = %s
        JOIN {_RUN} run ON run.id = near.run_id
        LEFT JOIN {_EDGE} far ON far.run_id = near.run_id AND far.direction = %s
        WHERE reached.depth < %s
    """  # noqa: S608 (SQL_NOTE)
    params: list[Any] = [*start, str(near), str(far), depth, str(near), str(far), depth]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(row[0], row[1], row[2], row[3]) for row in cursor.fetchall()]


def _job_edges(job: LineageJob, way: str) -> list[tuple[int, str]]:
    """(dataset, direction) of every edge of every run of ``job``, in the directions ``way`` asks for."""
    directions = {"upstream": [Direction.INPUT], "downstream": [Direction.OUTPUT]}.get(
        way, [Direction.INPUT, Direction.OUTPUT]
    )
    rows = (
        RunEdge.objects.filter(run__job=job, direction__in=directions).values_list("dataset_id", "direction").distinct()
    )
    return [(dataset_id, direction) for dataset_id, direction in rows]


def lineage_graph(root: LineageDataset | LineageJob, *, way: str = "both", depth: int = DEFAULT_DEPTH) -> Graph:
    """The datasets and jobs around ``root`` up to ``depth`` jobs away, upstream, downstream or both.

    Queries: at most two walks, one for the root job's own edges, one each for the datasets and jobs reached: a
    fixed number whatever the graph's size.
    """
    if way not in WAYS:
        raise ValueError(f"way must be one of {', '.join(WAYS)}, not {way!r}")
    depth = clamp_depth(depth)
    dataset_depth: dict[int, int] = {}
    job_depth: dict[int, int] = {}
    # (kind, id) pairs, origin -> destination
    links: set[tuple[tuple[str, int], tuple[str, int]]] = set()

    def see(table: dict[int, int], key: int, at: int) -> None:
        if key not in table or at < table[key]:
            table[key] = at

    ways = ["upstream", "downstream"] if way == "both" else [way]
    if isinstance(root, LineageJob):
        job_depth[root.pk] = 0
        starts: dict[str, list[int]] = {"upstream": [], "downstream": []}
        if depth > 0:
            for dataset_id, direction in _job_edges(root, way):
                see(dataset_depth, dataset_id, 1)
                if direction == Direction.INPUT:
                    links.add((("dataset", dataset_id), ("job", root.pk)))
                    starts["upstream"].append(dataset_id)
                else:
                    links.add((("job", root.pk), ("dataset", dataset_id)))
                    starts["downstream"].append(dataset_id)
        offset = 1
    else:
        dataset_depth[root.pk] = 0
        starts = {"upstream": [root.pk], "downstream": [root.pk]}
        offset = 0
    for direction in ways:
        upstream = direction == "upstream"
        walked_rows = _walk(sorted(set(starts[direction])), upstream=upstream, depth=depth - offset)
        for job_id, walked, reached, at in walked_rows:
            see(job_depth, job_id, at + offset + 1)
            see(dataset_depth, walked, at + offset)
            near = (("job", job_id), ("dataset", walked)) if upstream else (("dataset", walked), ("job", job_id))
            links.add(near)
            if reached is not None:
                see(dataset_depth, reached, at + offset + 1)
                far = (("dataset", reached), ("job", job_id)) if upstream else (("job", job_id), ("dataset", reached))
                links.add(far)
    datasets = LineageDataset.objects.select_related("namespace").in_bulk(list(dataset_depth))
    jobs = LineageJob.objects.select_related("namespace").in_bulk(list(job_depth))
    nodes: dict[tuple[str, int], Node] = {}
    for pk, dataset in datasets.items():
        nodes[("dataset", pk)] = Node(
            "dataset", pk, dataset.namespace.name, dataset.name, dataset_depth[pk], dataset.namespace.team_id, dataset
        )
    for pk, job in jobs.items():
        nodes[("job", pk)] = Node("job", pk, job.namespace.name, job.name, job_depth[pk], job.namespace.team_id, job)
    present = [(origin, destination) for origin, destination in links if origin in nodes and destination in nodes]
    edges = sorted(
        {Edge(nodes[origin].key, nodes[destination].key) for origin, destination in present},
        key=lambda edge: (edge.origin, edge.destination),
    )
    root_key = nodes[("job" if isinstance(root, LineageJob) else "dataset", root.pk)].key
    return Graph(
        root=root_key,
        way=way,
        depth=depth,
        nodes=sorted(nodes.values(), key=lambda node: (node.depth, node.kind, node.namespace, node.name)),
        edges=edges,
    )


# --- Column level --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnNode:
    """A field of a dataset. ``key``: ``datasetField:<namespace>:<name>:<field>`` (Marquez's column-lineage id)."""

    dataset_id: int
    namespace: str
    name: str
    field: str
    depth: int
    team_id: int | None

    @property
    def key(self) -> str:
        return f"datasetField:{self.namespace}:{self.name}:{self.field}"


@dataclass(frozen=True)
class ColumnLink:
    """``origin`` (a column node key) is derived into ``destination``, with the facet's transformations."""

    origin: str
    destination: str
    transformations: tuple[str, ...] = ()


@dataclass
class ColumnGraph:
    root: LineageDataset
    field: str | None
    way: str
    depth: int
    nodes: list[ColumnNode]
    edges: list[ColumnLink]


def _column_walk(
    dataset_id: int, field_name: str | None, *, upstream: bool, depth: int
) -> list[tuple[int, str, int, str, Any, int]]:
    """One query: the column edges met walking from the fields of ``dataset_id`` (one field, or all that have
    lineage), as (input dataset, input field, output dataset, output field, transformations, depth)."""
    if depth <= 0:
        return []
    near, far = ("output", "input") if upstream else ("input", "output")
    if field_name is None:
        start = f"SELECT DISTINCT {near}_dataset_id, {near}_field, 0 FROM {_COLUMN} WHERE {near}_dataset_id = %s"  # noqa: S608
        start_params: list[Any] = [dataset_id]
    else:
        # Typed like the columns the recursive step yields (PostgreSQL insists).
        start = f"SELECT id, CAST(%s AS VARCHAR({MAX_NAME})), 0 FROM {_DATASET} WHERE id = %s"  # noqa: S608
        start_params = [field_name, dataset_id]
    sql = f"""
        WITH RECURSIVE walk(dataset_id, field, depth) AS (
            {start}
            UNION
            SELECT c.{far}_dataset_id, c.{far}_field, walk.depth + 1
            FROM walk JOIN {_COLUMN} c ON c.{near}_dataset_id = walk.dataset_id AND c.{near}_field = walk.field
            WHERE walk.depth < %s
        ),
        reached(dataset_id, field, depth) AS (SELECT dataset_id, field, MIN(depth) FROM walk GROUP BY dataset_id, field)
        SELECT c.input_dataset_id, c.input_field, c.output_dataset_id, c.output_field, c.transformations,
               reached.depth
        FROM reached JOIN {_COLUMN} c ON c.{near}_dataset_id = reached.dataset_id AND c.{near}_field = reached.field
        WHERE reached.depth < %s
    """  # noqa: S608 (SQL_NOTE)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*start_params, depth, depth])
        return [(row[0], row[1], row[2], row[3], row[4], row[5]) for row in cursor.fetchall()]


def _transformation_names(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):  # a raw cursor gives JSON back as text on some backends
        try:
            raw = json.loads(raw)
        except ValueError:
            return ()
    names: list[str] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict):
            names.append(":".join(str(item.get(part)) for part in ("type", "subtype") if item.get(part)))
        elif isinstance(item, str):
            names.append(item)
    return tuple(name for name in names if name)


def column_graph(
    root: LineageDataset, *, field_name: str | None = None, way: str = "upstream", depth: int = DEFAULT_DEPTH
) -> ColumnGraph:
    """The fields that ``root``'s fields (or its field ``field_name``) derive from (upstream), feed (downstream) or
    both, to ``depth`` derivations. Column edges from every run (and from dataset events) count, deduplicated."""
    if way not in WAYS:
        raise ValueError(f"way must be one of {', '.join(WAYS)}, not {way!r}")
    depth = clamp_depth(depth)
    rows: list[tuple[int, str, int, str, Any, int]] = []
    for direction in ["upstream", "downstream"] if way == "both" else [way]:
        rows += _column_walk(root.pk, field_name, upstream=direction == "upstream", depth=depth)
    upstream_rows = {(row[0], row[1], row[2], row[3]) for row in rows if way != "downstream"}
    depths: dict[tuple[int, str], int] = {}
    if field_name is not None:
        depths[(root.pk, field_name)] = 0
    for input_id, input_field, output_id, output_field, _, at in rows:
        upstream = (input_id, input_field, output_id, output_field) in upstream_rows and (
            way != "both" or depths.get((output_id, output_field), at) <= at or output_id == root.pk
        )
        walked, reached = (
            ((output_id, output_field), (input_id, input_field))
            if upstream
            else ((input_id, input_field), (output_id, output_field))
        )
        depths[walked] = min(depths.get(walked, at), at)
        depths[reached] = min(depths.get(reached, at + 1), at + 1)
    datasets = LineageDataset.objects.select_related("namespace").in_bulk({key[0] for key in depths} | {root.pk})
    nodes = {
        key: ColumnNode(
            key[0],
            datasets[key[0]].namespace.name,
            datasets[key[0]].name,
            key[1],
            at,
            datasets[key[0]].namespace.team_id,
        )
        for key, at in depths.items()
        if key[0] in datasets
    }
    links: dict[tuple[str, str], ColumnLink] = {}
    for input_id, input_field, output_id, output_field, transformations, _ in rows:
        origin, destination = nodes.get((input_id, input_field)), nodes.get((output_id, output_field))
        if origin is None or destination is None:
            continue
        link = ColumnLink(origin.key, destination.key, _transformation_names(transformations))
        links.setdefault((link.origin, link.destination), link)
    return ColumnGraph(
        root=root,
        field=field_name,
        way=way,
        depth=depth,
        nodes=sorted(nodes.values(), key=lambda node: (node.depth, node.namespace, node.name, node.field)),
        edges=sorted(links.values(), key=lambda link: (link.origin, link.destination)),
    )


# --- A model version's upstream closure ----------------------------------------------------------------------------


def model_version_nodes(model_version: ModelVersion) -> list[LineageDataset]:
    """The lineage node(s) of ``model_version``: the one linked to it, and the one its name designates
    (lineage.naming: ``sha256:<digest>`` in its team's Assay namespace), usually the same node. One query."""
    named = model_version_name(model_version)
    return list(
        LineageDataset.objects.select_related("namespace")
        .filter(Q(model_version=model_version) | Q(namespace__name=named.namespace, name=named.name))
        .order_by("pk")
    )


def _producer(dataset: str, *, consumer: str | None = None, edge: str | None = None) -> str:
    """SQL for the id of the run that produced ``dataset`` (an SQL expression): see the module docstring. With
    ``edge`` (the alias of the input edge being followed), versions must agree and ``consumer`` is excluded: a run
    naming the same version first, else one where either side names none (two subqueries, because SQLite does not
    let an ORDER BY reach the outer query's columns)."""

    def latest(condition: str) -> str:
        return f"""(
            SELECT o.run_id FROM {_EDGE} o JOIN {_RUN} r ON r.id = o.run_id
            WHERE o.dataset_id = {dataset} AND o.direction = 'output'{condition}
            ORDER BY CASE WHEN r.state = '{RunState.COMPLETE}' THEN 0 ELSE 1 END, r.state_at DESC, r.id DESC
            LIMIT 1
        )"""  # noqa: S608 (SQL_NOTE)

    if edge is None:
        return latest("")
    others = f" AND o.run_id <> {consumer}"
    same = (
        f" AND ((o.dataset_version_id IS NOT NULL AND o.dataset_version_id = {edge}.dataset_version_id)"
        f" OR ({edge}.version <> '' AND o.version = {edge}.version))"
    )
    loose = f" AND (o.version = '' OR {edge}.version = '')"
    return f"COALESCE({latest(same + others)}, {latest(loose + others)})"


def closure_runs(node_ids: Sequence[int], *, depth: int) -> tuple[dict[int, int], bool]:
    """One query: {run id: depth} of the runs of the closure of the lineage datasets ``node_ids`` (their producing
    run at depth 0, its inputs' producers at 1...), and whether it goes deeper than ``depth``."""
    if not node_ids:
        return {}, False
    sql = f"""
        WITH RECURSIVE closure(run_id, depth) AS (
            SELECT {_producer("n.id")}, 0 FROM {_DATASET} n WHERE n.id IN ({_in_list(node_ids)})
            UNION
            SELECT {_producer("i.dataset_id", consumer="closure.run_id", edge="i")}, closure.depth + 1
            FROM closure JOIN {_EDGE} i ON i.run_id = closure.run_id AND i.direction = 'input'
            WHERE closure.depth < %s
        )
        SELECT run_id, MIN(depth) FROM closure WHERE run_id IS NOT NULL GROUP BY run_id
    """  # noqa: S608 (SQL_NOTE)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*node_ids, depth + 1])
        found = {row[0]: row[1] for row in cursor.fetchall()}
    truncated = any(at > depth for at in found.values())
    return {run: at for run, at in found.items() if at <= depth}, truncated


@dataclass(frozen=True)
class ClosureRun:
    """A run of the closure, ``depth`` runs away from the model version, with its input and output edges (each
    with its dataset, namespace and registry links loaded)."""

    run: LineageRun
    depth: int
    inputs: tuple[RunEdge, ...]
    outputs: tuple[RunEdge, ...]
    # (input dataset id, field) of every column the run's column lineage says it derived an output from
    columns_read: frozenset[tuple[int, str]] = frozenset()

    def fields_read(self, dataset_id: int) -> set[str] | None:
        """The fields of ``dataset_id`` this run's column lineage derives outputs from; None when it reports no
        column lineage from that dataset (what it used is then unknown)."""
        fields = {field_name for dataset, field_name in self.columns_read if dataset == dataset_id}
        return fields or None


@dataclass(frozen=True)
class Closure:
    """A model version's upstream closure. ``nodes`` are its lineage nodes (none: it has no lineage);
    ``producing_run`` the run that produced it (None: no run did); ``runs`` every run of the closure, nearest
    first; ``truncated`` when the closure goes deeper than ``depth``."""

    nodes: tuple[LineageDataset, ...]
    producing_run: ClosureRun | None
    runs: tuple[ClosureRun, ...]
    depth: int
    truncated: bool

    def input_edges(self) -> list[RunEdge]:
        return [edge for run in self.runs for edge in run.inputs]

    def raw_inputs(self) -> list[RunEdge]:
        """The input edges whose dataset no run of the closure produced: the closure's raw sources."""
        produced = {edge.dataset_id for run in self.runs for edge in run.outputs}
        return [edge for edge in self.input_edges() if edge.dataset_id not in produced]

    def document(self) -> dict[str, Any]:
        """The closure as data (what a release manifest carries): its runs with their job and state, and their
        edges with each dataset's namespace, name, version and registry link. Names, never database ids of lineage
        rows, so that the same graph always reads the same."""
        return {
            "nodes": [node_key("dataset", node.namespace.name, node.name) for node in self.nodes],
            "runs": [
                {
                    "run_id": str(item.run.run_id),
                    "job": node_key("job", item.run.job.namespace.name, item.run.job.name),
                    "state": item.run.state,
                    "depth": item.depth,
                }
                for item in self.runs
            ],
            "edges": sorted(
                (_edge_document(edge, item.run) for item in self.runs for edge in (*item.inputs, *item.outputs)),
                key=lambda row: (row["run_id"], row["direction"], row["dataset"]),
            ),
            "truncated": self.truncated,
        }


def _edge_document(edge: RunEdge, run: LineageRun) -> dict[str, Any]:
    dataset = edge.dataset
    return {
        "run_id": str(run.run_id),
        "direction": edge.direction,
        "dataset": node_key("dataset", dataset.namespace.name, dataset.name),
        "version": edge.version,
        "registry": link_label(dataset, edge),
    }


def link_label(dataset: LineageDataset, edge: RunEdge | None = None) -> str | None:
    """What a node resolves to, as a stable label: ``dataset-version:<id>``, ``dataset:<id>`` (the dataset is
    registered but not the version the edge names), ``feature-set-version:<id>``, ``model-version:<id>``; None when
    unregistered."""
    if edge is not None and edge.dataset_version_id is not None:
        return f"dataset-version:{edge.dataset_version_id}"
    if dataset.registry_dataset_id is not None:
        return f"dataset:{dataset.registry_dataset_id}"
    if dataset.feature_set_version_id is not None:
        return f"feature-set-version:{dataset.feature_set_version_id}"
    if dataset.model_version_id is not None:
        return f"model-version:{dataset.model_version_id}"
    return None


# Large JSON columns a closure's readers (the manifest, the gate, the read API) do not need: not loaded (reading one
# later costs a query per row).
CLOSURE_DEFERRED = (
    "facets",
    "run__facets",
    "dataset__facets",
    "dataset__feature_set_version__features",
    "dataset__feature_set_version__statistics",
    "dataset__model_version__interface",
    "dataset__model_version__metrics",
    "dataset__model_version__training_params",
    "dataset_version__evolution",
)

CLOSURE_EDGE_JOINS = (
    "dataset__namespace",
    "dataset__registry_dataset",
    "dataset__feature_set_version__feature_view",
    "dataset__model_version__model",
    "dataset_version__dataset",
)


def closure_of_nodes(nodes: Iterable[LineageDataset], *, depth: int = CLOSURE_DEPTH) -> Closure:
    """The upstream closure of the lineage datasets ``nodes`` (see ``upstream_closure``). Three queries: the walk,
    the runs' edges (with runs, jobs, datasets, namespaces and registry links joined; ``CLOSURE_DEFERRED`` left out),
    their column edges."""
    nodes = tuple(nodes)
    depth = clamp_depth(depth, limit=CLOSURE_DEPTH * 4)
    run_depths, truncated = closure_runs([node.pk for node in nodes], depth=depth)
    runs: dict[int, LineageRun] = {}
    inputs: dict[int, list[RunEdge]] = defaultdict(list)
    outputs: dict[int, list[RunEdge]] = defaultdict(list)
    columns: dict[int, set[tuple[int, str]]] = defaultdict(set)
    if run_depths:
        edges = (
            RunEdge.objects.filter(run_id__in=list(run_depths))
            .select_related("run__job__namespace", *CLOSURE_EDGE_JOINS)
            .defer(*CLOSURE_DEFERRED)
            .order_by("run_id", "direction", "dataset__namespace__name", "dataset__name")
        )
        for edge in edges:
            edge.run = runs.setdefault(edge.run_id, edge.run)  # one object per run
            (inputs if edge.direction == Direction.INPUT else outputs)[edge.run_id].append(edge)
        for run_id, dataset_id, field_name in ColumnEdge.objects.filter(run_id__in=list(run_depths)).values_list(
            "run_id", "input_dataset_id", "input_field"
        ):
            columns[run_id].add((dataset_id, field_name))
    items = sorted(
        (
            ClosureRun(run, run_depths[pk], tuple(inputs[pk]), tuple(outputs[pk]), frozenset(columns[pk]))
            for pk, run in runs.items()
        ),
        key=lambda item: (item.depth, str(item.run.run_id)),
    )
    producing = next((item for item in items if item.depth == 0), None)
    return Closure(nodes=nodes, producing_run=producing, runs=tuple(items), depth=depth, truncated=truncated)


def upstream_closure(model_version: ModelVersion, *, depth: int = CLOSURE_DEPTH) -> Closure:
    """``model_version``'s upstream closure back to raw sources: the run that produced its node, that run's inputs,
    the runs that produced those, and so on (which run counts: the module docstring). Four queries, whatever the
    size of the graph."""
    return closure_of_nodes(model_version_nodes(model_version), depth=depth)
