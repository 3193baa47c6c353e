"""The release pages: the review queue, a release with its evidence and signing form, signing keys, boards,
policies and the release list.

Every page reads through ``Model.objects.restrict(user)``: another team's release, board or policy is a 404
exactly like a missing one. Every write calls an action in ``governance.actions``; what a release's signatures
are worth (stale, expired, revoked, conflicted, roles still needed) is computed by ``governance.evaluation`` and
the gate by ``governance.gate``: these pages show their answers and never work them out again. List pages run a
fixed number of queries whatever the number of rows (tests/governance/test_ui.py checks it).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.actors import acting_user
from core.choices import BoardRole, Role
from core.models import Membership
from core.querysets import CHANGE
from core.refusals import Refusal
from core.ui import apply_validation_error, list_page, paginate, query_without_page, visible_teams
from governance import actions
from governance import queue as queue_module
from governance.actions.keys import NOT_BOARD_MEMBER, holds_board_role, require_board_member
from governance.audit_policy import release_audits
from governance.choices import EvaluationPurpose, KeyKind, ReleaseStatus
from governance.evaluation import ReleaseState, changes_since_last_approved, release_state
from governance.forms import CreateWebKeyForm, RevokeKeyForm, SignReleaseForm
from governance.gate import known_checks, run_gate
from governance.manifest import (
    build_manifest,
    conflicted_users,
    manifest_diff,
    manifest_digest,
)
from governance.models import (
    BoardMember,
    Environment,
    GateEvaluation,
    Release,
    SigningKey,
)
from registry.choices import RiskTier
from registry.presentation import PRIVACY_FLAGS, contract_rows, flat_metrics

PAGE_SIZE = 50
BOARD_ROLE_LABELS = dict(BoardRole.choices)
# A prohibited practice is never released, so no policy governs it (ReleasePolicy's check constraint).
POLICY_TIERS = tuple(value for value in RiskTier.values if value != RiskTier.PROHIBITED)


def role_rows(required_roles: Any) -> list[dict[str, Any]]:
    """A policy's ``{"legal": 1, "technical": 2}`` as rows in the order of BoardRole, with their labels."""
    if not isinstance(required_roles, dict):
        return []
    order = {value: index for index, value in enumerate(BoardRole.values)}
    return [
        {"role": role, "label": BOARD_ROLE_LABELS.get(role, role), "count": count}
        for role, count in sorted(required_roles.items(), key=lambda item: (order.get(item[0], 99), item[0]))
    ]


# --- Releases -----------------------------------------------------------------------------------------------------


@login_required
@require_GET
def release_list(request: HttpRequest) -> HttpResponse:
    releases = (
        Release.objects.restrict(request.user)
        .select_related("model_version__model__team", "environment", "requested_by", "policy_version__policy__board")
        .annotate(
            approval_count=Count("approvals", filter=Q(approvals__decision="approve"), distinct=True),
            rejection_count=Count("approvals", filter=Q(approvals__decision="reject"), distinct=True),
            deployment_count=Count("deployments", distinct=True),
        )
        .order_by("-requested_at", "-id")
    )
    status = request.GET.get("status", "")
    environment = request.GET.get("environment", "")
    team = request.GET.get("team", "")
    model = request.GET.get("model", "").strip()
    valid = True
    if status in ReleaseStatus.values:
        releases = releases.filter(status=status)
    elif status:
        valid = False
    if environment:
        releases = releases.filter(environment__slug=environment)
    if team:
        releases = releases.filter(model_version__model__team__slug=team)
    if model:
        releases = releases.filter(model_version__model__name__icontains=model)
    if not valid:
        releases = releases.none()
    context = {
        "section": "releases",
        **list_page(request, releases, PAGE_SIZE),
        "statuses": ReleaseStatus.choices,
        "environments": Environment.objects.restrict(request.user).values_list("slug", "name"),
        "teams": visible_teams(request),
        "selected": {"status": status, "environment": environment, "team": team, "model": model},
        "valid": valid,
    }
    return render(request, "governance/release_list.html", context, status=200 if valid else 400)


# --- Signing keys -------------------------------------------------------------------------------------------------


