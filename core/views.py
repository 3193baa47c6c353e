"""The web UI: server-rendered pages over the same actions and restricted querysets as the API.

Every page reads through ``Model.objects.restrict(user)`` (out of scope reads as 404) and every write calls an
action in ``core.actions`` or ``core.jobs``; nothing here saves a model.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from core import actions, audit
from core.actors import acting_user
from core.api.permissions import is_audit_reader
from core.choices import AuditEventType, BoardRole, JobStatus, Role
from core.dashboard import Viewer, sections_for
from core.filtersets import AuditEventFilterSet
from core.forms import CreateTokenForm, GrantMembershipForm, SignInForm
from core.jobs import BrokerUnavailable, dispatch_job, do_cancel_job, output_links
from core.models import ApiToken, AuditCheckpoint, AuditEvent, Job, Membership, Team
from core.querysets import CHANGE
from core.sso import sso_enabled
from core.ui import apply_validation_error, filter_with, list_page, visible_teams

AUDIT_PAGE_SIZE = 50
JOB_PAGE_SIZE = 50


def _remote_addr(request: HttpRequest) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is chosen by the client and would let it write any address into the log.
    return str(request.META.get("REMOTE_ADDR", ""))


# --- Sign in and out ----------------------------------------------------------------------------------------------


class SignInView(auth_views.LoginView):
    """Django's login view, writing every outcome to the audit log.

    django-axes counts failures per username; when it refuses an attempt it flags the request
    (``axes_locked_out``) and its middleware swaps the response for the lockout page. The flag is read here,
    after the form has run, so the lockout is recorded in the same place as the failure that caused it.
    """

    form_class = SignInForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.LOCAL_SIGN_IN:
            # Password sign-in is off (single sign-on only): the form is not shown, and a posted one is refused
            # before any backend sees the password.
            response = render(request, "registration/login.html", self.get_context_data(form=None), status=403)
            return response
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            local_sign_in=settings.LOCAL_SIGN_IN,
            sso_enabled=sso_enabled(),
            sso_provider=settings.OIDC_PROVIDER_NAME,
        )
        return context

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        # One transaction for the session row and the event: no sign-in without its record.
        with transaction.atomic():
            response = super().form_valid(form)
            actions.do_record_auth_event(
                AuditEventType.LOGIN_SUCCEEDED,
                actor=user,
                username=user.get_username(),
                remote_addr=_remote_addr(self.request),
            )
        return response

    def form_invalid(self, form: Any) -> HttpResponse:
        username = str(form.data.get("username", ""))
        if not username:
            # An empty form names no account and reached no authentication backend: nothing to record.
            return super().form_invalid(form)
        remote_addr = _remote_addr(self.request)
        actions.do_record_auth_event(
            AuditEventType.LOGIN_FAILED, actor=None, username=username, remote_addr=remote_addr
        )
        # True both for the failure that reaches the limit and for any attempt while the account stays locked.
        if getattr(self.request, "axes_locked_out", False):
            actions.do_record_auth_event(
                AuditEventType.LOGIN_LOCKED_OUT, actor=None, username=username, remote_addr=remote_addr
            )
        return super().form_invalid(form)


class SignOutView(auth_views.LogoutView):
    """POST only (Django 5); the event is written while the user is still known."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            actions.do_record_auth_event(
                AuditEventType.LOGOUT, actor=user, username=user.get_username(), remote_addr=_remote_addr(request)
            )
        return super().post(request, *args, **kwargs)


# --- Shared helpers -----------------------------------------------------------------------------------------------


def _require_audit_reader(request: HttpRequest) -> None:
    if not is_audit_reader(request.user):
        raise PermissionDenied("Only compliance officers, auditors and administrators may read the audit log.")


def _chain_status(user: Any) -> dict[str, Any]:
    """The chain verified now, the latest signed checkpoint and whether it still matches, for the banner."""
    report = audit.verify_chain()
    link_seq = report.head_seq if report.intact else report.broken_seq
    checkpoint = AuditCheckpoint.objects.first()
    checkpoint_check = (
        audit.verify_checkpoint(audit.export_checkpoint(checkpoint), chain=report) if checkpoint else None
    )
    return {
        "chain": report,
        "chain_link_seq": link_seq,
        "chain_link_visible": link_seq is not None and AuditEvent.objects.restrict(user).filter(seq=link_seq).exists(),
        "checkpoint": checkpoint,
        "checkpoint_ok": checkpoint_check[0] if checkpoint_check else None,
        "checkpoint_reason": checkpoint_check[1] if checkpoint_check else "",
    }


def _pretty(value: Any) -> str:
    return "" if value is None else json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


