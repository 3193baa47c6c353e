"""The lineage graph as the read API and the pages show it: Marquez's shape (``{"graph": [{"id", "type", "data",
"inEdges", "outEdges"}]}``), each node said to be registered or not (with links to its registry object), failed,
or holding personal data; nodes the reader may not see are opaque (lineage.querysets has who sees what).

``describe`` takes the nodes and edges a traversal reached (lineage.traversal: anything with ``kind``, ``id``,
``key`` and ``depth``; edges with ``origin`` and ``destination``) and loads what it shows in a fixed number of
queries, whatever the number of nodes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from django.db.models import OuterRef, Subquery
from django.urls import reverse

from lineage import links
from lineage.choices import RunState
from lineage.models import LineageDataset, LineageJob, LineageRun
from lineage.querysets import unclaimed_unregistered, visible_datasets, visible_jobs
from lineage.traversal import node_key as traversal_key
from registry.choices import LegalBasis
from registry.models import Dataset, DatasetVersion, FeatureSetVersion, ModelVersion

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

FAILED_STATES = frozenset({RunState.FAIL, RunState.ABORT})
PERSONAL_FLAGS = ("personal_data", "special_category")
NOT_VISIBLE = "not visible to you"

# Marquez's node types.
DATASET = "DATASET"
JOB = "JOB"
DATASET_FIELD = "DATASET_FIELD"

LINK_JOINS = (
    "namespace",
    "registry_dataset__team",
    "feature_set_version__feature_view__team",
    "model_version__model__team",
)


class GraphNode(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def id(self) -> int: ...
    @property
    def key(self) -> str: ...
    @property
    def depth(self) -> int: ...


class GraphEdge(Protocol):
    @property
    def origin(self) -> str: ...
    @property
    def destination(self) -> str: ...


@dataclass(frozen=True)
class SimpleNode:
    """A node given by hand (the closure, the tests): what ``describe`` needs of a traversal's node."""

    kind: str
    id: int
    key: str
    depth: int = 0


@dataclass(frozen=True)
class SimpleEdge:
    origin: str
    destination: str


def schema_has_personal_data(schema: Any) -> bool:
    """Whether a registry schema (registry.schema's JSON) flags any column as personal or special-category data."""
    columns = schema.get("columns", []) if isinstance(schema, dict) else []
    return any(isinstance(column, dict) and any(column.get(flag) for flag in PERSONAL_FLAGS) for column in columns)


def personal_datasets(dataset_ids: Iterable[int]) -> set[int]:
    """Registry datasets holding personal data: a legal basis other than "not applicable", or a personal column in
    the latest version's schema. Two queries."""
    ids = set(dataset_ids)
    if not ids:
        return set()
    found = set(
        Dataset.objects.filter(pk__in=ids).exclude(legal_basis=LegalBasis.NOT_APPLICABLE).values_list("pk", flat=True)
    )
    latest: dict[int, Any] = {}
    for dataset_id, schema in (
        DatasetVersion.objects.filter(dataset_id__in=ids - found)
        .order_by("dataset_id", "-number")
        .values_list("dataset_id", "schema")
    ):
        latest.setdefault(dataset_id, schema)
    return found | {dataset_id for dataset_id, schema in latest.items() if schema_has_personal_data(schema)}


def personal_versions(
    feature_set_version_ids: Iterable[int], model_version_ids: Iterable[int]
) -> tuple[set[int], set[int]]:
    """Feature-set and model versions built on a dataset version with personal data (its schema's flags, or its
    dataset's legal basis). Two queries."""
    found_fsv: set[int] = set()
    found_mv: set[int] = set()
    for lookup, ids, found in (
        ("feature_set_versions", set(feature_set_version_ids), found_fsv),
        ("model_versions", set(model_version_ids), found_mv),
    ):
        if not ids:
            continue
        rows = DatasetVersion.objects.filter(**{f"{lookup}__in": ids}).values_list(
            lookup, "schema", "dataset__legal_basis"
        )
        for owner, schema, legal_basis in rows:
            if legal_basis != LegalBasis.NOT_APPLICABLE or schema_has_personal_data(schema):
                found.add(owner)
    return found_fsv, found_mv


