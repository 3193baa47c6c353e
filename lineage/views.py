"""The lineage pages: the graph around a lineage dataset, a job, a registry dataset, and a model version's upstream
closure, drawn by static/js/lineage-graph.js (cytoscape with a dagre layout) from the same JSON the read API
returns (embedded with ``json_script``), and shown as a plain table for screen readers and browsers without
JavaScript. Also the cards the registry's pages show (registry.panels): each object's upstream and downstream.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from core.querysets import VIEW
from core.ui import filter_with, list_page
from lineage import naming, presentation, traversal
from lineage.choices import RunState
from lineage.filtersets import LineageDatasetFilterSet, LineageJobFilterSet
from lineage.models import LineageDataset, LineageJob, LineageRun
from lineage.querysets import visible_datasets, visible_jobs
from registry.models import Dataset, FeatureSetVersion, ModelVersion

PAGE_SIZE = 50
RUNS_SHOWN = 20
# How many neighbours a registry page's card lists before it sends the reader to the lineage page.
PANEL_SIZE = 8

STATUS_LABELS = {
    "unregistered": "Unregistered",
    "failed": "Failed run",
    "personal_data": "Personal data",
}


class GraphForm(forms.Form):
    """The page's controls: which way and how far."""

    direction = forms.ChoiceField(
        choices=[("both", "Both ways"), ("upstream", "Upstream"), ("downstream", "Downstream")], required=False
    )
    depth = forms.IntegerField(min_value=0, max_value=traversal.MAX_DEPTH, required=False)


def graph_controls(request: HttpRequest) -> tuple[GraphForm, str, int, bool]:
    form = GraphForm(request.GET or None, initial={"direction": "both", "depth": traversal.DEFAULT_DEPTH})
    if form.is_bound and not form.is_valid():
        return form, "both", traversal.DEFAULT_DEPTH, False
    data = form.cleaned_data if form.is_bound else {}
    depth = data.get("depth")
    return form, data.get("direction") or "both", traversal.DEFAULT_DEPTH if depth is None else depth, True


def rows_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The graph as table rows: each node with its status words, where it comes from and where it goes."""
    names = {node["id"]: node for node in document["graph"]}
    rows = []
    for node in document["graph"]:
        data = node["data"]
        rows.append(
            {
                "node": node,
                "data": data,
                "kind": "Dataset" if node["type"] == presentation.DATASET else "Job",
                "statuses": [STATUS_LABELS[flag] for flag in data.get("flags", [])],
                "upstream": [names.get(edge["origin"], {"id": edge["origin"]}) for edge in node["inEdges"]],
                "downstream": [
                    names.get(edge["destination"], {"id": edge["destination"]}) for edge in node["outEdges"]
                ],
            }
        )
    return rows


def graph_page(request: HttpRequest, template: str, context: dict[str, Any], document: dict[str, Any]) -> HttpResponse:
    context = {
        "section": "lineage",
        "graph": document,
        "max_depth": traversal.MAX_DEPTH,
        "rows": rows_of(document),
        "counts": {
            flag: sum(1 for node in document["graph"] if flag in node["data"].get("flags", []))
            for flag in STATUS_LABELS
        },
        **context,
    }
    return render(request, template, context, status=context.get("status", 200))


@login_required
@require_GET
def dataset_page(request: HttpRequest, pk: int) -> HttpResponse:
    queryset = LineageDataset.objects.filter(visible_datasets(request.user)).select_related(*presentation.LINK_JOINS)
    node = get_object_or_404(queryset, pk=pk)
    form, way, depth, valid = graph_controls(request)
    graph = traversal.lineage_graph(node, way=way, depth=depth)
    document = presentation.describe(graph.nodes, graph.edges, request.user)
    root = document["graph"][0]["data"] if document["graph"] else {}
    context = {"node": node, "root": root, "root_id": graph.root, "form": form, "status": 200 if valid else 400}
    return graph_page(request, "lineage/dataset.html", context, document)


@login_required
@require_GET
def job_page(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(LineageJob.objects.filter(visible_jobs(request.user)).select_related("namespace"), pk=pk)
    form, way, depth, valid = graph_controls(request)
    graph = traversal.lineage_graph(job, way=way, depth=depth)
    document = presentation.describe(graph.nodes, graph.edges, request.user)
    runs = LineageRun.objects.filter(job=job).order_by("-state_at", "-pk")[:RUNS_SHOWN]
    context = {
        "job": job,
        "root_id": graph.root,
        "form": form,
        "runs": runs,
        "failed_states": [RunState.FAIL, RunState.ABORT],
        "status": 200 if valid else 400,
    }
    return graph_page(request, "lineage/job.html", context, document)


@login_required
@require_GET
def model_version_page(request: HttpRequest, pk: int) -> HttpResponse:
    queryset = ModelVersion.objects.restrict(request.user, VIEW).select_related("model__team")
    version = get_object_or_404(queryset, pk=pk)
    closure = traversal.upstream_closure(version)
    document = presentation.describe_closure(closure, request.user)
    model_nodes = [traversal.node_key("dataset", node.namespace.name, node.name) for node in closure.nodes]
    context = {"version": version, "closure": document, "root_id": model_nodes[0] if model_nodes else ""}
    return graph_page(request, "lineage/model_version.html", context, document)


def registry_dataset_nodes(dataset: Dataset) -> list[LineageDataset]:
    """The lineage nodes of a registry dataset: those linked to it, and the one its location names (not linked
    yet: lineage.links resolves it on read)."""
    namespace, name = naming.split_location(dataset.location)
    return list(
        LineageDataset.objects.filter(
            Q(registry_dataset=dataset)
            | Q(namespace__name=namespace, name=name, registry_dataset__isnull=True)
            & (Q(namespace__team=dataset.team) | Q(namespace__team__isnull=True))
        )
        .select_related("namespace")
        .order_by("pk")
    )


@login_required
@require_GET
def registry_dataset_page(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_object_or_404(Dataset.objects.restrict(request.user, VIEW).select_related("team"), pk=pk)
    nodes = registry_dataset_nodes(dataset)
    form, way, depth, valid = graph_controls(request)
    document: dict[str, Any] = {"graph": []}
    root_id = ""
    if nodes:
        graph = traversal.lineage_graph(nodes[0], way=way, depth=depth)
        document = presentation.describe(graph.nodes, graph.edges, request.user)
        root_id = graph.root
    context = {"dataset": dataset, "nodes": nodes, "form": form, "root_id": root_id, "status": 200 if valid else 400}
    return graph_page(request, "lineage/registry_dataset.html", context, document)


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The dataset nodes of the reader's namespaces (filter by namespace, name, registered), and their jobs."""
    datasets = LineageDataset.objects.filter(visible_datasets(request.user)).select_related(*presentation.LINK_JOINS)
    filterset, rows, valid = filter_with(request, LineageDatasetFilterSet, datasets.order_by("namespace__name", "name"))
    jobs = LineageJob.objects.filter(visible_jobs(request.user)).select_related("namespace")
    _, job_rows, _ = filter_with(request, LineageJobFilterSet, jobs.order_by("namespace__name", "name"))
    context = {
        "section": "lineage",
        **list_page(request, rows, PAGE_SIZE),
        "form": filterset.form,
        "jobs": job_rows[:PAGE_SIZE] if valid else [],
    }
    return render(request, "lineage/index.html", context, status=200 if valid else 400)


