"""The comparison page of a model's canary or shadow against its primary in one environment (serving.comparison),
and its buttons: promote the trial, end it, or roll back. The buttons post to ``route_change``, which calls the
serving actions (the gate for anything deployed, the permission checked again there, the audit event written);
nothing here writes a model.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.actors import acting_user
from core.querysets import CHANGE
from governance.models import Environment
from registry.models import RegisteredModel
from serving import actions
from serving.comparison import DEFAULT_WINDOW, WINDOWS, compare, trial_roles
from serving.models import Route


def _route_for(request: HttpRequest, slug: str, pk: int) -> Route:
    environment = get_object_or_404(Environment.objects.restrict(request.user), slug=slug)
    route: Route = get_object_or_404(
        Route.objects.restrict(request.user).select_related(
            "environment",
            "model__team",
            "primary__model_version",
            "primary__release",
            "canary__model_version",
            "canary__release",
            "shadow__model_version",
            "shadow__release",
        ),
        environment=environment,
        model_id=pk,
    )
    return route


@login_required
@require_GET
def route_compare(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """A model's trial (canary or shadow) against its primary in one environment, over a chosen window."""
    route = _route_for(request, slug, pk)
    roles = trial_roles(route)
    role = request.GET.get("role", "")
    role = role if role in roles else (roles[0] if roles else "")
    window = request.GET.get("window", DEFAULT_WINDOW)
    window = window if window in WINDOWS else DEFAULT_WINDOW
    comparison = compare(route, role, window) if role and route.primary_id else None
    context = {
        "section": "deployments",
        "route": route,
        "environment": route.environment,
        "roles": roles,
        "role": role,
        "windows": [(key, label) for key, (label, _) in WINDOWS.items()],
        "window": window,
        "comparison": comparison,
        "charts": [comparison.chart()] if comparison and (comparison.primary.rows or comparison.trial.rows) else [],
        "can_change": RegisteredModel.objects.restrict(request.user, CHANGE).filter(pk=route.model_id).exists(),
    }
    return render(request, "serving/compare.html", context)


ROUTE_CHANGES = ("promote", "end-trial", "rollback")


@login_required
@require_POST
def route_change(request: HttpRequest, slug: str, pk: int, change: str) -> HttpResponse:
    """The comparison page's buttons: promote the trial, end it, or roll back to the previous primary, each through
    its action (which checks the permission again and writes the audit event). The outcome is a message on the
    comparison page, a refusal of the gate with every failed check."""
    if change not in ROUTE_CHANGES:
        raise Http404("No such change.")
    route = _route_for(request, slug, pk)
    model, environment = route.model, route.environment
    if not RegisteredModel.objects.restrict(request.user, CHANGE).filter(pk=model.pk).exists():
        raise PermissionDenied("Only engineers and admins of the model's team promote, end trials and roll back.")
    actor = acting_user(request.user)
    try:
        if change == "promote":
            deployment = actions.do_promote(model, environment, actor=actor, role=request.POST.get("role", ""))
            done = f"Promoted: v{deployment.model_version.number} is the primary now."
        elif change == "end-trial":
            role = request.POST.get("role", "")
            actions.do_end_trial(model, environment, actor=actor, role=role)
            done = f"Ended the {role}: the primary answers every request."
        else:
            deployment = actions.do_rollback(model, environment, actor=actor)
            done = f"Rolled back: v{deployment.model_version.number} is the primary again."
    except actions.GateRefused as refused:
        failed = "; ".join(f"{check['name']}: {check['reason']}" for check in refused.failed)
        messages.error(request, f"The deployment gate refused: {failed}")
    except ValidationError as invalid:
        messages.error(request, " ".join(invalid.messages))
    else:
        messages.success(request, done)
    return redirect(reverse("serving-route-compare", args=[environment.slug, model.pk]))
