"""Serving's dashboard section (core.dashboard) and its panel on the registry's model page (registry.panels): what is
deployed where, as environment by model → version in each role (serving.models.Route: primary, canary, shadow), and a
model's deployments, newest first. Registered by ServingConfig.ready: neither core nor the registry imports serving."""

from __future__ import annotations

from django.db.models import Q
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from core.dashboard import Section, Viewer, is_officer, register_section, render_section
from registry.models import RegisteredModel
from serving.models import Deployment, Route

# Routes are one per environment and model: a compliance office wants to see more of them than of a queue.
ROUTE_ROWS = 12
DEPLOYMENT_ROWS = 10

DEPLOYMENT_RELATED = ("model_version", "release")


def deployed_where(request: HttpRequest, viewer: Viewer) -> SafeString:
    routes = (
        Route.objects.restrict(viewer.user)
        .filter(Q(primary__isnull=False) | Q(canary__isnull=False) | Q(shadow__isnull=False))
        .select_related(
            "environment",
            "model__team",
            *(f"{role}__{related}" for role in ("primary", "canary", "shadow") for related in DEPLOYMENT_RELATED),
        )
        .order_by("environment__rank", "environment__slug", "model__name", "id")
    )
    context = {"routes": routes[:ROUTE_ROWS], "total": routes.count()}
    return render_section(request, "deployed", "serving/dash/deployed.html", context)


def model_deployments_panel(request: HttpRequest, model: RegisteredModel) -> SafeString:
    deployments = (
        Deployment.objects.restrict(request.user)
        .filter(model=model)
        .select_related("environment", "model_version", "deployed_by")
        .order_by("-deployed_at", "-id")
    )
    serving_now: set[int] = set()
    for ids in Route.objects.restrict(request.user).filter(model=model).values_list("primary", "canary", "shadow"):
        serving_now.update(pk for pk in ids if pk is not None)
    context = {
        "model": model,
        "deployments": deployments[:DEPLOYMENT_ROWS],
        "total": deployments.count(),
        "serving_now": serving_now,
    }
    return mark_safe(render_to_string("serving/_model_deployments_panel.html", context, request=request))  # noqa: S308 (rendered by the template engine, every value escaped)


def register() -> None:
    register_section(Section("deployed", applies=is_officer, render=deployed_where, order=15))
