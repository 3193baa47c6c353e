"""Core's own dashboard sections (core.dashboard): an engineer's jobs, and for compliance officers the deployments the
gate refused lately (GATE_FAILED events of the audit log, which core keeps)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from core.choices import AuditEventType, Role
from core.dashboard import ROWS, Section, Viewer, is_builder, is_officer, register_section, render_section
from core.models import AuditEvent, Job
from core.querysets import member_team_ids

# How far back the failed gate attempts reach.
GATE_FAILURE_DAYS = 14


def my_jobs(request: HttpRequest, viewer: Viewer) -> SafeString:
    jobs = (
        Job.objects.restrict(viewer.user)
        .filter(requested_by_id=viewer.user.pk)
        .select_related("team", "requested_by")
        .order_by("-created_at", "-id")
    )
    return render_section(request, "my-jobs", "core/dash/my_jobs.html", {"jobs": jobs[:ROWS]})


def gate_failures(request: HttpRequest, viewer: Viewer) -> SafeString:
    since = timezone.now() - timedelta(days=GATE_FAILURE_DAYS)
    events = AuditEvent.objects.restrict(viewer.user).filter(
        event_type=AuditEventType.GATE_FAILED, occurred_at__gte=since
    )
    if not viewer.is_superuser:
        # The officer's own teams: an auditor's or reviewer's reach elsewhere is not what this card is about.
        events = events.filter(Q(team_id__in=member_team_ids(viewer.user, (Role.COMPLIANCE_OFFICER,))))
    query = urlencode({"event_type": AuditEventType.GATE_FAILED, "occurred_after": since.isoformat()})
    context = {
        "events": events.order_by("-seq")[:ROWS],
        "total": events.count(),
        "days": GATE_FAILURE_DAYS,
        "query": query,
    }
    return render_section(request, "gate-failures", "core/dash/gate_failures.html", context)


def register() -> None:
    register_section(Section("my-jobs", applies=is_builder, render=my_jobs, order=30))
    register_section(Section("gate-failures", applies=is_officer, render=gate_failures, order=60))