# --- The registry pages' cards (registry.panels) ------------------------------------------------------------------


def neighbours(document: dict[str, Any], root: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(upstream, downstream) nodes of ``root`` in a graph document, nearest first."""
    by_id = {node["id"]: node for node in document["graph"]}

    def walk(start: str, edges: str, end: str) -> list[dict[str, Any]]:
        seen, order, frontier = {start}, [], [start]
        while frontier:
            following = []
            for key in frontier:
                for edge in by_id.get(key, {}).get(edges, []):
                    if edge[end] not in seen:
                        seen.add(edge[end])
                        order.append(by_id.get(edge[end], {"id": edge[end], "data": presentation.opaque()}))
                        following.append(edge[end])
            frontier = following
        return order

    return walk(root, "inEdges", "origin"), walk(root, "outEdges", "destination")


def panel(request: HttpRequest, node: LineageDataset | None, page_url: str) -> SafeString:
    upstream: list[dict[str, Any]] = []
    downstream: list[dict[str, Any]] = []
    if node is not None:
        graph = traversal.lineage_graph(node, way="both", depth=1)
        document = presentation.describe(graph.nodes, graph.edges, request.user)
        upstream, downstream = neighbours(document, graph.root)
    html = render_to_string(
        "lineage/_panel.html",
        {
            "node": node,
            "upstream": upstream[:PANEL_SIZE],
            "downstream": downstream[:PANEL_SIZE],
            "more": len(upstream) > PANEL_SIZE or len(downstream) > PANEL_SIZE,
            "page_url": page_url,
        },
        request=request,
    )
    return mark_safe(html)  # noqa: S308 - rendered by the template engine, which escaped every value


def dataset_panel(request: HttpRequest, dataset: Dataset) -> SafeString:
    nodes = registry_dataset_nodes(dataset)
    return panel(request, nodes[0] if nodes else None, reverse("lineage-page-registry-dataset", args=[dataset.pk]))


def feature_set_version_panel(request: HttpRequest, version: FeatureSetVersion) -> SafeString:
    name = naming.feature_set_version_name(version)
    node = (
        LineageDataset.objects.filter(
            Q(feature_set_version=version) | Q(namespace__name=name.namespace, name=name.name)
        )
        .filter(visible_datasets(request.user))
        .select_related("namespace")
        .order_by("pk")
        .first()
    )
    url = reverse("lineage-page-dataset", args=[node.pk]) if node is not None else ""
    return panel(request, node, url)


def model_version_panel(request: HttpRequest, version: ModelVersion) -> SafeString:
    nodes = [node for node in traversal.model_version_nodes(version)]
    node = nodes[0] if nodes else None
    return panel(request, node, reverse("lineage-page-model-version", args=[version.pk]))
