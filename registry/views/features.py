"""The feature view pages: the list, a view with its definitions, feature-set versions and jobs, one version with
its per-feature statistics; and the Materialize form, which asks for the Spark job as the API does
(registry.actions.do_request_materialization) and sends the user to the job's page.

Reading follows the registry's rule (team members read, another team's view is a 404); starting a job is for the
team's engineers and admins (REGISTRY_POLICY's change): anyone else who can read the view sees no form, and a POST
from them is a 403.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from core.actors import acting_user
from core.models import Job
from core.ui import filter_with, list_page, paginate, query_without_page, visible_teams
from registry import actions, panels
from registry.actions.jobs import MATERIALIZE_KIND
from registry.choices import Aggregation
from registry.filtersets import FeatureViewFilterSet
from registry.forms import MaterializeForm
from registry.models import DatasetVersion, FeatureSetVersion, FeatureView, RegisteredModel
from registry.presentation import number_text
from registry.views import shared
from registry.views.shared import may_start_jobs, start_job

JOB_ROWS = 20
CHOICE_LIMIT = 200
AGGREGATION_LABELS = dict(Aggregation.choices)
TARGET_ENCODE = re.compile(r"\A\s*target_encode\s*\(\s*(\w+)\s*,\s*(\w+)\s*\)\s*\Z", re.IGNORECASE)
# The statistics columns of a version's page, in order: (key in the statistics, heading).
STATISTICS: tuple[tuple[str, str], ...] = (
    ("count", "Count"),
    ("nulls", "Nulls"),
    ("mean", "Mean"),
    ("std", "Std"),
    ("min", "Min"),
    ("max", "Max"),
    ("distinct", "Distinct"),
)


def _dataset_version_label(version: DatasetVersion) -> str:
    # Short enough for the form's narrow column: the name, the number, the size.
    rows = f" · {version.row_count:,} rows" if version.row_count is not None else ""
    return f"{version.dataset.name} v{version.number}{rows}"


@login_required
@require_GET
def feature_view_list(request: HttpRequest) -> HttpResponse:
    views = (
        FeatureView.objects.restrict(request.user)
        .select_related("team", "owner", "source_dataset")
        .annotate(version_count=Count("versions"), latest_number=Max("versions__number"))
        .order_by("name", "team__slug", "pk")
    )
    filterset, rows, valid = filter_with(request, FeatureViewFilterSet, views)
    context = {
        "section": "features",
        **list_page(request, rows, shared.PAGE_SIZE),
        "form": filterset.form,
        "teams": visible_teams(request),
        "valid": valid,
    }
    return render(request, "registry/feature_view_list.html", context, status=200 if valid else 400)


def _visible_view(request: HttpRequest, pk: int) -> FeatureView:
    queryset = FeatureView.objects.restrict(request.user).select_related(
        "team", "owner", "created_by", "source_dataset"
    )
    return get_object_or_404(queryset, pk=pk)


def _definitions(view: FeatureView) -> list[dict[str, Any]]:
    rows = []
    for feature in view.features if isinstance(view.features, list) else []:
        if not isinstance(feature, dict):
            continue
        encoding = TARGET_ENCODE.match(str(feature.get("definition", "")))
        aggregation = feature.get("aggregation", "")
        rows.append(
            {
                **feature,
                "aggregation_label": AGGREGATION_LABELS.get(aggregation, aggregation),
                "encodes": encoding.groups() if encoding else None,
            }
        )
    return rows


def materialize_form(request: HttpRequest, view: FeatureView, data: Any = None) -> MaterializeForm:
    """The form with the choices this user may make: versions of the view's source dataset, spines among the team's
    dataset versions, models of the team; newest first."""
    versions = DatasetVersion.objects.restrict(request.user).select_related("dataset").order_by("-created_at", "-pk")
    models = RegisteredModel.objects.restrict(request.user).filter(team=view.team).order_by("name")
    return MaterializeForm(
        data,
        dataset_versions=[
            (v.pk, _dataset_version_label(v)) for v in versions.filter(dataset=view.source_dataset)[:CHOICE_LIMIT]
        ],
        spine_versions=[
            (v.pk, _dataset_version_label(v)) for v in versions.filter(dataset__team=view.team)[:CHOICE_LIMIT]
        ],
        models=[(m.pk, m.name) for m in models[:CHOICE_LIMIT]],
    )


def _render_view(
    request: HttpRequest, view: FeatureView, form: MaterializeForm | None, status: int = 200
) -> HttpResponse:
    versions = (
        FeatureSetVersion.objects.restrict(request.user)
        .filter(feature_view=view)
        .select_related("job", "created_by")
        .prefetch_related(Prefetch("dataset_versions", queryset=DatasetVersion.objects.select_related("dataset")))
        .order_by("-number")
    )
    page = paginate(request, versions, shared.VERSION_PAGE_SIZE)
    jobs = (
        Job.objects.restrict(request.user)
        .filter(target_type=FeatureView._meta.label_lower, target_id=str(view.pk))
        .select_related("team", "requested_by")
        .order_by("-created_at", "-id")
    )
    context = {
        "section": "features",
        "view": view,
        "definitions": _definitions(view),
        "page": page,
        "query": query_without_page(request),
        "jobs": jobs[:JOB_ROWS],
        "job_count": jobs.count(),
        "form": form,
    }
    return render(request, "registry/feature_view_detail.html", context, status=status)


@login_required
@require_GET
def feature_view_detail(request: HttpRequest, pk: int) -> HttpResponse:
    view = _visible_view(request, pk)
    form = materialize_form(request, view) if may_start_jobs(request.user, view.team) else None
    return _render_view(request, view, form)


@login_required
@require_POST
def materialize(request: HttpRequest, pk: int) -> HttpResponse:
    view = _visible_view(request, pk)
    if not may_start_jobs(request.user, view.team):
        raise PermissionDenied(f"Only engineers and admins of team {view.team.slug} start its jobs.")
    form = materialize_form(request, view, request.POST)
    response, status = start_job(
        request,
        form,
        MATERIALIZE_KIND,
        lambda **arguments: actions.do_request_materialization(view, actor=acting_user(request.user), **arguments),
        f"Materialization of {view.name} requested: it runs on the Spark worker.",
    )
    return response or _render_view(request, view, form, status=status)


def _quantile_order(item: tuple[str, Any]) -> tuple[int, float, str]:
    """``"0.05"`` before ``"0.5"``; statistics registered by hand may name them otherwise: those last, by name."""
    try:
        return (0, float(item[0]), "")
    except ValueError:
        return (1, 0.0, item[0])


@login_required
@require_GET
def feature_set_version_detail(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    view = _visible_view(request, pk)
    version = get_object_or_404(
        FeatureSetVersion.objects.restrict(request.user).select_related("job", "created_by"),
        feature_view=view,
        number=number,
    )
    statistics: dict[str, Any] = version.statistics if isinstance(version.statistics, dict) else {}
    rows = []
    for feature in version.features if isinstance(version.features, list) else []:
        if not isinstance(feature, dict):
            continue
        found = statistics.get(str(feature.get("name")))
        entry: dict[str, Any] = found if isinstance(found, dict) else {}
        quantiles: dict[str, Any] = entry["quantiles"] if isinstance(entry.get("quantiles"), dict) else {}
        rows.append(
            {
                "feature": feature,
                "values": [number_text(entry.get(key)) if key in entry else None for key, _ in STATISTICS],
                "quantiles": [(q, number_text(v)) for q, v in sorted(quantiles.items(), key=_quantile_order)],
            }
        )
    context = {
        "section": "features",
        "view": view,
        "version": version,
        "inputs": DatasetVersion.objects.restrict(request.user)
        .filter(feature_set_versions=version)
        .select_related("dataset")
        .order_by("dataset__name", "-number"),
        "statistics_headings": [heading for _, heading in STATISTICS],
        "rows": rows,
        "has_statistics": bool(statistics),
        "panels": panels.panels("feature_set_version", request, version),
    }
    return render(request, "registry/feature_set_version_detail.html", context)
