"""The compliance pages: retention policies, what expires soon, tombstones and runs; legal holds and their
history; the deletion of a dataset version's files or a retired model version's artifact. Views validate input and
call compliance.actions; reads are restricted in SQL like the API's."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from compliance import actions
from compliance.actions.retention import current_version, may_delete
from compliance.api.access import officer_teams, visible_team_ids
from compliance.choices import HoldStatus
from compliance.forms import DeletionForm, HoldForm, HoldStepForm, PolicyChangeForm, RetentionPolicyForm, RunForm
from compliance.holds import holds_covering
from compliance.models import LegalHold, LegalHoldEvent, Purge, RetentionPolicy, RetentionPolicyVersion
from compliance.retention import purge_of, targets
from core.actors import acting_user
from core.jobs import BrokerUnavailable
from core.models import Team
from core.querysets import CHANGE
from core.refusals import Refusal
from core.ui import apply_validation_error, paginate, query_without_page
from registry.models import Dataset, DatasetVersion, ModelVersion, RegisteredModel, UseCase

PAGE_SIZE = 25
WINDOWS = (30, 90)


def _team_choices(request: HttpRequest) -> list[tuple[str, str]]:
    return list(officer_teams(request.user).order_by("name").values_list("slug", "name"))


def _team(slug: str, request: HttpRequest) -> Team:
    return get_object_or_404(officer_teams(request.user), slug=slug)


# --- Retention --------------------------------------------------------------------------------------------------------


def _render_retention(
    request: HttpRequest, *, form: RetentionPolicyForm | None = None, status: int = 200
) -> HttpResponse:
    policies = (
        RetentionPolicy.objects.restrict(request.user)
        .select_related("team")
        .prefetch_related(Prefetch("versions", queryset=RetentionPolicyVersion.objects.order_by("-number")))
        .order_by("team__name", "target_kind", "classification")
    )
    within = 90 if request.GET.get("within") == "90" else 30
    teams = _team_choices(request)
    labels = {kind: target.label for kind, target in targets().items()}
    context = {
        "section": "retention",
        "policies": [(policy, policy.versions.all()[0], labels.get(policy.target_kind, "")) for policy in policies],
        "within": within,
        "windows": WINDOWS,
        "expiring": [
            {**row, "label": labels.get(row["kind"], row["kind"])}
            for row in actions.expiring(visible_team_ids(request.user), within_days=within)
        ],
        "purges": Purge.objects.restrict(request.user).select_related("policy_version__policy")[:PAGE_SIZE],
        "form": form if form is not None else (RetentionPolicyForm(teams=teams) if teams else None),
        "run_form": RunForm(teams=teams) if teams else None,
    }
    return render(request, "compliance/retention/index.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def retention(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _render_retention(request)
    form = RetentionPolicyForm(request.POST, teams=_team_choices(request))
    if form.is_valid():
        data = dict(form.cleaned_data)
        team = _team(data.pop("team"), request)
        try:
            policy = actions.do_create_retention_policy(team, actor=acting_user(request.user), **data)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, f"Created the retention policy {policy}.")
            return redirect("compliance-retention-policy", policy.pk)
    return _render_retention(request, form=form, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def retention_policy(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(RetentionPolicy.objects.restrict(request.user).select_related("team"), pk=pk)
    current = current_version(policy)
    may_change = RetentionPolicy.objects.restrict(request.user, CHANGE).filter(pk=pk).exists()
    form = None
    status = 200
    if request.method == "POST":
        if not may_change:
            raise PermissionDenied("Only the team's compliance officers change its retention policies.")
        form = PolicyChangeForm(request.POST)
        if form.is_valid():
            try:
                version = actions.do_change_retention_policy(
                    policy, actor=acting_user(request.user), **form.cleaned_data
                )
            except ValidationError as error:
                apply_validation_error(form, error)
            else:
                messages.success(request, f"Recorded version {version.number} of the policy.")
                return redirect("compliance-retention-policy", policy.pk)
        status = 400
    elif may_change:
        form = PolicyChangeForm(
            initial={
                "keep_days": current.keep_days,
                "counted_from": current.counted_from,
                "on_expiry": current.on_expiry,
                "active": current.active,
            }
        )
    context = {
        "section": "retention",
        "policy": policy,
        "current": current,
        "label": targets()[policy.target_kind].label if policy.target_kind in targets() else policy.target_kind,
        "versions": policy.versions.select_related("created_by").order_by("-number"),
        "purges": Purge.objects.filter(policy_version__policy=policy).order_by("-started_at")[:PAGE_SIZE],
        "form": form,
    }
    return render(request, "compliance/retention/policy.html", context, status=status)


@login_required
@require_POST
def retention_run(request: HttpRequest) -> HttpResponse:
    form = RunForm(request.POST, teams=_team_choices(request))
    if not form.is_valid():
        messages.error(request, "Choose a team whose retention you run.")
        return redirect("compliance-retention")
    team = _team(form.cleaned_data["team"], request)
    dry_run = form.cleaned_data["dry_run"]
    try:
        job, _ = actions.do_request_retention_run(team, actor=acting_user(request.user), dry_run=dry_run)
    except BrokerUnavailable:
        messages.error(request, "The job broker is unavailable: nothing was started. Try again shortly.")
        return redirect("compliance-retention")
    return redirect("job-detail", job.public_id)


# --- Manual deletion --------------------------------------------------------------------------------------------------


def _deletion(request: HttpRequest, record: DatasetVersion | ModelVersion, what: str, back: str) -> HttpResponse:
    if not may_delete(request.user, record):  # type: ignore[arg-type]
        raise PermissionDenied("Only the owner, a team admin or a superuser may delete these bytes.")
    form = DeletionForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                purge = actions.do_delete_record_bytes(
                    record, actor=acting_user(request.user), reason=form.cleaned_data["reason"]
                )
            except ValidationError as error:
                apply_validation_error(form, error)
            except Refusal as refusal:
                form.add_error(None, refusal.message)
                status = refusal.status
            else:
                messages.success(request, f"The {what} of {record} were {purge.notice}.")
                return redirect(back)
    context = {
        "section": "retention",
        "record": record,
        "what": what,
        "back": back,
        "purge": purge_of(record),
        "holds": holds_covering(record),
        "form": form,
    }
    return render(request, "compliance/retention/delete.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def delete_dataset_files(request: HttpRequest, pk: int) -> HttpResponse:
    version = get_object_or_404(DatasetVersion.objects.restrict(request.user).select_related("dataset__team"), pk=pk)
    back = f"/datasets/{version.dataset_id}/versions/{version.number}/"
    return _deletion(request, version, "files", back)


@login_required
@require_http_methods(["GET", "POST"])
def delete_model_artifact(request: HttpRequest, pk: int) -> HttpResponse:
    version = get_object_or_404(ModelVersion.objects.restrict(request.user).select_related("model__team"), pk=pk)
    back = f"/models/{version.model_id}/versions/{version.number}/"
    return _deletion(request, version, "artifact", back)


# --- Legal holds ------------------------------------------------------------------------------------------------------


def _hold_choices(request: HttpRequest) -> dict[str, list[tuple[Any, str]]]:
    teams = officer_teams(request.user)
    empty: list[tuple[Any, str]] = [("", "—")]

    def named(queryset: Any) -> list[tuple[Any, str]]:
        return empty + [(obj.pk, f"{obj.name} ({obj.team.slug})") for obj in queryset.select_related("team")]

    return {
        "team": list(teams.order_by("name").values_list("slug", "name")),
        "dataset": named(Dataset.objects.filter(team__in=teams).order_by("name")),
        "model": named(RegisteredModel.objects.filter(team__in=teams).order_by("name")),
        "use_case": named(UseCase.objects.filter(team__in=teams).order_by("name")),
    }


def _render_holds(request: HttpRequest, *, form: HoldForm | None = None, status: int = 200) -> HttpResponse:
    holds = (
        LegalHold.objects.restrict(request.user)
        .select_related("team", "dataset", "model", "use_case", "placed_by")
        .order_by("-placed_at", "-id")
    )
    show = request.GET.get("status", "")
    if show in HoldStatus.values:
        holds = holds.filter(status=show)
    choices = _hold_choices(request)
    context = {
        "section": "holds",
        "page": paginate(request, holds, PAGE_SIZE),
        "query": query_without_page(request),
        "statuses": HoldStatus.choices,
        "show": show,
        "form": form if form is not None else (HoldForm(choices=choices) if choices["team"] else None),
    }
    return render(request, "compliance/holds/index.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def holds(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _render_holds(request)
    form = HoldForm(request.POST, choices=_hold_choices(request))
    if form.is_valid():
        data = dict(form.cleaned_data)
        team = _team(data.pop("team"), request)
        for name, model in (("dataset", Dataset), ("model", RegisteredModel), ("use_case", UseCase)):
            data[name] = model.objects.filter(pk=data[name]).first() if data[name] is not None else None
        try:
            hold = actions.do_place_hold(team, actor=acting_user(request.user), **data)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, f"Placed {hold}: nothing it covers may be deleted.")
            return redirect("compliance-hold", hold.pk)
    return _render_holds(request, form=form, status=400)


@login_required
@require_GET
def hold_detail(request: HttpRequest, pk: int) -> HttpResponse:
    hold = get_object_or_404(LegalHold.objects.restrict(request.user), pk=pk)
    return _render_hold(request, hold)


def _render_hold(request: HttpRequest, hold: LegalHold, form: HoldStepForm | None = None, status: int = 200) -> Any:
    hold = LegalHold.objects.select_related("team", "dataset", "model", "use_case", "placed_by").get(pk=hold.pk)
    context = {
        "section": "holds",
        "hold": hold,
        "events": LegalHoldEvent.objects.filter(hold=hold).order_by("occurred_at", "id"),
        "officer": LegalHold.objects.restrict(request.user, CHANGE).filter(pk=hold.pk).exists(),
        "requested": hold.events.filter(action="release_requested").order_by("-occurred_at", "-id").first(),
        "form": form or HoldStepForm(),
    }
    return render(request, "compliance/holds/detail.html", context, status=status)


@login_required
@require_POST
def hold_step(request: HttpRequest, pk: int, step: str) -> HttpResponse:
    hold = get_object_or_404(LegalHold.objects.restrict(request.user).select_related("team"), pk=pk)
    if not LegalHold.objects.restrict(request.user, CHANGE).filter(pk=pk).exists():
        raise PermissionDenied("Only the team's compliance officers request or confirm a release.")
    form = HoldStepForm(request.POST)
    form.is_valid()
    note = form.cleaned_data.get("note", "")
    try:
        if step == "request":
            actions.do_request_hold_release(hold, actor=acting_user(request.user), note=note)
            messages.success(request, "Release requested: a second compliance officer must confirm it.")
        else:
            actions.do_confirm_hold_release(hold, actor=acting_user(request.user), note=note)
            messages.success(request, "The hold is released.")
    except ValidationError as error:
        apply_validation_error(form, error)
        return _render_hold(request, hold, form, status=400)
    except Refusal as refusal:
        form.add_error(None, refusal.message)
        return _render_hold(request, hold, form, status=refusal.status)
    return redirect("compliance-hold", hold.pk)