def registry_reference(link: links.Link) -> dict[str, Any] | None:
    """The registry object a node resolves to: its type, id, label, API and web URLs."""
    if link.registry_dataset is not None:
        dataset = link.registry_dataset
        return {
            "type": "dataset",
            "id": dataset.pk,
            "label": dataset.name,
            "url": reverse("dataset-detail", args=[dataset.pk]),
            "webUrl": reverse("registry-dataset-detail", args=[dataset.pk]),
        }
    if link.feature_set_version is not None:
        version = link.feature_set_version
        args = [version.feature_view_id, version.number]
        return {
            "type": "featureSetVersion",
            "id": version.pk,
            "label": f"{version.feature_view.name} v{version.number}",
            "url": reverse("feature-set-version-detail", args=args),
            "webUrl": reverse("registry-feature-set-version", args=args),
        }
    if link.model_version is not None:
        model_version = link.model_version
        args = [model_version.model_id, model_version.number]
        return {
            "type": "modelVersion",
            "id": model_version.pk,
            "label": f"{model_version.model.name} v{model_version.number}",
            "url": reverse("model-version-detail", args=args),
            "webUrl": reverse("registry-model-version", args=args),
        }
    return None


@dataclass
class Facts:
    """What the graph's nodes need loaded: the rows, who sees them, their links and flags."""

    datasets: dict[int, LineageDataset] = field(default_factory=dict)
    jobs: dict[int, LineageJob] = field(default_factory=dict)
    visible_datasets: set[int] = field(default_factory=set)
    named_datasets: set[int] = field(default_factory=set)
    visible_jobs: set[int] = field(default_factory=set)
    links: dict[int, links.Link] = field(default_factory=dict)
    personal: set[int] = field(default_factory=set)
    latest_runs: dict[int, LineageRun] = field(default_factory=dict)


def load_facts(dataset_ids: Iterable[int], job_ids: Iterable[int], user: User | AnonymousUser) -> Facts:
    """Everything ``describe`` shows of these nodes, for ``user``. A fixed number of queries."""
    facts = Facts()
    dataset_ids, job_ids = set(dataset_ids), set(job_ids)
    if dataset_ids:
        rows = LineageDataset.objects.filter(pk__in=dataset_ids)
        facts.datasets = rows.select_related(*LINK_JOINS).in_bulk()
        facts.visible_datasets = set(rows.filter(visible_datasets(user)).values_list("pk", flat=True))
        facts.named_datasets = set(rows.filter(unclaimed_unregistered()).values_list("pk", flat=True))
        shown = [facts.datasets[pk] for pk in facts.visible_datasets | facts.named_datasets if pk in facts.datasets]
        facts.links = links.lookup(shown)
        # A node linked at read time only (links.lookup) is shown as registered if its object is the reader's.
        facts.named_datasets -= set(facts.links)
        pending = {pk: link.target for pk, link in facts.links.items() if pk not in facts.visible_datasets}
        readable = visible_objects([target for target in pending.values() if target is not None], user)
        for pk, target in pending.items():
            if target is not None and (type(target), target.pk) in readable:
                facts.visible_datasets.add(pk)
            else:
                del facts.links[pk]
        facts.personal = personal_nodes(facts.links)
    if job_ids:
        latest = LineageRun.objects.filter(job=OuterRef("pk")).order_by("-state_at", "-pk").values("pk")[:1]
        jobs = LineageJob.objects.filter(pk__in=job_ids)
        facts.jobs = jobs.select_related("namespace").in_bulk()
        facts.visible_jobs = set(jobs.filter(visible_jobs(user)).values_list("pk", flat=True))
        run_ids = [pk for pk in jobs.annotate(latest_run=Subquery(latest)).values_list("latest_run", flat=True) if pk]
        facts.latest_runs = {run.job_id: run for run in LineageRun.objects.filter(pk__in=run_ids)}
    return facts


def visible_objects(
    targets: Sequence[Dataset | FeatureSetVersion | ModelVersion], user: User | AnonymousUser
) -> set[tuple[type, int]]:
    """(model, pk) of the registry objects among ``targets`` that ``user`` may see: one query per kind of object."""
    by_kind: dict[Any, set[int]] = defaultdict(set)
    for target in targets:
        by_kind[type(target)].add(target.pk)
    found: set[tuple[type, int]] = set()
    for kind, pks in by_kind.items():
        manager: Any = kind._default_manager
        found.update((kind, pk) for pk in manager.restrict(user).filter(pk__in=pks).values_list("pk", flat=True))
    return found


def personal_nodes(found: dict[int, links.Link]) -> set[int]:
    """The nodes whose registry object holds personal data."""
    by_dataset: dict[int, list[int]] = defaultdict(list)
    by_fsv: dict[int, list[int]] = defaultdict(list)
    by_mv: dict[int, list[int]] = defaultdict(list)
    for pk, link in found.items():
        if link.registry_dataset is not None:
            by_dataset[link.registry_dataset.pk].append(pk)
        elif link.feature_set_version is not None:
            by_fsv[link.feature_set_version.pk].append(pk)
        elif link.model_version is not None:
            by_mv[link.model_version.pk].append(pk)
    personal: set[int] = set()
    for dataset_id in personal_datasets(by_dataset):
        personal.update(by_dataset[dataset_id])
    fsvs, mvs = personal_versions(by_fsv, by_mv)
    for version_id in fsvs:
        personal.update(by_fsv[version_id])
    for version_id in mvs:
        personal.update(by_mv[version_id])
    return personal


