"""Deployment history per environment: what serves now (each model's route: primary, canary, shadow), and every
deployment with who, when, which release, in which role and whether it was a rollback. Read-only: deployments are
only made through the gate (serving.actions.do_deploy). Also the prediction log of a model in an environment and the
page of a decision record (written by the inference service). The comparison page is serving.route_views.

Every page reads through ``restrict(user)``; list pages run a fixed number of queries whatever the number of rows.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from core.ui import filter_with, list_page
from governance.models import Environment
from registry.models import RegisteredModel
from serving.choices import DeploymentRole
from serving.decisions import decision_statement_context
from serving.filtersets import PredictionFilterSet
from serving.models import DecisionRecord, Deployment, PredictionLog, Route

PAGE_SIZE = 50


@login_required
@require_GET
def environment_list(request: HttpRequest) -> HttpResponse:
    visible = Deployment.objects.restrict(request.user)
    environments = Environment.objects.restrict(request.user).annotate(
        deployment_count=Count("deployments", filter=Q(deployments__in=visible.values("pk"))),
        model_count=Count("deployments__model", filter=Q(deployments__in=visible.values("pk")), distinct=True),
        last_deployed_at=Max("deployments__deployed_at", filter=Q(deployments__in=visible.values("pk"))),
    )
    return render(request, "serving/environment_list.html", {"section": "deployments", "environments": environments})


@login_required
@require_GET
def environment_detail(request: HttpRequest, slug: str) -> HttpResponse:
    environment = get_object_or_404(Environment.objects.restrict(request.user), slug=slug)
    visible = (
        Deployment.objects.restrict(request.user)
        .filter(environment=environment)
        .select_related(
            "model__team",
            "model_version",
            "release",
            "deployed_by",
            "replaces__model_version",
            "gate_evaluation",
        )
    )
    # What serves is each model's route; a retired one (no primary) serves nothing and is only in the history.
    current = list(
        Route.objects.restrict(request.user)
        .filter(environment=environment, primary__isnull=False)
        .select_related(
            "model__team",
            "primary__model_version",
            "primary__deployed_by",
            "primary__model",
            "canary__model_version",
            "shadow__model_version",
        )
        .order_by("model__name", "model__team__slug")
    )
    model = request.GET.get("model", "")
    history = visible.order_by("-deployed_at", "-id")
    if model.isdigit():
        history = history.filter(model_id=int(model))
    context = {
        "section": "deployments",
        "environment": environment,
        "current": current,
        **list_page(request, history, PAGE_SIZE),
        "model_filter": model,
        "filtered_model": next((r.model for r in current if str(r.model_id) == model), None),
    }
    return render(request, "serving/environment_detail.html", context)


# --- Prediction logs and decision records --------------------------------------------------------------------------

QUALITY_LABELS = {"missing": "missing", "out_of_range": "out of range", "unseen": "unseen category"}


def quality_flags(quality: Any) -> list[str]:
    """A log's data quality as short flags ("income: 2 missing"), in a stable order."""
    flags = []
    for check, label in QUALITY_LABELS.items():
        counts = (quality or {}).get(check) or {}
        flags += [f"{feature}: {count} {label}" for feature, count in sorted(counts.items())]
    return flags


@login_required
@require_GET
def prediction_log(request: HttpRequest, slug: str, model_id: int) -> HttpResponse:
    """The prediction log of one model in one environment, newest first: every deployment's (primary, canary,
    shadow), filterable by deployment, role and time, each row with its data quality flags."""
    environment = get_object_or_404(Environment.objects.restrict(request.user), slug=slug)
    model = get_object_or_404(RegisteredModel.objects.restrict(request.user), pk=model_id)
    visible = (
        PredictionLog.objects.restrict(request.user)
        .filter(environment=environment, model=model)
        .select_related("model_version", "decision")
        .order_by("-logged_at", "-id")
    )
    filterset, rows, valid = filter_with(request, PredictionFilterSet, visible)
    listed = list_page(request, rows, PAGE_SIZE)
    for prediction in listed["page"].object_list:
        prediction.flags = quality_flags(prediction.quality)
    deployments = (
        Deployment.objects.restrict(request.user)
        .filter(environment=environment, model=model)
        .select_related("model_version")
        .order_by("-deployed_at", "-id")
    )
    context = {
        "section": "deployments",
        "environment": environment,
        "model": model,
        "filterset": filterset,
        "form": filterset.form,
        "valid": valid,
        **listed,
        "roles": DeploymentRole.choices,
        "deployment_choices": [(str(d.pk), f"#{d.pk} · v{d.model_version.number} ({d.role})") for d in deployments],
    }
    return render(request, "serving/prediction_log.html", context, status=200 if valid else 400)


@login_required
@require_GET
def decision_record(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    """One recorded decision: what was decided, by which version, for which logged request, and its statement of
    reasons as recorded."""
    record = get_object_or_404(
        DecisionRecord.objects.restrict(request.user).select_related(
            "prediction__environment",
            "prediction__model__team",
            "prediction__deployment",
            "model_version__model__team",
            "explanation_report",
            "reason_catalogue",
        ),
        uid=uid,
    )
    context = {
        "section": "deployments",
        "record": record,
        "prediction": record.prediction,
        "flags": quality_flags(record.prediction.quality),
        "statement": decision_statement_context(record),
    }
    return render(request, "serving/decision_record.html", context)