def _render_keys(
    request: HttpRequest,
    *,
    create_form: CreateWebKeyForm | None = None,
    revoke_form: RevokeKeyForm | None = None,
    revoke_key: int | None = None,
    refusal: str = "",
    status: int = 200,
) -> HttpResponse:
    user = request.user
    mine = SigningKey.objects.filter(owner_id=user.pk).select_related("revoked_by").order_by("-created_at", "-id")
    # Compliance officers revoke the keys of their teams' members (a laptop stolen on a Friday night): the same
    # rule as the API, SigningKey.objects.restrict(user, CHANGE).
    others = (
        SigningKey.objects.restrict(user, CHANGE)
        .exclude(owner_id=user.pk)
        .select_related("owner", "revoked_by")
        .order_by("owner__username", "-created_at", "-id")
    )
    page = paginate(request, others, PAGE_SIZE)
    mine_list = list(mine)
    context = {
        "section": "keys",
        "mine": mine_list,
        "live_web_key": next((k for k in mine_list if k.kind == KeyKind.SERVER and k.revoked_at is None), None),
        "page": page,
        "query": query_without_page(request),
        "manages_others": user.is_superuser
        or Membership.objects.filter(user_id=user.pk or 0, role=Role.COMPLIANCE_OFFICER).exists(),
        "create_form": create_form or CreateWebKeyForm(),
        # Only board members hold signing keys (governance.actions.keys): the form is for them alone.
        "may_hold_keys": holds_board_role(user),
        "not_board_member": NOT_BOARD_MEMBER,
        "refusal": refusal,
        "revoke_form": revoke_form,
        "revoke_key": revoke_key,
    }
    return render(request, "governance/keys.html", context, status=status)


@login_required
def key_list(request: HttpRequest) -> HttpResponseBase:
    if request.method == "GET":
        return _render_keys(request)
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    try:
        require_board_member(
            acting_user(request.user)
        )  # the action's rule, refused (and recorded) before the form is read
    except Refusal as refusal:
        return _render_keys(request, refusal=refusal.message, status=refusal.status)
    form = CreateWebKeyForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            key = actions.do_create_web_signing_key(
                actor=acting_user(request.user), passphrase=data["passphrase"], name=data["name"]
            )
        except Refusal as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, refusal.message)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Created web-signing key {key.fingerprint}.")
            return redirect("governance-key-list")
    return _render_keys(request, create_form=form, status=400)


