"""The review board pages: the list, a board with its members, and the forms that create a board, seat and unseat
members, and create an environment.

Every page reads through ``ReviewBoard.objects.restrict(user)``: another team's board is a 404 exactly like a
missing one. Someone who may see a board but not manage it (a member of its team, a reviewer sitting on it) sees no
form and gets a 403 for a POST. Every write calls the same action as the API (governance.actions.boards), which
checks again who may and refuses with a ValidationError naming a field: it is shown on that field.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Max, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.actors import acting_user
from core.choices import BoardRole
from core.querysets import CHANGE
from core.ui import apply_validation_error, paginate, query_without_page
from governance import actions
from governance.actions.boards import may_manage
from governance.choices import ReleaseStatus
from governance.forms.boards import AddBoardMemberForm, BoardCreateForm, EnvironmentCreateForm, managed_teams
from governance.models import BoardMember, Release, ReleasePolicy, ReviewBoard
from governance.views import PAGE_SIZE, role_rows


def may_create_boards(user: Any) -> bool:
    """Whether the user manages any team's boards (or the organisation's): the "New board" button."""
    return bool(user.is_superuser or managed_teams(user).exists())


# --- Boards -------------------------------------------------------------------------------------------------------


@login_required
@require_GET
def board_list(request: HttpRequest) -> HttpResponse:
    boards = (
        ReviewBoard.objects.restrict(request.user)
        .select_related("team")
        .annotate(
            member_count=Count("members__user", distinct=True),
            seat_count=Count("members", distinct=True),
            policy_count=Count("policies", distinct=True),
        )
        .prefetch_related(Prefetch("members", queryset=BoardMember.objects.only("id", "board_id", "board_role")))
        .order_by("team__slug", "name", "pk")
    )
    page = paginate(request, boards, PAGE_SIZE)
    rows = []
    for board in page.object_list:
        seats: dict[str, int] = {}
        for member in board.members.all():
            seats[member.board_role] = seats.get(member.board_role, 0) + 1
        rows.append({"board": board, "roles": role_rows(seats)})
    context = {
        "section": "boards",
        "page": page,
        "rows": rows,
        "query": query_without_page(request),
        "may_create": may_create_boards(request.user),
    }
    return render(request, "governance/board_list.html", context)


def _visible_board(request: HttpRequest, pk: int) -> ReviewBoard:
    queryset = ReviewBoard.objects.restrict(request.user).select_related("team", "created_by")
    board: ReviewBoard = get_object_or_404(queryset, pk=pk)
    return board


def _require_board_manager(request: HttpRequest, board: ReviewBoard) -> None:
    """A board the user sees but does not manage: 403 (the API's answer to the same POST)."""
    if not ReviewBoard.objects.restrict(request.user, CHANGE).filter(pk=board.pk).exists():
        raise PermissionDenied("You may see this board, but not change its members.")


def _render_board(
    request: HttpRequest, board: ReviewBoard, *, form: AddBoardMemberForm | None = None, status: int = 200
) -> HttpResponse:
    seats = (
        BoardMember.objects.restrict(request.user)
        .filter(board=board)
        .select_related("user", "added_by")
        .order_by("user__username", "board_role")
    )
    people: dict[int, dict[str, Any]] = {}
    for seat in seats:
        person = people.setdefault(seat.user_id, {"user": seat.user, "seats": []})
        person["seats"].append(seat)
    by_role = [
        {"role": value, "label": label, "members": [s.user for s in seats if s.board_role == value]}
        for value, label in BoardRole.choices
    ]
    policies = (
        ReleasePolicy.objects.restrict(request.user)
        .filter(board=board)
        .select_related("team", "environment")
        .annotate(latest_number=Max("versions__number"))
    )
    context = {
        "section": "boards",
        "board": board,
        "people": list(people.values()),
        "by_role": by_role,
        "policies": policies,
        "open_releases": Release.objects.restrict(request.user)
        .filter(policy_version__policy__board=board, status=ReleaseStatus.OPEN)
        .select_related("model_version__model", "environment", "requested_by")[:20],
        # Platform administrators manage the organisation's boards; a team's compliance officers and admins theirs.
        "may_manage": may_manage(acting_user(request.user), board.team),
        "form": form or AddBoardMemberForm(),
    }
    return render(request, "governance/board_detail.html", context, status=status)


@login_required
@require_GET
def board_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_board(request, _visible_board(request, pk))


@login_required
@require_http_methods(["GET", "POST"])
def board_create(request: HttpRequest) -> HttpResponse:
    if not may_create_boards(request.user):
        raise PermissionDenied("Only compliance officers and admins of a team create review boards.")
    form = BoardCreateForm(request.POST or None, user=acting_user(request.user))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            board = actions.do_create_board(
                actor=acting_user(request.user),
                team=form.owner(),
                slug=data["slug"],
                name=data["name"],
                description=data["description"],
            )
        except ValidationError as error:
            apply_validation_error(form, error)
        except PermissionDenied as error:
            form.add_error("team", str(error))
        else:
            messages.success(request, f"Created board {board.name}: now seat its members.")
            return redirect("governance-board-detail", board.pk)
    context = {"section": "boards", "form": form}
    return render(request, "governance/board_form.html", context, status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def board_member_add(request: HttpRequest, pk: int) -> HttpResponse:
    board = _visible_board(request, pk)
    _require_board_manager(request, board)
    form = AddBoardMemberForm(request.POST)
    if form.is_valid():
        user = form.cleaned_data["username"]
        try:
            actions.do_add_board_member(
                board, actor=acting_user(request.user), user=user, board_role=form.cleaned_data["board_role"]
            )
        except ValidationError as error:
            apply_validation_error(form, error, {"user": "username"})
        else:
            role = dict(BoardRole.choices)[form.cleaned_data["board_role"]]
            messages.success(request, f"Seated {user.get_username()} as {role}.")
            return redirect(reverse("governance-board-detail", args=[board.pk]) + "#members")
    return _render_board(request, board, form=form, status=400)


@login_required
@require_POST
def board_member_remove(request: HttpRequest, pk: int, seat: int) -> HttpResponse:
    board = _visible_board(request, pk)
    member = get_object_or_404(BoardMember.objects.select_related("user").filter(board=board), pk=seat)
    _require_board_manager(request, board)
    actions.do_remove_board_member(member, actor=acting_user(request.user))
    messages.success(
        request,
        f"Unseated {member.user.get_username()} as {member.get_board_role_display()}: "
        "signatures given in that role no longer count.",
    )
    return redirect(reverse("governance-board-detail", args=[board.pk]) + "#members")


# --- Environments -------------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def environment_create(request: HttpRequest) -> HttpResponse:
    if not request.user.is_superuser:
        raise PermissionDenied("Only platform administrators create environments.")
    form = EnvironmentCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            environment = actions.do_create_environment(actor=acting_user(request.user), **data)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, f"Created environment {environment.name}.")
            return redirect("serving-environment-detail", environment.slug)
    context = {"section": "deployments", "form": form}
    return render(request, "governance/environment_form.html", context, status=400 if request.method == "POST" else 200)
