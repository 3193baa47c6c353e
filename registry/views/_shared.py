"""Helpers the registry's pages share: list filters and pages, the audit trail card, metrics and privacy markers."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import urlencode

from core.jobs import BrokerUnavailable
from core.models import AuditEvent, Membership, Team
from core.querysets import CHANGE
from registry import views as package
from registry.querysets import teams_for

# The privacy flags of a schema column, in the order the schema table shows them, with the words it shows:
# a marker is always text (and a tooltip says what it means), never a colour alone.
PRIVACY_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("personal_data", "Personal data", "Relates to an identified or identifiable person (GDPR art. 4)."),
    ("special_category", "Special category", "Special-category personal data (GDPR art. 9): health, ethnicity..."),
    ("protected_attribute", "Protected attribute", "A characteristic fairness is measured against."),
    ("prohibited_input", "Prohibited input", "Must not be used as a model input."),
)


def _query_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


def _filtered(request: HttpRequest) -> bool:
    return any(value for key, value in request.GET.items() if key != "page")


def _as_text(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """The primary keys as text, as a subquery: the audit log stores an object's id in a text column."""
    return queryset.annotate(pk_text=Cast("pk", CharField())).values("pk_text")


def _audit_trail(request: HttpRequest, team: Team, targets: Iterable[tuple[str, Any]], link: tuple[str, Any]) -> Any:
    """The newest audit events about the given objects that the user may read, with a link to the full log.

    ``targets`` pairs an object type (``registry.registeredmodel``) with one id or a subquery of ids (as text);
    ``link`` names the main object, whose events the audit log page filters on.
    """
    user = request.user
    readable = (
        user.is_superuser
        or Membership.objects.filter(
            user_id=user.pk or 0, team=team, role__in=AuditEvent.access_policy["view"]
        ).exists()
    )
    condition = Q()
    for target_type, ids in targets:
        lookup = "target_id__in" if isinstance(ids, QuerySet) else "target_id"
        condition |= Q(target_type=target_type, **{lookup: ids if isinstance(ids, QuerySet) else str(ids)})
    events = AuditEvent.objects.restrict(user).filter(condition)
    rows = list(events[: package.AUDIT_TRAIL_SIZE + 1]) if readable else []
    return {
        "readable": readable,
        "events": rows[: package.AUDIT_TRAIL_SIZE],
        "more": len(rows) > package.AUDIT_TRAIL_SIZE,
        "log_query": urlencode({"target_type": link[0], "target_id": str(link[1])}),
    }


def _filterset(request: HttpRequest, filterset_class: Any, queryset: QuerySet[Any]) -> tuple[Any, QuerySet[Any], bool]:
    filterset = filterset_class(request.GET or None, queryset=queryset)
    valid = filterset.is_valid() if filterset.is_bound else True
    return filterset, (filterset.qs if valid else queryset.none()), valid


def _visible_teams(request: HttpRequest) -> Any:
    return Team.objects.restrict(request.user).order_by("name").values_list("slug", "name")


def _can_see(request: HttpRequest, model_class: Any, pk: int) -> bool:
    return bool(model_class.objects.restrict(request.user).filter(pk=pk).exists())


def _flat_metrics(metrics: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``{"test": {"auc": 0.9}}`` as ``[("test.auc", "0.9")]``, sorted by name: PostgreSQL's JSONB does not keep
    the order the client sent, so any other order would differ between databases."""
    rows: list[tuple[str, Any]] = []
    if not isinstance(metrics, dict):
        return rows
    for key, value in sorted(metrics.items(), key=lambda item: (str(item[0]).casefold(), str(item[0]))):
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_flat_metrics(value, f"{name}."))
        elif isinstance(value, list):
            rows.append((name, json.dumps(value, ensure_ascii=False)))
        else:
            rows.append((name, _number(value)))
    return rows


def _number(value: Any) -> Any:
    """A number as people read it: ``12`` for 12.0, ``0.934`` for 0.934, six significant digits at most."""
    if isinstance(value, float) and math.isfinite(value):
        return format(value, ".6g")
    return value


def may_start_jobs(user: Any, team: Team) -> bool:
    """Whether ``user`` may ask for jobs on the registry objects of ``team``: the actions' own rule (engineers and
    admins of the team), asked before a form is shown or read."""
    return bool(teams_for(user, CHANGE).filter(pk=team.pk).exists())


def start_job(request: HttpRequest, form: Any, kind: str, start: Any, started: str) -> tuple[HttpResponse | None, int]:
    """Run a job form's action: ``start(**form.action_arguments())``, as the API would.

    Returns the redirect to the job's page (a second submission of the same form finds the job the first started,
    and says so), or ``(None, status)`` with the refusal on the form: 400 for the action's ValidationError on the
    field it names, 503 when the broker is down (nothing was written: core.jobs checks before it writes).
    """
    if not form.is_valid():
        return None, 400
    try:
        job, created = start(**form.action_arguments())
    except ValidationError as error:
        form.apply_action_error(error)
        return None, 400
    except BrokerUnavailable:
        form.add_error(None, "The job service is unavailable, so no job was started. Try again in a moment.")
        return None, 503
    if not created:
        messages.info(request, "This form was already sent: here is the job it started.")
    else:
        messages.success(request, started)
    return redirect("job-detail", public_id=job.public_id), 200
