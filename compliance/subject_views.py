"""Web pages of data-subject requests for compliance officers: the list and the form that records one, and a
request's page (search, report, downloads, erasure, close). docs/subject-requests.md."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from compliance.actions import subjects as actions
from compliance.api.subjects_views import export_response
from compliance.models import SubjectRequest, SubjectRequestStatus
from compliance.models.subjects import SUBJECT_POLICY
from compliance.subject_forms import CloseForm, SubjectRequestForm
from core.actors import acting_user
from core.jobs import BrokerUnavailable
from core.models import Job, Team
from core.querysets import CHANGE, member_team_ids
from core.refusals import Refusal
from core.ui import apply_validation_error, list_page

PAGE_SIZE = 50
OPEN_STATUSES = (SubjectRequestStatus.RECEIVED, SubjectRequestStatus.REPORTED)


def handled_teams(request: HttpRequest) -> QuerySet[Any]:
    """The teams whose data-subject requests the user handles (compliance officers; superusers: all)."""
    if request.user.is_superuser:
        return Team.objects.order_by("slug")
    return Team.objects.filter(pk__in=member_team_ids(request.user, SUBJECT_POLICY[CHANGE])).order_by("slug")


def unavailable(request: HttpRequest) -> HttpResponse:
    message = "The job service is unavailable: nothing was started."
    response = render(request, "503.html", {"message": message}, status=503)
    response["Retry-After"] = "5"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def request_list(request: HttpRequest) -> HttpResponse:
    teams = handled_teams(request)
    form = SubjectRequestForm(request.POST or None, teams=teams)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = actions.do_create_subject_request(
                data["team"],
                actor=acting_user(request.user),
                kind=data["kind"],
                subject_identifier=data["subject_identifier"],
                asked_by=data["asked_by"],
            )
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, f"{created} recorded; it is due on {created.due_at:%Y-%m-%d}.")
            return redirect("compliance-subject-request-detail", pk=created.pk)
    rows = SubjectRequest.objects.restrict(request.user).select_related("team").order_by("-received_at", "-pk")
    context = {
        "section": "subject_requests",
        "form": form,
        "may_create": teams.exists(),
        "now": timezone.now(),
        "open_statuses": OPEN_STATUSES,
        **list_page(request, rows, PAGE_SIZE),
    }
    return render(request, "compliance/subjects/request_list.html", context, status=400 if form.errors else 200)


def visible_request(request: HttpRequest, pk: int) -> SubjectRequest:
    found: SubjectRequest = get_object_or_404(
        SubjectRequest.objects.restrict(request.user).select_related("team", "created_by"), pk=pk
    )
    return found


@login_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    subject_request = visible_request(request, pk)
    return render_detail(request, subject_request, CloseForm())


def render_detail(
    request: HttpRequest, subject_request: SubjectRequest, close_form: CloseForm, status: int = 200
) -> HttpResponse:
    search = subject_request.searches.select_related("job").first()
    erasure = subject_request.erasures.select_related("job").first()
    jobs = Job.objects.filter(target_type=SubjectRequest._meta.label_lower, target_id=str(subject_request.pk)).order_by(
        "-created_at"
    )[:10]
    context = {
        "section": "subject_requests",
        "req": subject_request,
        "transitions": subject_request.transitions.all(),
        "search": search,
        "erasure": erasure,
        "jobs": jobs,
        "close_form": close_form,
        "is_open": subject_request.status != SubjectRequestStatus.CLOSED,
        "overdue": subject_request.status in OPEN_STATUSES and subject_request.due_at < timezone.now(),
    }
    return render(request, "compliance/subjects/request_detail.html", context, status=status)


@login_required
@require_POST
def request_search(request: HttpRequest, pk: int) -> HttpResponse:
    subject_request = visible_request(request, pk)
    try:
        job, _ = actions.do_request_subject_search(subject_request, actor=acting_user(request.user))
    except Refusal as refusal:
        messages.error(request, refusal.message)
        return redirect("compliance-subject-request-detail", pk=pk)
    except BrokerUnavailable:
        return unavailable(request)
    messages.info(request, "The search was started; this page shows its report once the job is done.")
    return redirect("job-detail", public_id=job.public_id)


@login_required
@require_POST
def request_erase(request: HttpRequest, pk: int) -> HttpResponse:
    subject_request = visible_request(request, pk)
    try:
        job, created = actions.do_request_subject_erasure(subject_request, actor=acting_user(request.user))
    except Refusal as refusal:
        messages.error(request, refusal.message)
        return redirect("compliance-subject-request-detail", pk=pk)
    except BrokerUnavailable:
        return unavailable(request)
    if not created:
        messages.info(request, "This request was already erased: nothing more was done.")
        return redirect("compliance-subject-request-detail", pk=pk)
    messages.info(request, "The erasure was started.")
    return redirect("job-detail", public_id=job.public_id)


@login_required
@require_POST
def request_close(request: HttpRequest, pk: int) -> HttpResponse:
    subject_request = visible_request(request, pk)
    form = CloseForm(request.POST)
    if form.is_valid():
        try:
            actions.do_close_subject_request(
                subject_request, actor=acting_user(request.user), reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, "The request is closed.")
            return redirect("compliance-subject-request-detail", pk=pk)
    return render_detail(request, subject_request, form, status=400)


@login_required
@require_POST
def request_export(request: HttpRequest, pk: int, search_pk: int) -> HttpResponse:
    subject_request = visible_request(request, pk)
    search = get_object_or_404(subject_request.searches.all(), pk=search_pk)
    fmt = request.POST.get("format", "json")
    if fmt not in ("json", "csv"):
        messages.error(request, "Download the report as JSON or CSV.")
        return redirect("compliance-subject-request-detail", pk=pk)
    actions.do_record_report_export(search, actor=acting_user(request.user), fmt=fmt)
    return export_response(search, fmt)


def job_output_links(job: Job) -> list[tuple[str, str]]:
    """A finished search or erasure job links back to its request's page (core.jobs.register_output_links)."""
    request = SubjectRequest.objects.filter(pk=job.params.get("request")).first()
    if request is None:
        return []
    label = "Search report" if job.kind == actions.SEARCH_JOB else "Erasure report"
    return [(f"{label} of {request}", reverse("compliance-subject-request-detail", args=[request.pk]))]