@login_required
@require_POST
def key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    # Everyone reads public keys; only those who may revoke one find it here (anyone else: 404).
    key = get_object_or_404(SigningKey.objects.restrict(request.user, CHANGE).select_related("owner"), pk=pk)
    form = RevokeKeyForm(request.POST)
    if form.is_valid():
        try:
            actions.do_revoke_signing_key(key, actor=acting_user(request.user), reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            whose = "your" if key.owner_id == request.user.pk else f"{key.owner.get_username()}'s"
            messages.success(request, f"Revoked {whose} key {key.fingerprint}: approvals made with it no longer count.")
            return redirect("governance-key-list")
    return _render_keys(request, revoke_form=form, revoke_key=key.pk, status=400)


# --- The review queue ---------------------------------------------------------------------------------------------


@login_required
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    """Open releases before a board the user sits on, that await a role the user holds, and that the user has not
    signed in their current form (governance.queue, shared with the dashboard)."""
    queue = queue_module.review_queue(request.user)
    context = {"section": "reviews", "waiting": queue.waiting, "done": queue.done, "has_seats": queue.has_seats}
    return render(request, "governance/review_queue.html", context)


# --- A release ----------------------------------------------------------------------------------------------------


def _visible_release(request: HttpRequest, pk: int) -> Release:
    queryset = Release.objects.restrict(request.user).select_related(
        "model_version__model__team",
        "model_version__model__use_case",
        "environment",
        "requested_by",
        "withdrawn_by",
        "policy_version__policy__board",
        "policy_version__policy__team",
    )
    return get_object_or_404(queryset, pk=pk)


def _dataset_rows(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for entry in manifest.get("datasets") or []:
        if not isinstance(entry, dict):
            continue
        columns = entry.get("columns") or {}
        flags = [
            {"key": key, "label": label, "hint": hint, "columns": columns.get(key) or []}
            for key, label, hint in PRIVACY_FLAGS
            if columns.get(key)
        ]
        rows.append({**entry, "flags": flags})
    return rows


def _change_rows(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def show(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    return [
        {
            "path": change.get("path", ""),
            "before": show(change.get("before")),
            "after": show(change.get("after")),
            "added": change.get("before") is None,
            "removed": change.get("after") is None,
        }
        for change in changes
    ]


def _sign_context(request: HttpRequest, release: Release, state: ReleaseState) -> dict[str, Any]:
    """What the signing card needs: whether the user may sign here, in which roles, with which key, and if not, why."""
    user = request.user
    roles = list(
        BoardMember.objects.filter(board_id=release.policy_version.policy.board_id, user_id=user.pk or 0)
        .order_by("board_role")
        .values_list("board_role", flat=True)
    )
    mine = [s for s in state.approvals if s.approval.signer_id == user.pk]
    return {
        "roles": roles,
        "on_board": bool(roles),
        "is_open": release.status == ReleaseStatus.OPEN,
        "web_key": SigningKey.objects.filter(owner_id=user.pk, kind=KeyKind.SERVER, revoked_at__isnull=True).first(),
        "my_current": next((s for s in mine if s.approval.manifest_digest == state.current_digest), None),
        "my_stale": [s for s in mine if s.approval.manifest_digest != state.current_digest],
        "conflict": conflicted_users(release).get(user.pk or 0, "") if roles else "",
    }


def _render_release(
    request: HttpRequest, release: Release, *, form: SignReleaseForm | None = None, status: int = 200
) -> HttpResponse:
    manifest = build_manifest(release)
    digest = manifest_digest(manifest)
    state = release_state(release, current_digest=digest)
    # A preview: judged now and written nowhere; the artifact is looked at, not re-hashed (the deploy path does).
    preview = run_gate(release, actor=request.user, purpose=EvaluationPurpose.PREVIEW, rehash=False, manifest=manifest)
    descriptions = {name: check.description for name, check in known_checks().items()}
    previous, changes = changes_since_last_approved(release, manifest)
    sign = _sign_context(request, release, state)
    if form is None and sign["on_board"]:
        form = SignReleaseForm(roles=sign["roles"])
    version = manifest.get("model_version") or {}
    interface = version.get("interface") or {}
    context = {
        "section": "releases",
        "release": release,
        "manifest": manifest,
        "manifest_json": json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False),
        "digest": digest,
        "digest_changed": digest != release.manifest_digest,
        "requirements": (manifest.get("policy") or {}).get("requirements") or {},
        "audits": release_audits(release),
        "required_roles": role_rows(release.policy_version.required_roles),
        "inputs": contract_rows(interface.get("inputs")),
        "outputs": contract_rows(interface.get("outputs")),
        "metrics": flat_metrics(version.get("metrics")),
        "training_params": flat_metrics(version.get("training_params")),
        "datasets": _dataset_rows(manifest),
        "state": state,
        "roles_needed": role_rows(state.roles_needed),
        "preview": preview,
        "checks": [{**check, "description": descriptions.get(check["name"], "")} for check in preview.checks],
        "evaluations": GateEvaluation.objects.restrict(request.user)
        .filter(release=release, purpose=EvaluationPurpose.DEPLOY)
        .select_related("evaluated_by")[:10],
        "previous": previous,
        "previous_visible": previous is not None
        and Release.objects.restrict(request.user).filter(pk=previous.pk).exists(),
        "changes": _change_rows(changes),
        # What reviewers who signed early must read before signing again.
        "since_request": _change_rows(manifest_diff(release.manifest, manifest))
        if digest != release.manifest_digest
        else [],
        "sign": sign,
        "form": form,
    }
    return render(request, "governance/release_detail.html", context, status=status)


@login_required
@require_GET
def release_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_release(request, _visible_release(request, pk))


@login_required
@require_POST
def release_sign(request: HttpRequest, pk: int) -> HttpResponse:
    release = _visible_release(request, pk)
    roles = list(
        BoardMember.objects.filter(board_id=release.policy_version.policy.board_id, user_id=request.user.pk or 0)
        .order_by("board_role")
        .values_list("board_role", flat=True)
    )
    if not roles:
        raise PermissionDenied("Only members of the release's review board sign it.")
    form = SignReleaseForm(request.POST, roles=roles)
    if form.is_valid():
        data = form.cleaned_data
        try:
            approval = actions.do_sign_release_web(
                release,
                actor=acting_user(request.user),
                board_role=data["board_role"],
                decision=data["decision"],
                comment=data["comment"],
                passphrase=data["passphrase"],
            )
        except Refusal as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, refusal.message)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                f"Signed: {approval.get_decision_display().lower()} as {approval.get_board_role_display()}, "
                f"manifest {approval.manifest_digest[:12]}….",
            )
            return redirect(reverse("governance-release-detail", args=[release.pk]) + "#signatures")
    # The passphrase field is never rendered back (PasswordInput keeps no value).
    return _render_release(request, release, form=form, status=400)
