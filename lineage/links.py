"""Links from lineage nodes to registry objects (docs/lineage.md, "Naming conventions"; the names are
lineage.naming's).

A dataset node resolves to a registry **dataset** (by location), a **feature-set version** or a **model version**
(by name, in the team's Assay namespace); a run edge's ``version`` resolves to a registry **dataset version** of the
node's dataset (its content fingerprint, or ``v<number>``). A node links only to objects of its namespace's team;
a namespace nobody has claimed (only ever read from) links to a registry dataset at that location when exactly one
team registered one there.

Resolution does not depend on arrival order:

- ``resolve_new(datasets, edges)`` links nodes and edges as the ingestion fold creates them (it runs inside the
  fold's action and transaction, and writes only the link columns);
- ``lookup(datasets)`` and ``lookup_versions(edges)`` resolve without writing, so that a read shows a node as
  registered as soon as its registry object exists, even before anything re-linked it;
- ``lineage.actions.do_relink`` persists the links of every still-unresolved node and edge (the
  ``lineage_relink`` command runs it; the gate reads persisted links).

Each query here is a batch: the number of queries does not grow with the number of nodes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Q

from core.models import Team
from lineage import naming
from lineage.models import LineageDataset, RunEdge
from registry.models import Dataset, DatasetVersion, FeatureSetVersion, ModelVersion

LINK_FIELDS = ("registry_dataset", "feature_set_version", "model_version")


@dataclass(frozen=True)
class Link:
    """What a node resolves to: at most one of the three is set."""

    registry_dataset: Dataset | None = None
    feature_set_version: FeatureSetVersion | None = None
    model_version: ModelVersion | None = None

    @property
    def target(self) -> Dataset | FeatureSetVersion | ModelVersion | None:
        return self.registry_dataset or self.feature_set_version or self.model_version


NO_LINK = Link()


def is_linked(node: LineageDataset) -> bool:
    return bool(node.registry_dataset_id or node.feature_set_version_id or node.model_version_id)


def link_of(node: LineageDataset) -> Link:
    """The node's persisted link (its related objects should be selected with it)."""
    return Link(node.registry_dataset, node.feature_set_version, node.model_version)


def location_candidates(namespace: str, name: str) -> list[str]:
    """The ``Dataset.location`` strings that split into (namespace, name) (naming.split_location), in the forms a
    location is written: with and without a trailing slash."""
    if namespace == naming.LAKE_NAMESPACE:
        base = f"{naming.LAKE_NAMESPACE}://{name}"
    elif "://" in namespace:
        base = f"{namespace}/{name}"
    else:
        base = f"{namespace}:/{name}"
    return [base, f"{base}/"]


def assay_team_slug(namespace: str) -> str | None:
    """The team slug of an Assay namespace (``assay://credit-risk``), else None."""
    prefix = f"{naming.ASSAY_SCHEME}://"
    if not namespace.startswith(prefix):
        return None
    slug = namespace[len(prefix) :]
    return slug if slug and "/" not in slug else None


def lookup(datasets: Sequence[LineageDataset]) -> dict[int, Link]:
    """What each node resolves to now (by pk; unresolved nodes are absent). Reads only; nodes already linked are
    given their persisted link. The nodes' namespaces should be selected with them."""
    found: dict[int, Link] = {node.pk: link_of(node) for node in datasets if is_linked(node)}
    pending = [node for node in datasets if not is_linked(node)]
    if not pending:
        return found
    found.update(_lookup_datasets(pending))
    assay_nodes = [node for node in pending if assay_team_slug(node.namespace.name) and node.pk not in found]
    if assay_nodes:
        found.update(_lookup_assay_objects(assay_nodes))
    return found


def _lookup_datasets(nodes: Sequence[LineageDataset]) -> dict[int, Link]:
    wanted: dict[str, list[LineageDataset]] = defaultdict(list)
    for node in nodes:
        for location in location_candidates(node.namespace.name, node.name):
            wanted[location].append(node)
    by_node: dict[int, list[Dataset]] = defaultdict(list)
    for dataset in Dataset.objects.filter(location__in=list(wanted)).select_related("team").order_by("pk"):
        for node in wanted.get(dataset.location, ()):
            if naming.split_location(dataset.location) == (node.namespace.name, node.name):
                by_node[node.pk].append(dataset)
    result: dict[int, Link] = {}
    for node in nodes:
        candidates = by_node.get(node.pk, [])
        team_id = node.namespace.team_id
        if team_id is not None:
            candidates = [dataset for dataset in candidates if dataset.team_id == team_id]
        elif len({dataset.team_id for dataset in candidates}) > 1:
            # An unclaimed namespace, registered by several teams: which team's data this is cannot be told.
            candidates = []
        if candidates:
            result[node.pk] = Link(registry_dataset=candidates[0])
    return result


