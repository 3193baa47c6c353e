"""The DPIA pages for compliance officers and privacy reviewers: the list, a DPIA read as a document (and as a
PDF), the forms to create, edit, screen and submit one, the privacy reviewer's approve/return, a new version, and
the column reclassification form. Views validate input and call compliance.actions; refusals are shown on the field
they name."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from compliance import actions
from compliance.actions.dpia import authors_of, may_write
from compliance.dpia import criteria_rows, is_expired, reclassified_since
from compliance.dpia_forms import (
    CommentForm,
    DpiaCreateForm,
    DpiaEditForm,
    ReclassifyForm,
    ReviewForm,
    RiskFormSet,
    ScreeningForm,
)
from compliance.dpia_querysets import DPIA_WRITER_ROLES, REVIEW
from compliance.dpia_rules import TEXT_SECTIONS, DpiaStatus
from compliance.models import ColumnReclassification, Dpia, DpiaTransition, DpiaVersion
from core.actors import acting_user
from core.pdf import render_pdf
from core.querysets import member_team_ids
from core.refusals import Refusal
from core.ui import apply_validation_error, list_page, visible_teams
from registry.choices import LegalBasis
from registry.models import Dataset, RegisteredModel, UseCase

PAGE_SIZE = 25


def show_error(form: Form, error: Refusal | ValidationError) -> None:
    """An action's refusal or validation error, on the field it names when the form has it."""
    if isinstance(error, Refusal):
        form.add_error(error.field if error.field in form.fields else None, error.message)
    else:
        apply_validation_error(form, error)


def visible_dpia(request: HttpRequest, pk: int) -> Dpia:
    versions = DpiaVersion.objects.select_related("created_by", "model").prefetch_related(
        Prefetch("transitions", queryset=DpiaTransition.objects.order_by("at", "id"))
    )
    dpia: Dpia = get_object_or_404(
        Dpia.objects.restrict(request.user)
        .select_related("use_case__team", "created_by")
        .prefetch_related(Prefetch("versions", queryset=versions.order_by("-number"))),
        pk=pk,
    )
    return dpia


def writable_dpia(request: HttpRequest, pk: int) -> Dpia:
    dpia = visible_dpia(request, pk)
    if not may_write(acting_user(request.user), dpia.use_case.team):
        raise PermissionDenied(f"Only compliance officers and admins of team {dpia.use_case.team.slug} write DPIAs.")
    return dpia


def newest(dpia: Dpia) -> DpiaVersion:
    return next(iter(dpia.versions.all()))


def shown_version(request: HttpRequest, dpia: Dpia) -> DpiaVersion:
    versions = list(dpia.versions.all())
    number = request.GET.get("version", "")
    if not number:
        return versions[0]
    for version in versions:
        if str(version.number) == number:
            return version
    raise Http404("No such version.")


def document_context(dpia: Dpia, version: DpiaVersion) -> dict[str, Any]:
    """What the document (the page's body and the PDF) reads."""
    return {
        "dpia": dpia,
        "version": version,
        "use_case": dpia.use_case,
        "criteria": criteria_rows(version),
        "sections": [(key, title, getattr(version, key)) for key, title in TEXT_SECTIONS.items()],
        "legal_basis": LegalBasis(version.legal_basis).label if version.legal_basis else "",
        "expired": is_expired(version, timezone.localdate()),
        "reclassified": reclassified_since(version),
        "transitions": list(version.transitions.all()),
        "generated_at": timezone.now(),
    }


@login_required
def dpia_list(request: HttpRequest) -> HttpResponse:
    dpias = (
        Dpia.objects.restrict(request.user)
        .select_related("use_case__team")
        .prefetch_related(Prefetch("versions", queryset=DpiaVersion.objects.order_by("-number")))
        .order_by("use_case__team__slug", "use_case__name", "pk")
    )
    team = request.GET.get("team", "")
    status = request.GET.get("status", "")
    valid = status in ("", *DpiaStatus.values)
    if team:
        dpias = dpias.filter(use_case__team__slug=team)
    rows = []
    today = timezone.localdate()
    for dpia in dpias if valid else []:
        latest = newest(dpia)
        if status and latest.status != status:
            continue
        rows.append({"dpia": dpia, "latest": latest, "expired": is_expired(latest, today)})
    writer = request.user.is_superuser or member_team_ids(request.user, DPIA_WRITER_ROLES).exists()
    context = {
        "section": "dpias",
        **list_page(request, rows, PAGE_SIZE),
        "teams": visible_teams(request),
        "statuses": DpiaStatus.choices,
        "selected": {"team": team, "status": status},
        "valid": valid,
        "can_create": writer,
    }
    return render(request, "compliance/dpia/list.html", context, status=200 if valid else 400)