def dataset_data(node: LineageDataset, facts: Facts, depth: int) -> dict[str, Any]:
    link = facts.links.get(node.pk)
    reference = registry_reference(link) if link is not None else None
    flags = []
    if reference is None:
        flags.append("unregistered")
    if node.pk in facts.personal:
        flags.append("personal_data")
    data: dict[str, Any] = {
        "visible": True,
        "namespace": node.namespace.name,
        "name": node.name,
        "depth": depth,
        "registered": reference is not None,
        "registry": reference,
        "personalData": node.pk in facts.personal,
        "failed": False,
        "flags": flags,
        "lineageUrl": reverse("lineage-page-dataset", args=[node.pk]),
        "apiUrl": reverse("lineage-dataset-detail", args=[node.pk]),
    }
    if node.pk in facts.visible_datasets:
        data["facets"] = node.facets
    else:
        data["note"] = "an unclaimed namespace's dataset, linked to nothing: named, its facets not shown"
    return data


def job_data(job: LineageJob, facts: Facts, depth: int) -> dict[str, Any]:
    run = facts.latest_runs.get(job.pk)
    failed = run is not None and run.state in FAILED_STATES
    return {
        "visible": True,
        "namespace": job.namespace.name,
        "name": job.name,
        "depth": depth,
        "latestRun": run_summary(run) if run is not None else None,
        "failed": failed,
        "flags": ["failed"] if failed else [],
        "facets": job.facets,
        "lineageUrl": reverse("lineage-page-job", args=[job.pk]),
        "apiUrl": reverse("lineage-job-detail", args=[job.pk]),
    }


def run_summary(run: LineageRun) -> dict[str, Any]:
    return {
        "runId": str(run.run_id),
        "state": run.state,
        "stateAt": run.state_at.isoformat().replace("+00:00", "Z"),
        "eventsUrl": reverse("lineage-run-events", args=[run.run_id]),
    }


def opaque() -> dict[str, Any]:
    return {"visible": False, "note": NOT_VISIBLE, "flags": []}


def describe(
    nodes: Sequence[GraphNode], edges: Iterable[GraphEdge], user: User | AnonymousUser, facts: Facts | None = None
) -> dict[str, Any]:
    """The graph in Marquez's shape, for ``user``; nodes in the order given."""
    if facts is None:
        facts = load_facts(
            (node.id for node in nodes if node.kind == "dataset"),
            (node.id for node in nodes if node.kind == "job"),
            user,
        )
    incoming: dict[str, list[dict[str, str]]] = defaultdict(list)
    outgoing: dict[str, list[dict[str, str]]] = defaultdict(list)
    for edge in edges:
        pair = {"origin": edge.origin, "destination": edge.destination}
        outgoing[edge.origin].append(pair)
        incoming[edge.destination].append(pair)
    graph = []
    for node in nodes:
        if node.kind == "dataset":
            dataset = facts.datasets.get(node.id)
            shown = dataset is not None and (node.id in facts.visible_datasets or node.id in facts.named_datasets)
            data = dataset_data(dataset, facts, node.depth) if shown and dataset is not None else opaque()
            kind = DATASET
        else:
            job = facts.jobs.get(node.id)
            shown = job is not None and node.id in facts.visible_jobs
            data = job_data(job, facts, node.depth) if shown and job is not None else opaque()
            kind = JOB
        graph.append(
            {
                "id": node.key,
                "type": kind,
                "data": data,
                "inEdges": incoming.get(node.key, []),
                "outEdges": outgoing.get(node.key, []),
            }
        )
    return {"graph": graph}