def _lookup_assay_objects(nodes: Sequence[LineageDataset]) -> dict[int, Link]:
    slugs = {assay_team_slug(node.namespace.name) for node in nodes}
    teams = {team.slug: team for team in Team.objects.filter(slug__in=slugs)}
    features: dict[tuple[int, str, int], LineageDataset] = {}
    digests: dict[tuple[int, str], LineageDataset] = {}
    for node in nodes:
        team = teams.get(assay_team_slug(node.namespace.name) or "")
        # Never across teams: an Assay namespace some other team claimed links to nothing.
        if team is None or node.namespace.team_id not in (None, team.pk):
            continue
        digest = naming.artifact_digest(node.name)
        if digest is not None:
            digests[(team.pk, digest)] = node
            continue
        view, number = feature_set_parts(node.name)
        if view is not None and number is not None:
            features[(team.pk, view, number)] = node
    result: dict[int, Link] = {}
    if features:
        query = Q()
        for team_id, view, number in features:
            query |= Q(feature_view__team_id=team_id, feature_view__name=view, number=number)
        for version in FeatureSetVersion.objects.filter(query).select_related("feature_view__team"):
            key = (version.feature_view.team_id, version.feature_view.name, version.number)
            if key in features:
                result[features[key].pk] = Link(feature_set_version=version)
    if digests:
        query = Q()
        for team_id, digest in digests:
            query |= Q(model__team_id=team_id, artifact_sha256=digest)
        # The first registered version wins when two models carry the same artifact.
        for model_version in ModelVersion.objects.filter(query).select_related("model__team").order_by("-pk"):
            digest_key = (model_version.model.team_id, model_version.artifact_sha256)
            if digest_key in digests:
                result[digests[digest_key].pk] = Link(model_version=model_version)
    return result


def feature_set_parts(name: str) -> tuple[str | None, int | None]:
    """(view name, version number) of a ``feature-sets/<view>/v<number>`` node name, else (None, None)."""
    if not name.startswith(naming.FEATURE_SET_PREFIX):
        return None, None
    view, _, version = name[len(naming.FEATURE_SET_PREFIX) :].rpartition("/")
    number = naming.version_number(version)
    if not view or number is None:
        return None, None
    return view, number


def lookup_versions(edges: Sequence[RunEdge], links: dict[int, Link]) -> dict[int, DatasetVersion]:
    """The registry dataset version each edge's ``version`` names (by edge pk; unresolved edges are absent), given
    the links of the edges' datasets (``lookup``). Reads only."""
    found: dict[int, DatasetVersion] = {}
    fingerprints: dict[tuple[int, str], list[RunEdge]] = defaultdict(list)
    numbers: dict[tuple[int, int], list[RunEdge]] = defaultdict(list)
    for edge in edges:
        if edge.dataset_version_id is not None:
            found[edge.pk] = edge.dataset_version  # type: ignore[assignment]
            continue
        dataset = links.get(edge.dataset_id, NO_LINK).registry_dataset
        if dataset is None or not edge.version:
            continue
        number = naming.version_number(edge.version)
        if number is not None:
            numbers[(dataset.pk, number)].append(edge)
        else:
            fingerprints[(dataset.pk, edge.version)].append(edge)
    query = Q()
    for dataset_id, fingerprint in fingerprints:
        query |= Q(dataset_id=dataset_id, content_fingerprint=fingerprint)
    for dataset_id, number in numbers:
        query |= Q(dataset_id=dataset_id, number=number)
    if not query:
        return found
    # Newest first, so that the earliest version wins when two versions carry the same content.
    for version in DatasetVersion.objects.filter(query).order_by("-pk"):
        for edge in fingerprints.get((version.dataset_id, version.content_fingerprint), ()):
            found[edge.pk] = version
        for edge in numbers.get((version.dataset_id, version.number), ()):
            found[edge.pk] = version
    return found


@dataclass(frozen=True)
class Linked:
    """How many nodes and edges a resolution linked."""

    datasets: int = 0
    edges: int = 0


def resolve_new(datasets: Iterable[LineageDataset], edges: Iterable[RunEdge] = ()) -> Linked:
    """Link the given nodes and edges that are not linked yet, writing only their link columns.

    Called by the ingestion fold (inside its action's transaction) for the nodes and edges an event created or
    touched, and by ``lineage.actions.do_relink``. Edges of nodes linked here resolve in the same call.
    """
    nodes = [node for node in datasets if not is_linked(node)]
    if any(not LineageDataset.namespace.is_cached(node) for node in nodes):
        nodes = list(LineageDataset.objects.filter(pk__in=[node.pk for node in nodes]).select_related("namespace"))
    links = lookup(nodes)
    changed = []
    for node in nodes:
        link = links.get(node.pk)
        if link is None:
            continue
        node.registry_dataset, node.feature_set_version, node.model_version = (
            link.registry_dataset,
            link.feature_set_version,
            link.model_version,
        )
        changed.append(node)
    if changed:
        LineageDataset.objects.bulk_update(changed, list(LINK_FIELDS))
    pending_edges = [edge for edge in edges if edge.dataset_version_id is None and edge.version]
    edge_links = edge_dataset_links(pending_edges, links)
    versions = lookup_versions(pending_edges, edge_links)
    linked_edges = []
    for edge in pending_edges:
        if edge.pk in versions:
            edge.dataset_version = versions[edge.pk]
            linked_edges.append(edge)
    if linked_edges:
        RunEdge.objects.bulk_update(linked_edges, ["dataset_version"])
    return Linked(len(changed), len(linked_edges))


def edge_dataset_links(edges: Sequence[RunEdge], known: dict[int, Link]) -> dict[int, Link]:
    """The links of the edges' datasets: ``known`` ones, plus the persisted links of the others (one query)."""
    missing = {edge.dataset_id for edge in edges} - set(known)
    links = dict(known)
    if missing:
        for node in LineageDataset.objects.filter(pk__in=missing, registry_dataset__isnull=False).select_related(
            "registry_dataset"
        ):
            links[node.pk] = link_of(node)
    return links
