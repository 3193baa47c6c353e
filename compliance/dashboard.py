"""Compliance's dashboard sections (core.dashboard): what comes due soon (approved DPIAs whose review date is near or
past, after which the approval has expired, compliance.models.DpiaVersion; data access grants whose term ends soon),
and the data access grants awaiting a side the viewer decides. Registered by ComplianceConfig.ready: core cannot
import compliance."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Exists, OuterRef
from django.http import HttpRequest
from django.utils import timezone
from django.utils.safestring import SafeString

from compliance.choices import GrantStatus
from compliance.dpia_rules import DpiaStatus
from compliance.grants import awaiting, grants_of_teams
from compliance.models import DataAccessGrant, DpiaVersion
from core.choices import Role
from core.dashboard import ROWS, Section, Viewer, is_officer, register_section, render_section

# Review dates and grant expiries within this many days are "soon".
DUE_DAYS = 30


def coming_due(request: HttpRequest, viewer: Viewer) -> SafeString:
    now = timezone.now()
    today = timezone.localdate(now)
    # The approved version in force: no later version of the same DPIA has been approved since.
    superseded = DpiaVersion.objects.filter(
        dpia_id=OuterRef("dpia_id"), status=DpiaStatus.APPROVED, number__gt=OuterRef("number")
    )
    reviews = (
        DpiaVersion.objects.restrict(viewer.user)
        .filter(status=DpiaStatus.APPROVED, review_date__lte=today + timedelta(days=DUE_DAYS))
        .exclude(Exists(superseded))
        .select_related("dpia__use_case__team")
        .order_by("review_date", "id")
    )
    grants = (
        DataAccessGrant.objects.restrict(viewer.user)
        .filter(status=GrantStatus.APPROVED, expires_at__gt=now, expires_at__lte=now + timedelta(days=DUE_DAYS))
        .select_related("dataset", "team", "owner_team", "use_case")
        .order_by("expires_at", "id")
    )
    context = {
        "reviews": reviews[:ROWS],
        "review_total": reviews.count(),
        "grants": grants[:ROWS],
        "grant_total": grants.count(),
        "today": today,
        "days": DUE_DAYS,
    }
    return render_section(request, "coming-due", "compliance/dash/coming_due.html", context)


def decides_grants(viewer: Viewer) -> bool:
    """Who decides a side of a grant: the owning team's admins and compliance officers (and superusers)."""
    return viewer.is_superuser or viewer.holds(Role.ADMIN, Role.COMPLIANCE_OFFICER)


def grants_awaiting(request: HttpRequest, viewer: Viewer) -> SafeString:
    """Open grants of a team where the viewer decides a side, not requested nor decided by them: oldest first."""
    rows = (
        awaiting(viewer.user)
        .filter(pk__in=grants_of_teams(viewer.user).values("pk"))
        .select_related("dataset", "team", "owner_team", "use_case", "requested_by")
        .order_by("requested_at", "id")
    )
    context = {"grants": rows[:ROWS], "total": rows.count(), "now": timezone.now()}
    return render_section(request, "grants-awaiting", "compliance/dash/grants_awaiting.html", context)


def register() -> None:
    register_section(Section("coming-due", applies=is_officer, render=coming_due, order=40))
    register_section(Section("grants-awaiting", applies=decides_grants, render=grants_awaiting, order=25))
