"""The model pages: the list, a model with its versions and status history, one version with its contract."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, Max, OuterRef, Prefetch, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.actors import acting_user
from core.ui import filter_with, list_page, paginate, query_without_page, visible_teams
from registry import actions, panels
from registry.actions.jobs import TRAIN_KIND
from registry.choices import VersionStatus
from registry.filtersets import RegisteredModelFilterSet
from registry.forms import RegistryEditForm, TrainForm
from registry.models import (
    DatasetVersion,
    FeatureSetVersion,
    ModelVersion,
    ModelVersionTransition,
    RegisteredModel,
    UseCase,
)
from registry.presentation import contract_rows, flat_metrics
from registry.purges import purge_notice
from registry.views import shared
from registry.views.editing import edit_page, may_edit, require_editor, team_members
from registry.views.shared import as_text, audit_trail, can_see, may_start_jobs, start_job

CHOICE_LIMIT = 200


@login_required
@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    latest = ModelVersion.objects.filter(model=OuterRef("pk")).order_by("-number")
    models = (
        RegisteredModel.objects.restrict(request.user)
        .select_related("team", "owner", "use_case")
        .annotate(
            version_count=Count("versions"),
            latest_number=Max("versions__number"),
            latest_status=Subquery(latest.values("status")[:1]),
        )
        .prefetch_related(
            Prefetch(
                "versions",
                queryset=ModelVersion.objects.filter(status=VersionStatus.DEPLOYED).only("id", "model_id", "number"),
                to_attr="deployed_versions",
            )
        )
        .order_by("name", "team__slug", "pk")
    )
    filterset, rows, valid = filter_with(request, RegisteredModelFilterSet, models)
    status = request.GET.get("status", "")
    if status in VersionStatus.values:
        rows = rows.filter(Exists(ModelVersion.objects.filter(model=OuterRef("pk"), status=status)))
    elif status:
        valid = False
        rows = rows.none()
    context = {
        "section": "models",
        **list_page(request, rows, shared.PAGE_SIZE),
        "form": filterset.form,
        "status": status,
        "statuses": VersionStatus.choices,
        "teams": visible_teams(request),
        "valid": valid,
    }
    return render(request, "registry/model_list.html", context, status=200 if valid else 400)


def _visible_model(request: HttpRequest, pk: int) -> RegisteredModel:
    queryset = RegisteredModel.objects.restrict(request.user).select_related("team", "owner", "use_case", "created_by")
    return get_object_or_404(queryset, pk=pk)


def train_form(request: HttpRequest, model: RegisteredModel, data: Any = None) -> TrainForm:
    """The form with the feature-set versions this user may train on: materialized ones of the model's team."""
    feature_sets = (
        FeatureSetVersion.objects.restrict(request.user)
        .filter(feature_view__team=model.team)
        .exclude(storage_location="")
        .select_related("feature_view")
        .order_by("-created_at", "-pk")[:CHOICE_LIMIT]
    )
    choices = [
        (fs.pk, f"{fs.feature_view.name} v{fs.number} · {fs.row_count:,} rows · {fs.created_at:%Y-%m-%d}")
        for fs in feature_sets
    ]
    return TrainForm(data, feature_set_versions=choices)


@login_required
@require_GET
def model_detail(request: HttpRequest, pk: int) -> HttpResponse:
    model = _visible_model(request, pk)
    form = train_form(request, model) if may_start_jobs(request.user, model.team) else None
    return _render_model(request, model, form)


@login_required
@require_POST
def model_train(request: HttpRequest, pk: int) -> HttpResponse:
    """The Train form: asks for the Spark job as the API does (registry.actions.do_request_training)."""
    model = _visible_model(request, pk)
    if not may_start_jobs(request.user, model.team):
        raise PermissionDenied(f"Only engineers and admins of team {model.team.slug} start its jobs.")
    form = train_form(request, model, request.POST)
    response, status = start_job(
        request,
        form,
        TRAIN_KIND,
        lambda **arguments: actions.do_request_training(model, actor=acting_user(request.user), **arguments),
        f"Training of {model.name} requested: it runs on the Spark worker.",
    )
    return response or _render_model(request, model, form, status=status)


