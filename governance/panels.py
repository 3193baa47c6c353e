"""Governance's panel on the registry's model page (registry.panels: the registry cannot import governance): the
model's releases, newest first, each with its status, version, environment, requester and a link."""

from __future__ import annotations

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from governance.models import Release
from registry.models import RegisteredModel

ROWS = 10


def model_releases_panel(request: HttpRequest, model: RegisteredModel) -> SafeString:
    releases = (
        Release.objects.restrict(request.user)
        .filter(model_version__model=model)
        .select_related("model_version", "environment", "requested_by")
        .order_by("-requested_at", "-id")
    )
    context = {
        "model": model,
        "releases": releases[:ROWS],
        "total": releases.count(),
        "query": urlencode({"team": model.team.slug, "model": model.name}),
    }
    return mark_safe(render_to_string("governance/_model_releases_panel.html", context, request=request))  # noqa: S308 (rendered by the template engine, every value escaped)
