"""The release policy pages: the list, a policy with its versions, and the forms that create a policy and write a
policy's next version.

A change is saved in two steps. The first submits the rules and shows which open releases they affect
(governance.impact runs the very action in a transaction it rolls back, so a refusal already shows there, on the
field it names); the second confirms and calls the action for real. The confirmation carries the digest of what was
previewed: rules changed in between are previewed again rather than saved unseen. Who may manage a policy is the
action's rule (governance.actions.boards.may_manage); another team's policy is a 404 like a missing one, and
someone who may read a policy but not manage it (an engineer of its team) gets a 403 and no form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from core.actors import acting_user
from core.models import Team
from core.ui import apply_validation_error, is_filtered, paginate, query_without_page, visible_teams
from governance import actions
from governance.actions.boards import may_manage
from governance.board_views import may_create_boards
from governance.forms.policies import SAVE, PolicyCreateForm, PolicyRulesForm
from governance.impact import PolicyImpact, preview_policy_change
from governance.models import Environment, ReleasePolicy, ReleasePolicyVersion, ReviewBoard
from governance.views import PAGE_SIZE, POLICY_TIERS, role_rows
from registry.choices import RiskTier

# --- Policies -----------------------------------------------------------------------------------------------------


def _current_versions() -> Prefetch:
    # Versions are few per policy and immutable: all of them in one query, newest first, and the page takes the first.
    return Prefetch(
        "versions", queryset=ReleasePolicyVersion.objects.order_by("-number"), to_attr="versions_newest_first"
    )


@login_required
@require_GET
def policy_list(request: HttpRequest) -> HttpResponse:
    policies = (
        ReleasePolicy.objects.restrict(request.user)
        .select_related("team", "environment", "board")
        .prefetch_related(_current_versions())
        .order_by("environment__rank", "environment__slug", "risk_tier", "team__slug", "name", "pk")
    )
    environment = request.GET.get("environment", "")
    team = request.GET.get("team", "")
    risk_tier = request.GET.get("risk_tier", "")
    valid = True
    if environment:
        policies = policies.filter(environment__slug=environment)
    if team == "-":
        policies = policies.filter(team__isnull=True)
    elif team:
        policies = policies.filter(team__slug=team)
    if risk_tier in POLICY_TIERS:
        policies = policies.filter(risk_tier=risk_tier)
    elif risk_tier:
        valid, policies = False, policies.none()
    page = paginate(request, policies, PAGE_SIZE)
    rows = []
    for policy in page.object_list:
        current = policy.versions_newest_first[0] if policy.versions_newest_first else None
        rows.append(
            {"policy": policy, "current": current, "roles": role_rows(current.required_roles if current else {})}
        )
    context = {
        "section": "policies",
        "page": page,
        "rows": rows,
        "query": query_without_page(request),
        "filtered": is_filtered(request),
        "environments": Environment.objects.restrict(request.user).values_list("slug", "name"),
        "teams": visible_teams(request),
        "risk_tiers": [(value, label) for value, label in RiskTier.choices if value in POLICY_TIERS],
        "selected": {"environment": environment, "team": team, "risk_tier": risk_tier},
        "valid": valid,
        "may_create": may_create_boards(request.user),
    }
    return render(request, "governance/policy_list.html", context, status=200 if valid else 400)


@login_required
@require_GET
def policy_detail(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(
        ReleasePolicy.objects.restrict(request.user).select_related("team", "environment", "board", "created_by"),
        pk=pk,
    )
    versions = (
        ReleasePolicyVersion.objects.restrict(request.user)
        .filter(policy=policy)
        .select_related("created_by")
        .annotate(release_count=Count("releases"))
        .order_by("-number")
    )
    context = {
        "section": "policies",
        "policy": policy,
        "versions": [{"version": v, "roles": role_rows(v.required_roles)} for v in versions],
        "board_visible": ReviewBoard.objects.restrict(request.user).filter(pk=policy.board_id).exists(),
        "may_manage": may_manage(acting_user(request.user), policy.team),
    }
    return render(request, "governance/policy_detail.html", context)


# --- Writing a policy ---------------------------------------------------------------------------------------------


def _policy_form_page(
    request: HttpRequest,
    form: PolicyRulesForm,
    *,
    write: Callable[[], ReleasePolicyVersion],
    scope: Callable[[], tuple[Environment, str, Team | None]],
    context: dict[str, Any],
    base: int | None = None,
) -> HttpResponse | ReleasePolicyVersion:
    """The two steps of a policy change: the saved version, or the page to show (the form with its errors, or the
    preview with the confirm button)."""
    impact: PolicyImpact | None = None
    if request.method == "POST" and form.is_valid():
        digest = form.digest(base)
        try:
            if request.POST.get("step") == SAVE and form.cleaned_data["previewed"] == digest:
                return write()
            environment, risk_tier, team = scope()
            impact = preview_policy_change(
                user=acting_user(request.user), environment=environment, risk_tier=risk_tier, team=team, write=write
            )
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            context["digest"] = digest
    status = 400 if request.method == "POST" and form.errors else 200
    return render(request, "governance/policy_form.html", {**context, "form": form, "impact": impact}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def policy_create(request: HttpRequest) -> HttpResponse:
    if not may_create_boards(request.user):
        raise PermissionDenied("Only compliance officers and admins of a team write release policies.")
    form = PolicyCreateForm(request.POST or None, user=acting_user(request.user))
    actor = acting_user(request.user)

    def write() -> ReleasePolicyVersion:
        data = form.cleaned_data
        rules = form.rules()
        policy = actions.do_create_policy(
            actor=actor,
            team=form.owner(),
            name=data["name"],
            environment=data["environment"],
            risk_tier=data["risk_tier"],
            board=data["board"],
            **rules,
        )
        return ReleasePolicyVersion.objects.get(policy=policy, number=1)

    def scope() -> tuple[Environment, str, Team | None]:
        return form.cleaned_data["environment"], form.cleaned_data["risk_tier"], form.owner()

    result = _policy_form_page(request, form, write=write, scope=scope, context={"section": "policies", "policy": None})
    if isinstance(result, ReleasePolicyVersion):
        messages.success(request, f"Created policy {result.policy.name} with version 1.")
        return redirect("governance-policy-detail", result.policy_id)
    return result


@login_required
@require_http_methods(["GET", "POST"])
def policy_version_create(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(
        ReleasePolicy.objects.restrict(request.user).select_related("team", "environment", "board"), pk=pk
    )
    if not may_manage(acting_user(request.user), policy.team):
        raise PermissionDenied("You may read this policy, but not change it.")
    current = ReleasePolicyVersion.objects.filter(policy=policy).order_by("-number").first()
    initial = PolicyRulesForm.initial_from(current) if current else {}
    form = PolicyRulesForm(request.POST or None, initial=initial, risk_tier=policy.risk_tier)
    actor = acting_user(request.user)

    def write() -> ReleasePolicyVersion:
        return actions.do_add_policy_version(policy, actor=actor, **form.rules())

    def scope() -> tuple[Environment, str, Team | None]:
        return policy.environment, policy.risk_tier, policy.team

    context = {"section": "policies", "policy": policy, "current": current}
    result = _policy_form_page(
        request, form, write=write, scope=scope, context=context, base=current.number if current else None
    )
    if isinstance(result, ReleasePolicyVersion):
        messages.success(request, f"Saved version {result.number} of {policy.name}.")
        return redirect("governance-policy-detail", policy.pk)
    return result