def describe_columns(nodes: Sequence[Any], edges: Iterable[Any], user: User | AnonymousUser) -> dict[str, Any]:
    """A column graph (lineage.traversal.column_graph) in Marquez's column-lineage shape, for ``user``."""
    facts = load_facts({node.dataset_id for node in nodes}, (), user)
    incoming: dict[str, list[dict[str, Any]]] = defaultdict(list)
    outgoing: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for edge in edges:
        pair = {"origin": edge.origin, "destination": edge.destination, "transformations": list(edge.transformations)}
        outgoing[edge.origin].append(pair)
        incoming[edge.destination].append(pair)
    graph = []
    for node in nodes:
        dataset = facts.datasets.get(node.dataset_id)
        shown = dataset is not None and (
            node.dataset_id in facts.visible_datasets or node.dataset_id in facts.named_datasets
        )
        if shown and dataset is not None:
            data = dataset_data(dataset, facts, node.depth)
            data.pop("facets", None)
            data["field"] = node.field
            data["dataset"] = traversal_key("dataset", dataset.namespace.name, dataset.name)
        else:
            data = opaque()
        graph.append(
            {
                "id": node.key,
                "type": DATASET_FIELD,
                "data": data,
                "inEdges": incoming.get(node.key, []),
                "outEdges": outgoing.get(node.key, []),
            }
        )
    return {"graph": graph}


def describe_closure(closure: Any, user: User | AnonymousUser) -> dict[str, Any]:
    """A model version's upstream closure (lineage.traversal.upstream_closure) for ``user``: Marquez's graph of its
    jobs and datasets, and its runs nearest first, each input with the version it read; opaque where the reader
    may not look."""
    nodes: dict[str, SimpleNode] = {}
    edges: set[SimpleEdge] = set()

    def add(node: SimpleNode) -> None:
        if node.key not in nodes or node.depth < nodes[node.key].depth:
            nodes[node.key] = node

    for node in closure.nodes:
        add(SimpleNode("dataset", node.pk, traversal_key("dataset", node.namespace.name, node.name), 0))
    for item in closure.runs:
        job = item.run.job
        job_key = traversal_key("job", job.namespace.name, job.name)
        add(SimpleNode("job", job.pk, job_key, 2 * item.depth + 1))
        for edge, depth, inward in [(e, 2 * item.depth, False) for e in item.outputs] + [
            (e, 2 * item.depth + 2, True) for e in item.inputs
        ]:
            key = traversal_key("dataset", edge.dataset.namespace.name, edge.dataset.name)
            add(SimpleNode("dataset", edge.dataset_id, key, depth))
            edges.add(SimpleEdge(key, job_key) if inward else SimpleEdge(job_key, key))
    ordered = sorted(nodes.values(), key=lambda node: (node.depth, node.kind, node.key))
    dataset_ids = [node.id for node in ordered if node.kind == "dataset"]
    facts = load_facts(dataset_ids, [node.id for node in ordered if node.kind == "job"], user)
    document = describe(ordered, sorted(edges, key=lambda e: (e.origin, e.destination)), user, facts)
    # A job's flag here is about the run the closure followed, not the job's latest run.
    followed = {}
    for item in reversed(closure.runs):  # nearest last, so the nearest run of a job wins
        followed[traversal_key("job", item.run.job.namespace.name, item.run.job.name)] = item.run
    for node in document["graph"]:
        run = followed.get(node["id"])
        if run is not None and node["data"].get("visible"):
            failed = run.state in FAILED_STATES
            node["data"]["failed"] = failed
            node["data"]["closureRun"] = run_summary(run)
            node["data"]["flags"] = ["failed"] if failed else []
    runs = [closure_run(item, facts) for item in closure.runs]
    document["producingRun"] = runs[0] if closure.producing_run is not None and runs else None
    document["runs"] = runs
    document["rawInputs"] = sorted(
        {traversal_key("dataset", edge.dataset.namespace.name, edge.dataset.name) for edge in closure.raw_inputs()}
    )
    document["truncated"] = closure.truncated
    return document


def closure_run(item: Any, facts: Facts) -> dict[str, Any]:
    run = item.run
    job_key = traversal_key("job", run.job.namespace.name, run.job.name)
    if run.job_id not in facts.visible_jobs:
        return {"job": job_key, "depth": item.depth, "visible": False, "note": NOT_VISIBLE}
    return {
        **run_summary(run),
        "job": job_key,
        "depth": item.depth,
        "visible": True,
        "failed": run.state in FAILED_STATES,
        "inputs": [edge_summary(edge) for edge in item.inputs],
        "outputs": [edge_summary(edge) for edge in item.outputs],
    }


def edge_summary(edge: Any) -> dict[str, Any]:
    version = edge.dataset_version
    registered = None
    if version is not None:
        args = [version.dataset_id, version.number]
        registered = {
            "id": version.pk,
            "label": f"{version.dataset.name} v{version.number}",
            "url": reverse("dataset-version-detail", args=args),
            "webUrl": reverse("registry-dataset-version", args=args),
        }
    return {
        "dataset": traversal_key("dataset", edge.dataset.namespace.name, edge.dataset.name),
        "version": edge.version,
        "datasetVersion": registered,
    }
