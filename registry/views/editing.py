"""The edit pages of use cases, datasets and registered models: the web's PATCH.

Who may edit is the API's rule (``teams_for(user, CHANGE)``: the team's engineers and admins); another team's
object is a 404 before that, as on every page; anyone else who may see it gets a 403 and no form. The form
(registry.forms.RegistryEditForm) sends only the fields that changed to the same action as the API, which
validates, saves and records the audit event, or refuses and writes nothing: its refusal is shown on the field it
names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from core.models import Team
from core.ui import apply_validation_error
from registry.forms import RegistryEditForm
from registry.views.shared import may_start_jobs


def may_edit(user: Any, team: Team) -> bool:
    """Whether ``user`` may change the registry objects of ``team``: the update actions' own rule (the same one
    that lets them start jobs)."""
    return may_start_jobs(user, team)


def require_editor(user: Any, team: Team, what: str) -> None:
    if not may_edit(user, team):
        raise PermissionDenied(f"Only engineers and admins of team {team.slug} edit its {what}.")


def team_members(team: Team) -> list[str]:
    """The usernames an owner is chosen from: the team's members (the actions refuse anyone else)."""
    users = get_user_model().objects.filter(memberships__team=team).distinct()
    return [user.get_username() for user in users]


def edit_page(
    request: HttpRequest,
    form: RegistryEditForm,
    update: Callable[..., Any],
    *,
    kind: str,
    list_url: str,
    detail_url: str,
    section: str,
    api_path: str,
) -> HttpResponse:
    """GET shows the form; POST sends the changed fields to ``update`` (the action) and goes back to the object's
    page, or shows the form again with the errors (400)."""
    obj = form.instance
    status = 200
    if request.method == "POST":
        if form.is_valid():
            changes = form.changes()
            if not changes:
                messages.info(request, "Nothing changed.")
                return redirect(detail_url)
            try:
                update(**changes)
            except ValidationError as error:
                apply_validation_error(form, error)
            else:
                messages.success(
                    request, f"Saved {', '.join(str(form.fields[name].label or name) for name in changes)}."
                )
                return redirect(detail_url)
        status = 400
    context = {
        "section": section,
        "object": obj,
        "kind": kind,
        "list_url": list_url,
        "detail_url": detail_url,
        "api_path": api_path,
        "form": form,
    }
    return render(request, "registry/edit.html", context, status=status)
