"""The dataset pages: the list, a dataset with its versions, one version with its schema and evolution report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from core.actors import acting_user
from core.ui import filter_with, list_page, paginate, query_without_page, visible_teams
from registry import actions
from registry.choices import Classification
from registry.filtersets import DatasetFilterSet
from registry.forms import RegistryEditForm
from registry.models import Dataset, DatasetVersion, ModelVersion
from registry.presentation import PRIVACY_FLAGS
from registry.purges import purge_notice
from registry.views import shared
from registry.views.editing import edit_page, may_edit, require_editor, team_members
from registry.views.shared import as_text, audit_trail

CHANGE_KIND_LABELS = {
    "column_added": "Column added",
    "column_dropped": "Column dropped",
    "column_renamed": "Column renamed",
    "type_widened": "Type widened",
    "type_changed": "Type changed",
    "nullability_relaxed": "Nullability relaxed",
    "nullability_tightened": "Nullability tightened",
    "flag_added": "Privacy flag added",
    "flag_removed": "Privacy flag removed",
    "description_changed": "Description changed",
}


@login_required
@require_GET
def dataset_list(request: HttpRequest) -> HttpResponse:
    latest = DatasetVersion.objects.filter(dataset=OuterRef("pk")).order_by("-number")
    datasets = (
        Dataset.objects.restrict(request.user)
        .select_related("team", "owner")
        .annotate(
            version_count=Count("versions"),
            latest_number=Max("versions__number"),
            latest_created=Subquery(latest.values("created_at")[:1]),
            breaking_count=Count("versions", filter=Q(versions__breaking_change=True)),
        )
        .order_by("name", "team__slug", "pk")
    )
    filterset, rows, valid = filter_with(request, DatasetFilterSet, datasets)
    context = {
        "section": "datasets",
        **list_page(request, rows, shared.PAGE_SIZE),
        "form": filterset.form,
        "classifications": Classification.choices,
        "selected_classifications": request.GET.getlist("classification"),
        "teams": visible_teams(request),
        "valid": valid,
    }
    return render(request, "registry/dataset_list.html", context, status=200 if valid else 400)


@dataclass(frozen=True)
class SchemaSummary:
    columns: int
    flagged: int
    counts: list[tuple[str, str, int]]


def _schema_rows(schema: Any) -> list[dict[str, Any]]:
    columns = schema.get("columns", []) if isinstance(schema, dict) else []
    rows = []
    for column in columns:
        if not isinstance(column, dict):
            continue
        flags = [(key, label, hint) for key, label, hint in PRIVACY_FLAGS if column.get(key)]
        rows.append({**column, "flags": flags})
    return rows


def _schema_summary(rows: list[dict[str, Any]]) -> SchemaSummary:
    counts = [(key, label, sum(1 for row in rows if row.get(key))) for key, label, _ in PRIVACY_FLAGS]
    return SchemaSummary(columns=len(rows), flagged=sum(1 for row in rows if row["flags"]), counts=counts)


def _evolution(version: DatasetVersion) -> dict[str, Any]:
    evolution = version.evolution if isinstance(version.evolution, dict) else {}
    changes = []
    for change in evolution.get("changes", []):
        if isinstance(change, dict):
            changes.append({**change, "kind_label": CHANGE_KIND_LABELS.get(change.get("kind", ""), change.get("kind"))})
    return {
        "changes": changes,
        "breaking": sum(1 for change in changes if not change.get("compatible")),
        "compatible": sum(1 for change in changes if change.get("compatible")),
        "needs_review": sum(1 for change in changes if change.get("needs_review")),
    }


def _visible_dataset(request: HttpRequest, pk: int) -> Dataset:
    return get_object_or_404(
        Dataset.objects.restrict(request.user).select_related("team", "owner", "created_by"), pk=pk
    )


@login_required
@require_GET
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _visible_dataset(request, pk)
    versions = (
        DatasetVersion.objects.restrict(request.user)
        .filter(dataset=dataset)
        .select_related("created_by")
        .order_by("-number")
    )
    page = paginate(request, versions, shared.VERSION_PAGE_SIZE)
    version_rows = []
    for version in page.object_list:
        schema_rows = _schema_rows(version.schema)
        version_rows.append(
            {"version": version, "summary": _schema_summary(schema_rows), "evolution": _evolution(version)}
        )
    latest = versions.first()
    latest_rows = _schema_rows(latest.schema) if latest else []
    context = {
        "section": "datasets",
        "dataset": dataset,
        "page": page,
        "query": query_without_page(request),
        "version_rows": version_rows,
        "latest": latest,
        "schema_rows": latest_rows,
        "summary": _schema_summary(latest_rows),
        "evolution": _evolution(latest) if latest else None,
        "may_edit": may_edit(request.user, dataset.team),
        "trail": audit_trail(
            request,
            dataset.team,
            [
                ("registry.dataset", dataset.pk),
                ("registry.datasetversion", as_text(DatasetVersion.objects.filter(dataset=dataset))),
            ],
            ("registry.dataset", dataset.pk),
        ),
    }
    return render(request, "registry/dataset_detail.html", context)


@login_required
@require_GET
def dataset_version_detail(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    dataset = _visible_dataset(request, pk)
    version = get_object_or_404(
        DatasetVersion.objects.restrict(request.user).select_related("created_by"), dataset=dataset, number=number
    )
    rows = _schema_rows(version.schema)
    used_by = (
        ModelVersion.objects.restrict(request.user)
        .filter(dataset_versions=version)
        .select_related("model")
        .order_by("model__name", "-number")
    )
    context = {
        "section": "datasets",
        "dataset": dataset,
        "version": version,
        "schema_rows": rows,
        "summary": _schema_summary(rows),
        "evolution": _evolution(version),
        "used_by": used_by,
        # Purged bytes (compliance registers the notice); otherwise a link to delete them (the page says who may).
        "purged": purge_notice(version),
        "can_delete_bytes": True,
        "previous_exists": DatasetVersion.objects.filter(dataset=dataset, number=number - 1).exists(),
        "next_exists": DatasetVersion.objects.filter(dataset=dataset, number=number + 1).exists(),
        "trail": audit_trail(
            request,
            dataset.team,
            [("registry.datasetversion", version.pk)],
            ("registry.datasetversion", version.pk),
        ),
    }
    return render(request, "registry/dataset_version_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def dataset_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The dataset's metadata, as PATCH /api/v1/datasets/{id}/ changes it (registry.actions.do_update_dataset)."""
    dataset = _visible_dataset(request, pk)
    require_editor(request.user, dataset.team, "datasets")
    form = RegistryEditForm(
        request.POST if request.method == "POST" else None, instance=dataset, members=team_members(dataset.team)
    )
    return edit_page(
        request,
        form,
        lambda **changes: actions.do_update_dataset(dataset, actor=acting_user(request.user), **changes),
        kind="dataset",
        list_url=reverse("registry-dataset-list"),
        detail_url=reverse("registry-dataset-detail", args=[dataset.pk]),
        section="datasets",
        api_path=f"/api/v1/datasets/{dataset.pk}/",
    )
