"""What the registry's pages share: their page sizes, the audit trail card, and the job forms' start.

The page sizes are read from this module when a page is built, so that one setting (or a test's monkeypatch of
``registry.views.shared.PAGE_SIZE``) changes every page. Lists, filters and pagination are ``core.ui``'s; how
metrics, contracts and privacy flags read is ``registry.presentation``'s (the release page shows them too).
"""

from __future__ import annotations

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
from registry.querysets import teams_for

PAGE_SIZE = 50
VERSION_PAGE_SIZE = 50
AUDIT_TRAIL_SIZE = 50
HISTORY_SIZE = 100


def as_text(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """The primary keys as text, as a subquery: the audit log stores an object's id in a text column."""
    return queryset.annotate(pk_text=Cast("pk", CharField())).values("pk_text")


def audit_trail(request: HttpRequest, team: Team, targets: Iterable[tuple[str, Any]], link: tuple[str, Any]) -> Any:
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
    rows = list(events[: AUDIT_TRAIL_SIZE + 1]) if readable else []
    return {
        "readable": readable,
        "events": rows[:AUDIT_TRAIL_SIZE],
        "more": len(rows) > AUDIT_TRAIL_SIZE,
        "log_query": urlencode({"target_type": link[0], "target_id": str(link[1])}),
    }


def can_see(request: HttpRequest, model_class: Any, pk: int) -> bool:
    return bool(model_class.objects.restrict(request.user).filter(pk=pk).exists())


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