@login_required
def dpia_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dpia = visible_dpia(request, pk)
    version = shown_version(request, dpia)
    latest = newest(dpia)
    user = acting_user(request.user)
    may_review = (
        latest.status == DpiaStatus.SUBMITTED
        and Dpia.objects.restrict(user, REVIEW).filter(pk=dpia.pk).exists()
        and user.pk not in authors_of(latest)
    )
    context = {
        "section": "dpias",
        **document_context(dpia, version),
        "versions": list(dpia.versions.all()),
        "latest": latest,
        "is_latest": version.pk == latest.pk,
        "can_write": may_write(user, dpia.use_case.team),
        "may_review": may_review,
        "review_form": ReviewForm(),
        "submit_form": CommentForm(),
    }
    return render(request, "compliance/dpia/detail.html", context)


@login_required
def dpia_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The version as a PDF for the file (WeasyPrint), with the print stylesheet."""
    dpia = visible_dpia(request, pk)
    version = shown_version(request, dpia)
    html = render_to_string("compliance/dpia/pdf.html", document_context(dpia, version), request=request)
    pdf = render_pdf(html, "css/dpia-print.css")
    response = HttpResponse(pdf, content_type="application/pdf")
    name = f"dpia-{dpia.use_case.team.slug}-{dpia.pk}-v{version.number}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def team_choices(user: Any, use_case: UseCase | None = None) -> tuple[Any, Any]:
    """The datasets and models a DPIA form offers: those the user sees (of the use case's team when known); the
    action refuses another team's."""
    datasets = Dataset.objects.restrict(user)
    models = RegisteredModel.objects.restrict(user)
    if use_case is not None:
        datasets = datasets.filter(team_id=use_case.team_id)
        models = models.filter(use_case_id=use_case.pk)
    return datasets, models


@login_required
@require_http_methods(["GET", "POST"])
def dpia_create(request: HttpRequest) -> HttpResponse:
    user = acting_user(request.user)
    teams = member_team_ids(user, DPIA_WRITER_ROLES)
    use_cases = UseCase.objects.restrict(user).filter(dpias__isnull=True).select_related("team").order_by("name")
    if not user.is_superuser:
        use_cases = use_cases.filter(team_id__in=teams)
    form = DpiaCreateForm(request.POST or None, use_cases=use_cases)
    form.limit_to(*team_choices(user))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            version = actions.do_create_dpia(
                data["use_case"], actor=user, datasets=list(data["datasets"]), model=data["model"]
            )
        except (Refusal, ValidationError) as error:
            show_error(form, error)
        else:
            messages.success(request, "DPIA opened as a draft, pre-filled from its datasets. Screen it next.")
            return redirect("compliance-dpia-detail", version.dpia_id)
    status = 400 if request.method == "POST" else 200
    return render(request, "compliance/dpia/create.html", {"section": "dpias", "form": form}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def dpia_edit(request: HttpRequest, pk: int) -> HttpResponse:
    dpia = writable_dpia(request, pk)
    version = newest(dpia)
    user = acting_user(request.user)
    posted = request.POST if request.method == "POST" else None
    form = DpiaEditForm(posted, initial=DpiaEditForm.initial_of(version))
    form.limit_to(*team_choices(user, dpia.use_case))
    risks = RiskFormSet(posted, initial=version.risks, prefix="risks")
    if request.method == "POST" and form.is_valid() and risks.is_valid():
        changes = dict(form.cleaned_data)
        changes["datasets"] = list(changes["datasets"])
        changes["risks"] = [risk for risk in (row.risk() for row in risks) if risk is not None]
        try:
            actions.do_edit_dpia(dpia, actor=user, **changes)
        except (Refusal, ValidationError) as error:
            show_error(form, error)
        else:
            messages.success(request, f"Saved version {version.number} of the DPIA.")
            return redirect("compliance-dpia-detail", dpia.pk)
    context = {"section": "dpias", "dpia": dpia, "version": version, "form": form, "risks": risks}
    return render(request, "compliance/dpia/edit.html", context, status=400 if request.method == "POST" else 200)


@login_required
@require_http_methods(["GET", "POST"])
def dpia_screen(request: HttpRequest, pk: int) -> HttpResponse:
    dpia = writable_dpia(request, pk)
    version = newest(dpia)
    form = ScreeningForm(request.POST or None, initial=ScreeningForm.initial_of(version))
    if request.method == "POST" and form.is_valid():
        try:
            screened = actions.do_screen_dpia(dpia, actor=acting_user(request.user), criteria=form.criteria())
        except (Refusal, ValidationError) as error:
            show_error(form, error)
        else:
            messages.success(request, screened.screening_reason)
            return redirect("compliance-dpia-detail", dpia.pk)
    context = {"section": "dpias", "dpia": dpia, "version": version, "form": form}
    return render(request, "compliance/dpia/screen.html", context, status=400 if request.method == "POST" else 200)


def redisplay(request: HttpRequest, dpia: Dpia, **forms: Form) -> HttpResponse:
    """The detail page again, with a refused form's errors (400)."""
    version = newest(dpia)
    user = acting_user(request.user)
    context = {
        "section": "dpias",
        **document_context(dpia, version),
        "versions": list(dpia.versions.all()),
        "latest": version,
        "is_latest": True,
        "can_write": may_write(user, dpia.use_case.team),
        "may_review": "review_form" in forms,
        "review_form": ReviewForm(),
        "submit_form": CommentForm(),
        **forms,
    }
    return render(request, "compliance/dpia/detail.html", context, status=400)


@login_required
@require_POST
def dpia_submit(request: HttpRequest, pk: int) -> HttpResponse:
    dpia = writable_dpia(request, pk)
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            actions.do_submit_dpia(dpia, actor=acting_user(request.user), comment=form.cleaned_data["comment"])
        except (Refusal, ValidationError) as error:
            show_error(form, error)
        else:
            messages.success(request, "Submitted to the privacy reviewer.")
            return redirect("compliance-dpia-detail", dpia.pk)
    return redisplay(request, visible_dpia(request, pk), submit_form=form)


@login_required
@require_POST
def dpia_review(request: HttpRequest, pk: int) -> HttpResponse:
    dpia = visible_dpia(request, pk)
    form = ReviewForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            actions.do_review_dpia(
                dpia, actor=acting_user(request.user), decision=data["decision"], comment=data["comment"]
            )
        except Refusal as refusal:
            if refusal.status == 403:
                raise PermissionDenied(refusal.message) from None
            show_error(form, refusal)
        except ValidationError as error:
            show_error(form, error)
        else:
            done = "Approved" if data["decision"] == "approve" else "Returned to its author"
            messages.success(request, f"{done}.")
            return redirect("compliance-dpia-detail", dpia.pk)
    return redisplay(request, visible_dpia(request, pk), review_form=form)


@login_required
@require_POST
def dpia_new_version(request: HttpRequest, pk: int) -> HttpResponse:
    dpia = writable_dpia(request, pk)
    try:
        version = actions.do_new_dpia_version(dpia, actor=acting_user(request.user))
    except Refusal as refusal:
        messages.error(request, refusal.message)
        return redirect("compliance-dpia-detail", dpia.pk)
    messages.success(request, f"Version {version.number} started as a draft; the approved version stays on file.")
    return redirect("compliance-dpia-edit", dpia.pk)


@login_required
@require_http_methods(["GET", "POST"])
def reclassify(request: HttpRequest) -> HttpResponse:
    user = acting_user(request.user)
    datasets = Dataset.objects.restrict(user).select_related("team")
    if not user.is_superuser:
        datasets = datasets.filter(team_id__in=member_team_ids(user, DPIA_WRITER_ROLES))
    initial = {"dataset": request.GET.get("dataset")} if request.GET.get("dataset", "").isdigit() else {}
    form = ReclassifyForm(request.POST or None, datasets=datasets, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            actions.do_reclassify_column(
                data["dataset"], actor=user, column=data["column"], flags=form.flags(), reason=data["reason"]
            )
        except (Refusal, ValidationError) as error:
            show_error(form, error)
        else:
            messages.success(request, f"Reclassified {data['dataset'].name}.{data['column']}.")
            return redirect(reverse("compliance-reclassify") + f"?dataset={data['dataset'].pk}")
    recent = (
        ColumnReclassification.objects.restrict(user)
        .select_related("dataset__team", "created_by")
        .order_by("-created_at", "-id")[:50]
    )
    context = {"section": "dpias", "form": form, "recent": recent}
    return render(request, "compliance/dpia/reclassify.html", context, status=400 if request.method == "POST" else 200)
