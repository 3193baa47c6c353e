"""The registry's dashboard section (core.dashboard), for compliance officers: models that serve no recorded use case
and use cases without a risk tier (rows written before the tier was required, or by an import), which no release
policy can govern."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.safestring import SafeString

from core.dashboard import ROWS, Section, Viewer, is_officer, register_section, render_section
from registry.choices import RiskTier
from registry.models import RegisteredModel, UseCase


def unclassified(request: HttpRequest, viewer: Viewer) -> SafeString:
    models = (
        RegisteredModel.objects.restrict(viewer.user)
        .filter(use_case__isnull=True)
        .select_related("team", "owner")
        .order_by("team__slug", "name", "id")
    )
    use_cases = (
        UseCase.objects.restrict(viewer.user)
        .exclude(risk_tier__in=RiskTier.values)
        .select_related("team")
        .order_by("team__slug", "name", "id")
    )
    context = {
        "models": models[:ROWS],
        "model_total": models.count(),
        "use_cases": use_cases[:ROWS],
        "use_case_total": use_cases.count(),
    }
    return render_section(request, "unclassified", "registry/dash/unclassified.html", context)


def register() -> None:
    register_section(Section("unclassified", applies=is_officer, render=unclassified, order=50))