# --- Dashboard ----------------------------------------------------------------------------------------------------


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    teams: OrderedDict[Team, list[Membership]] = OrderedDict()
    for membership in Membership.objects.filter(user_id=user.pk or 0).select_related("team").order_by("team__slug"):
        teams.setdefault(membership.team, []).append(membership)
    viewer = Viewer(user, frozenset(m.role for memberships in teams.values() for m in memberships))
    context: dict[str, Any] = {
        "section": "dashboard",
        "sections": sections_for(request, viewer),
        "teams": teams.items(),
        "jobs": Job.objects.restrict(user).select_related("team", "requested_by")[:8],
        "is_audit_reader": is_audit_reader(user),
    }
    if context["is_audit_reader"]:
        context.update(_chain_status(user))
        context["events"] = AuditEvent.objects.restrict(user)[:10]
    return render(request, "core/dashboard.html", context)


# --- Teams --------------------------------------------------------------------------------------------------------


@login_required
@require_GET
def team_list(request: HttpRequest) -> HttpResponse:
    teams = Team.objects.restrict(request.user).prefetch_related("memberships")
    mine = set(Membership.objects.filter(user_id=request.user.pk or 0).values_list("team_id", flat=True))
    rows = [
        {"team": team, "members": len({m.user_id for m in team.memberships.all()}), "mine": team.pk in mine}
        for team in teams
    ]
    return render(request, "core/team_list.html", {"section": "teams", "rows": rows})


def _render_team(
    request: HttpRequest, team: Team, form: GrantMembershipForm | None = None, status: int = 200
) -> HttpResponse:
    can_admin = Team.objects.restrict(request.user, CHANGE).filter(pk=team.pk).exists()
    memberships = (
        Membership.objects.restrict(request.user)
        .filter(team=team)
        .select_related("user", "granted_by")
        .order_by("user__username", "board_role")
    )
    groups = [
        {"role": value, "label": label, "members": [m for m in memberships if m.role == value]}
        for value, label in Role.choices
    ]
    context = {
        "section": "teams",
        "team": team,
        "groups": groups,
        "member_count": len({m.user_id for m in memberships}),
        "service_accounts": team.service_accounts.select_related("user"),
        "can_admin": can_admin,
        "form": form or GrantMembershipForm(),
        "board_roles": BoardRole.choices,
    }
    return render(request, "core/team_detail.html", context, status=status)


@login_required
@require_GET
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    team = get_object_or_404(Team.objects.restrict(request.user), slug=slug)
    return _render_team(request, team)


def _team_for_admin(request: HttpRequest, slug: str) -> Team:
    team = get_object_or_404(Team.objects.restrict(request.user), slug=slug)
    if not Team.objects.restrict(request.user, CHANGE).filter(pk=team.pk).exists():
        raise PermissionDenied(f"Only the admins of {team.name} manage its members.")
    return team


@login_required
@require_POST
def membership_grant(request: HttpRequest, slug: str) -> HttpResponse:
    team = _team_for_admin(request, slug)
    form = GrantMembershipForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            membership = actions.do_grant_membership(
                team, actor=request.user, user=data["username"], role=data["role"], board_role=data["board_role"]
            )
        except ValidationError as exc:
            apply_validation_error(form, exc, {"user": "username"})
        else:
            messages.success(request, f"Granted {membership.get_role_display().lower()} to {data['username']}.")
            return redirect("team-detail", slug=team.slug)
    return _render_team(request, team, form, status=400)


