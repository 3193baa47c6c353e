"""The use case pages: the list, and a use case with its KPIs charted and the models that serve it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from core.actors import acting_user
from core.ui import filter_with, list_page, visible_teams
from registry import actions
from registry.choices import RiskTier, VersionStatus
from registry.filtersets import UseCaseFilterSet
from registry.forms import RegistryEditForm
from registry.models import KpiObservation, ModelVersion, RegisteredModel, UseCase
from registry.presentation import number_text
from registry.views import shared
from registry.views.editing import edit_page, may_edit, require_editor, team_members
from registry.views.shared import as_text, audit_trail


@login_required
@require_GET
def use_case_list(request: HttpRequest) -> HttpResponse:
    use_cases = (
        UseCase.objects.restrict(request.user)
        .select_related("team", "owner")
        .annotate(model_count=Count("registered_models", distinct=True))
        .order_by("name", "team__slug", "pk")
    )
    filterset, rows, valid = filter_with(request, UseCaseFilterSet, use_cases)
    context = {
        "section": "use_cases",
        **list_page(request, rows, shared.PAGE_SIZE),
        "form": filterset.form,
        "risk_tiers": RiskTier.choices,
        "selected_tiers": request.GET.getlist("risk_tier"),
        "teams": visible_teams(request),
        "valid": valid,
    }
    return render(request, "registry/use_case_list.html", context, status=200 if valid else 400)


@dataclass
class KpiSeries:
    """One KPI of a use case with its observations, oldest first, and a small chart of them."""

    name: str
    unit: str
    baseline: float
    target: float
    description: str
    observations: list[KpiObservation]
    chart: dict[str, Any] | None

    @property
    def baseline_text(self) -> Any:
        return number_text(float(self.baseline))

    @property
    def target_text(self) -> Any:
        return number_text(float(self.target))

    @property
    def rows(self) -> list[tuple[KpiObservation, Any]]:
        """Newest first, each with its value as text."""
        return [(observation, number_text(observation.value)) for observation in reversed(self.observations)]

    @property
    def latest(self) -> KpiObservation | None:
        return self.observations[-1] if self.observations else None

    @property
    def target_met(self) -> bool | None:
        """Whether the latest value reached the target, in the direction from baseline to target."""
        if self.latest is None or self.baseline == self.target:
            return None
        if self.target < self.baseline:
            return self.latest.value <= self.target
        return self.latest.value >= self.target


CHART_WIDTH = 320
CHART_HEIGHT = 90
CHART_PAD = 6


def _chart(observations: list[KpiObservation], baseline: float, target: float) -> dict[str, Any] | None:
    """Coordinates of an inline SVG line chart (no script, no style attribute: the page's CSP allows neither)."""
    if len(observations) < 2:
        return None
    values = [observation.value for observation in observations]
    low, high = min([*values, baseline, target]), max([*values, baseline, target])
    span = (high - low) or 1.0
    first, last = observations[0].observed_at.timestamp(), observations[-1].observed_at.timestamp()
    duration = (last - first) or 1.0
    inner_w, inner_h = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD

    def y(value: float) -> float:
        return round(CHART_PAD + inner_h * (1 - (value - low) / span), 1)

    points = [
        (round(CHART_PAD + inner_w * (o.observed_at.timestamp() - first) / duration, 1), y(o.value))
        for o in observations
    ]
    if not all(math.isfinite(coordinate) for point in points for coordinate in point):
        return None
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "points": " ".join(f"{x},{y_}" for x, y_ in points),
        "last": points[-1],
        "baseline_y": y(baseline),
        "target_y": y(target),
        "x0": CHART_PAD,
        "x1": CHART_WIDTH - CHART_PAD,
    }


@login_required
@require_GET
def use_case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    use_case = get_object_or_404(
        UseCase.objects.restrict(request.user).select_related("team", "owner", "created_by"), pk=pk
    )
    observations: dict[str, list[KpiObservation]] = {}
    for observation in (
        KpiObservation.objects.restrict(request.user)
        .filter(use_case=use_case)
        .select_related("recorded_by")
        .order_by("kpi", "observed_at", "id")
    ):
        observations.setdefault(observation.kpi, []).append(observation)
    kpis = []
    for kpi in use_case.kpis if isinstance(use_case.kpis, list) else []:
        series = observations.get(kpi["name"], [])
        kpis.append(
            KpiSeries(
                name=kpi["name"],
                unit=kpi.get("unit", ""),
                baseline=kpi["baseline"],
                target=kpi["target"],
                description=kpi.get("description", ""),
                observations=series,
                chart=_chart(series, kpi["baseline"], kpi["target"]),
            )
        )
    models = (
        RegisteredModel.objects.restrict(request.user)
        .filter(use_case=use_case)
        .select_related("owner")
        .annotate(latest_number=Max("versions__number"))
        .prefetch_related(
            Prefetch(
                "versions",
                queryset=ModelVersion.objects.filter(status=VersionStatus.DEPLOYED).only("id", "model_id", "number"),
                to_attr="deployed_versions",
            )
        )
        .order_by("name")
    )
    context = {
        "section": "use_cases",
        "use_case": use_case,
        "kpis": kpis,
        "models": models,
        "may_edit": may_edit(request.user, use_case.team),
        "trail": audit_trail(
            request,
            use_case.team,
            [
                ("registry.usecase", use_case.pk),
                ("registry.kpiobservation", as_text(KpiObservation.objects.filter(use_case=use_case))),
            ],
            ("registry.usecase", use_case.pk),
        ),
    }
    return render(request, "registry/use_case_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def use_case_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The use case's metadata, as PATCH /api/v1/use-cases/{id}/ changes it (registry.actions.do_update_use_case)."""
    use_case = get_object_or_404(UseCase.objects.restrict(request.user).select_related("team", "owner"), pk=pk)
    require_editor(request.user, use_case.team, "use cases")
    form = RegistryEditForm(
        request.POST if request.method == "POST" else None, instance=use_case, members=team_members(use_case.team)
    )
    return edit_page(
        request,
        form,
        lambda **changes: actions.do_update_use_case(use_case, actor=acting_user(request.user), **changes),
        kind="use case",
        list_url=reverse("registry-use-case-list"),
        detail_url=reverse("registry-use-case-detail", args=[use_case.pk]),
        section="use_cases",
        api_path=f"/api/v1/use-cases/{use_case.pk}/",
    )
