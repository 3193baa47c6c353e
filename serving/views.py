"""Deployment history per environment: what serves now, and every deployment with who, when, which release and
whether it was a rollback. Read-only: deployments are only made through the gate (serving.actions.do_deploy).

Every page reads through ``restrict(user)``; list pages run a fixed number of queries whatever the number of rows.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from core.ui import list_page
from governance.models import Environment
from serving.models import Deployment

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
    # The newest deployment of each model in this environment is the one serving (serving.models.Deployment).
    newest = Deployment.objects.filter(environment=environment, model=OuterRef("model")).order_by("-deployed_at", "-id")
    current = visible.filter(pk=Subquery(newest.values("pk")[:1])).order_by("model__name", "model__team__slug")
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
        "filtered_model": next((d.model for d in current if str(d.model_id) == model), None),
    }
    return render(request, "serving/environment_detail.html", context)