@login_required
@require_POST
def membership_revoke(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    team = _team_for_admin(request, slug)
    membership = get_object_or_404(
        Membership.objects.restrict(request.user).filter(team=team).select_related("user", "team"), pk=pk
    )
    try:
        actions.do_revoke_membership(membership, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"Revoked {membership.get_role_display().lower()} from {membership.user.get_username()}."
        )
    return redirect("team-detail", slug=team.slug)


# --- Audit log ----------------------------------------------------------------------------------------------------


@login_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    _require_audit_reader(request)
    visible = AuditEvent.objects.restrict(request.user)
    filterset, events, valid = filter_with(request, AuditEventFilterSet, visible)
    context = {
        "section": "audit",
        "filterset": filterset,
        "form": filterset.form,
        **list_page(request, events, AUDIT_PAGE_SIZE),
        "valid": valid,
        "event_types": AuditEventType.choices,
        "selected_types": request.GET.getlist("event_type"),
        "teams": visible_teams(request),
        **_chain_status(request.user),
    }
    return render(request, "core/audit_log.html", context, status=200 if valid else 400)


@login_required
@require_GET
def audit_event_detail(request: HttpRequest, seq: int) -> HttpResponse:
    _require_audit_reader(request)
    event = get_object_or_404(AuditEvent.objects.restrict(request.user), seq=seq)
    recomputed = audit.compute_hash(event)
    previous = AuditEvent.objects.filter(seq=seq - 1).values("hash").first()
    context = {
        "section": "audit",
        "event": event,
        "before": _pretty(event.before),
        "after": _pretty(event.after),
        "metadata": _pretty(event.metadata),
        "recomputed": recomputed,
        "hash_ok": recomputed == event.hash,
        "link_ok": (previous["hash"] if previous else None) == event.prev_hash if seq > 1 else None,
        "prev_visible": AuditEvent.objects.restrict(request.user).filter(seq=seq - 1).exists(),
        "next_visible": AuditEvent.objects.restrict(request.user).filter(seq=seq + 1).exists(),
    }
    return render(request, "core/audit_event.html", context)


@login_required
@require_POST
def audit_verify(request: HttpRequest) -> HttpResponse:
    _require_audit_reader(request)
    if hasattr(request.user, "service_account"):
        raise PermissionDenied("Service accounts cannot start a verification.")
    try:
        job, _ = dispatch_job("audit.verify", actor=request.user)
    except BrokerUnavailable:
        return _service_unavailable(request, "The job service is unavailable, so the verification was not started.")
    messages.info(request, "Verification of the whole chain was started.")
    return redirect("job-detail", public_id=job.public_id)


def _service_unavailable(request: HttpRequest, message: str) -> HttpResponse:
    response = render(request, "503.html", {"message": message}, status=503)
    response["Retry-After"] = "5"
    return response


# --- Jobs ---------------------------------------------------------------------------------------------------------


@login_required
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = Job.objects.restrict(request.user).select_related("team", "requested_by")
    status = request.GET.get("status", "")
    if status in JobStatus.values:
        jobs = jobs.filter(status=status)
    context = {
        "section": "jobs",
        **list_page(request, jobs, JOB_PAGE_SIZE),
        "status": status,
        "statuses": JobStatus.choices,
    }
    return render(request, "core/job_list.html", context)


def _visible_job(request: HttpRequest, public_id: UUID) -> Job:
    return get_object_or_404(
        Job.objects.restrict(request.user).select_related("team", "requested_by"), public_id=public_id
    )


def _may_cancel(user: Any, job: Job) -> bool:
    # The same rule as the API: the requester, or an admin of the job's team.
    return job.requested_by_id == user.pk or Job.objects.restrict(user, CHANGE).filter(pk=job.pk).exists()


@login_required
@require_GET
def job_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    job = _visible_job(request, public_id)
    context = {
        "section": "jobs",
        "job": job,
        "log_lines": job.log_lines.all(),
        "result": _pretty(job.result) if job.result else "",
        "params": _pretty(job.params) if job.params else "",
        "can_cancel": not job.is_finished and _may_cancel(request.user, job),
        "duration": (job.finished_at - job.started_at) if job.started_at and job.finished_at else None,
        "outputs": output_links(job),
    }
    return render(request, "core/job_detail.html", context)


@login_required
@require_POST
def job_cancel(request: HttpRequest, public_id: UUID) -> HttpResponse:
    job = _visible_job(request, public_id)
    if not _may_cancel(request.user, job):
        raise PermissionDenied("Only the requester or a team admin may cancel this job.")
    if job.is_finished:
        messages.info(request, f"The job had already finished ({job.get_status_display().lower()}).")
    else:
        do_cancel_job(job, actor=acting_user(request.user))
        messages.success(request, "Cancellation requested.")
    return redirect("job-detail", public_id=job.public_id)


# --- API tokens ---------------------------------------------------------------------------------------------------


def _render_tokens(
    request: HttpRequest, form: CreateTokenForm, *, secret: str = "", created: ApiToken | None = None, status: int = 200
) -> HttpResponse:
    tokens = ApiToken.objects.restrict(request.user).select_related("user", "revoked_by")
    context = {
        "section": "tokens",
        "tokens": tokens,
        "form": form,
        "secret": secret,
        "created": created,
        "max_ttl": settings.API_TOKEN_MAX_TTL_DAYS,
    }
    response = render(request, "core/tokens.html", context, status=status)
    if secret:
        # The secret is shown exactly once: no browser or proxy may keep a copy of this page.
        response["Cache-Control"] = "no-store"
    return response


@login_required
def token_list(request: HttpRequest) -> HttpResponseBase:
    if request.method == "GET":
        return _render_tokens(request, CreateTokenForm())
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    form = CreateTokenForm(request.POST)
    if form.is_valid():
        try:
            token, secret = actions.do_create_token(
                actor=request.user, name=form.cleaned_data["name"], ttl_days=form.cleaned_data["ttl_days"]
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            return _render_tokens(request, CreateTokenForm(), secret=secret, created=token, status=201)
    return _render_tokens(request, form, status=400)


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken.objects.restrict(request.user), pk=pk)
    if token.revoked_at is not None:
        messages.info(request, f"Token “{token.name}” was already revoked.")
    else:
        actions.do_revoke_token(token, actor=request.user)
        messages.success(request, f"Revoked token “{token.name}”.")
    return redirect("tokens")
