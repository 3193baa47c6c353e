"""The data access grant pages (docs/grants.md): the grants of my teams (with those awaiting my side), a request
form, and a grant's page with its decisions and the buttons for whoever may decide, revoke or withdraw. Forms
validate; compliance.actions.grants writes."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from compliance import actions
from compliance.choices import GrantDecision, GrantStatus
from compliance.grant_forms import GrantRequestForm, GrantStepForm
from compliance.grants import awaiting, catalogue, covers, grants_of_teams, may_end, may_withdraw, open_sides, search
from compliance.models import DataAccessGrant
from core.actors import acting_user
from core.ui import apply_validation_error, paginate, query_without_page
from registry.models import Dataset, DatasetVersion, UseCase
from registry.querysets import teams_for

PAGE_SIZE = 25
STEPS = ("approve", "refuse", "revoke", "withdraw")


def _choices(request: HttpRequest) -> dict[str, list[tuple[Any, str]]]:
    teams = teams_for(request.user).order_by("name")
    team_ids = list(teams.values_list("pk", flat=True))
    return {
        "team": list(teams.values_list("slug", "name")),
        "dataset": [(row.pk, f"{row.team.slug} / {row.name}") for row in catalogue(exclude_team_ids=team_ids)],
        "use_case": [
            (row.pk, f"{row.name} ({row.team.slug})")
            for row in UseCase.objects.filter(team_id__in=team_ids).select_related("team").order_by("name")
        ],
    }


def _render_list(request: HttpRequest, *, form: GrantRequestForm | None = None, status: int = 200) -> HttpResponse:
    user = acting_user(request.user)
    rows = grants_of_teams(user)
    show = request.GET.get("show", "")
    if show == "awaiting":
        rows = rows.filter(pk__in=awaiting(user).values("pk"))
    elif show in GrantStatus.values:
        rows = rows.filter(status=show)
    rows = search(rows, request.GET.get("q", ""))
    choices = _choices(request)
    context = {
        "section": "grants",
        "page": paginate(request, rows, PAGE_SIZE),
        "query": query_without_page(request),
        "statuses": GrantStatus.choices,
        "show": show,
        "awaiting_count": awaiting(user).filter(pk__in=grants_of_teams(user).values("pk")).count(),
        "now": timezone.now(),
        "form": form if form is not None else (GrantRequestForm(choices=choices) if choices["team"] else None),
    }
    return render(request, "compliance/grants/index.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def grants(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _render_list(request)
    form = GrantRequestForm(request.POST, choices=_choices(request))
    if form.is_valid():
        data = dict(form.cleaned_data)
        team = get_object_or_404(teams_for(request.user), slug=data.pop("team"))
        dataset = get_object_or_404(Dataset, pk=data.pop("dataset"))
        use_case = get_object_or_404(UseCase, pk=data.pop("use_case"))
        try:
            grant = actions.do_request_grant(
                team, actor=acting_user(request.user), dataset=dataset, use_case=use_case, **data
            )
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, f"Requested {grant}: the owning team's admin and a compliance officer decide.")
            return redirect("compliance-grant", grant.pk)
    return _render_list(request, form=form, status=400)


def _render_grant(
    request: HttpRequest, grant: DataAccessGrant, form: GrantStepForm | None = None, status: int = 200
) -> Any:
    user = acting_user(request.user)
    grant = grants_of_teams(user).get(pk=grant.pk)
    covering = covers(grant)
    context = {
        "section": "grants",
        "grant": grant,
        "covers": covering,
        "decisions": list(grant.decisions.all()),
        "sides": open_sides(user, grant),
        "may_revoke": grant.status == GrantStatus.APPROVED and may_end(user, grant),
        "may_withdraw": grant.status in (GrantStatus.REQUESTED, GrantStatus.APPROVED) and may_withdraw(user, grant),
        # What the requesting team references while the grant covers it: the dataset's versions (ids, numbers,
        # fingerprints), not their rows.
        "versions": DatasetVersion.objects.filter(dataset=grant.dataset).order_by("-number")[:20] if covering else [],
        "form": form or GrantStepForm(),
    }
    return render(request, "compliance/grants/detail.html", context, status=status)


@login_required
@require_GET
def grant_detail(request: HttpRequest, pk: int) -> HttpResponse:
    grant = get_object_or_404(DataAccessGrant.objects.restrict(request.user), pk=pk)
    return _render_grant(request, grant)


@login_required
@require_POST
def grant_step(request: HttpRequest, pk: int, step: str) -> HttpResponse:
    if step not in STEPS:
        raise Http404("No such step.")
    grant = get_object_or_404(DataAccessGrant.objects.restrict(request.user), pk=pk)
    form = GrantStepForm(request.POST)
    form.is_valid()
    data = form.cleaned_data
    actor = acting_user(request.user)
    try:
        if step in ("approve", "refuse"):
            decision = GrantDecision.APPROVE if step == "approve" else GrantDecision.REFUSE
            actions.do_decide_grant(
                grant, actor=actor, side=data.get("side", ""), decision=decision, comment=data.get("comment", "")
            )
            word = "approval" if decision == GrantDecision.APPROVE else "refusal"
            messages.success(request, f"Your {word} for the {data.get('side')} side is recorded.")
        elif step == "revoke":
            actions.do_revoke_grant(grant, actor=actor, reason=data.get("comment", ""))
            messages.success(request, "The grant is revoked: the team may no longer use the dataset.")
        else:
            actions.do_withdraw_grant(grant, actor=actor, reason=data.get("comment", ""))
            messages.success(request, "The grant is withdrawn.")
    except ValidationError as error:
        messages_ = error.message_dict if hasattr(error, "error_dict") else {"": error.messages}
        for name, texts in messages_.items():
            for text in texts:
                form.add_error(None, f"{name}: {text}" if name and name not in ("side", "comment") else text)
        return _render_grant(request, grant, form, status=400)
    except PermissionDenied as denied:
        form.add_error(None, str(denied))
        return _render_grant(request, grant, form, status=403)
    return redirect("compliance-grant", grant.pk)