def _render_model(
    request: HttpRequest, model: RegisteredModel, form: TrainForm | None, status: int = 200
) -> HttpResponse:
    versions = (
        ModelVersion.objects.restrict(request.user)
        .filter(model=model)
        .select_related("created_by", "job")
        .prefetch_related(Prefetch("dataset_versions", queryset=DatasetVersion.objects.select_related("dataset")))
        .order_by("-number")
    )
    page = paginate(request, versions, shared.VERSION_PAGE_SIZE)
    transitions = (
        ModelVersionTransition.objects.restrict(request.user)
        .filter(version__model=model)
        .select_related("version")
        .order_by("-occurred_at", "-id")
    )
    history = list(transitions[: shared.HISTORY_SIZE + 1])
    use_case = model.use_case if model.use_case_id and can_see(request, UseCase, model.use_case_id) else None
    context = {
        "section": "models",
        "model": model,
        "use_case": use_case,
        "train_form": form,
        "may_edit": may_edit(request.user, model.team),
        "page": page,
        "query": query_without_page(request),
        "version_rows": [{"version": v, "metrics": flat_metrics(v.metrics)[:4]} for v in page.object_list],
        "status_counts": _status_counts(model),
        "transitions": history[: shared.HISTORY_SIZE],
        "history_more": len(history) > shared.HISTORY_SIZE,
        "panels": panels.panels("model", request, model),
        "trail": audit_trail(
            request,
            model.team,
            [
                ("registry.registeredmodel", model.pk),
                ("registry.modelversion", as_text(ModelVersion.objects.filter(model=model))),
            ],
            ("registry.registeredmodel", model.pk),
        ),
    }
    return render(request, "registry/model_detail.html", context, status=status)


def _status_counts(model: RegisteredModel) -> list[tuple[str, str, int]]:
    counts = dict(model.versions.values_list("status").annotate(n=Count("id")).order_by())
    return [(value, label, counts[value]) for value, label in VersionStatus.choices if counts.get(value)]


@login_required
@require_GET
def model_version_detail(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    model = _visible_model(request, pk)
    version = get_object_or_404(
        ModelVersion.objects.restrict(request.user).select_related("created_by", "job").prefetch_related("authors"),
        model=model,
        number=number,
    )
    interface = version.interface if isinstance(version.interface, dict) else {}
    trained_on = (
        DatasetVersion.objects.restrict(request.user)
        .filter(model_versions=version)
        .select_related("dataset__team")
        .order_by("dataset__name", "-number")
    )
    context = {
        "section": "models",
        "model": model,
        "version": version,
        "inputs": contract_rows(interface.get("inputs")),
        "outputs": contract_rows(interface.get("outputs")),
        "interface": interface,
        "metadata_props": sorted((interface.get("metadata_props") or {}).items()),
        "metrics": flat_metrics(version.metrics),
        "training_params": flat_metrics(version.training_params),
        "trained_on": trained_on,
        # Purged bytes (compliance registers the notice); a retired version's artifact may be deleted.
        "purged": purge_notice(version),
        "can_delete_bytes": version.status == VersionStatus.RETIRED,
        "feature_sets": FeatureSetVersion.objects.restrict(request.user)
        .filter(model_versions=version)
        .select_related("feature_view")
        .order_by("feature_view__name", "-number"),
        "transitions": ModelVersionTransition.objects.restrict(request.user)
        .filter(version=version)
        .order_by("occurred_at", "id"),
        "previous_exists": ModelVersion.objects.filter(model=model, number=number - 1).exists(),
        "next_exists": ModelVersion.objects.filter(model=model, number=number + 1).exists(),
        "panels": panels.panels("model_version", request, version),
        "trail": audit_trail(
            request,
            model.team,
            [("registry.modelversion", version.pk)],
            ("registry.modelversion", version.pk),
        ),
    }
    return render(request, "registry/model_version_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def model_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The model's metadata, as PATCH /api/v1/models/{id}/ changes it (registry.actions.do_update_model)."""
    model = _visible_model(request, pk)
    require_editor(request.user, model.team, "models")
    use_cases = UseCase.objects.restrict(request.user).filter(team=model.team).order_by("name")[:CHOICE_LIMIT]
    form = RegistryEditForm(
        request.POST if request.method == "POST" else None,
        instance=model,
        members=team_members(model.team),
        use_cases=[(use_case.pk, use_case.name) for use_case in use_cases],
    )
    return edit_page(
        request,
        form,
        lambda **changes: actions.do_update_model(model, actor=acting_user(request.user), **changes),
        kind="model",
        list_url=reverse("registry-model-list"),
        detail_url=reverse("registry-model-detail", args=[model.pk]),
        section="models",
        api_path=f"/api/v1/models/{model.pk}/",
    )
