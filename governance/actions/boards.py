"""Actions on environments, review boards and their members.

Environments are the organisation's and only platform administrators create them. A board belongs to a team, whose
compliance officers and admins manage it, or to the organisation (no team), which only platform administrators
manage: one team must not change who judges another team's releases. A team board seats members of that team only.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from core.audit import record_event
from core.choices import AuditEventType, BoardRole
from core.models import Membership, Team
from core.querysets import CHANGE, member_team_ids
from governance.models import BoardMember, Environment, ReviewBoard
from governance.querysets import MANAGER_ROLES


def may_manage(actor: User, team: Team | None) -> bool:
    """Whether ``actor`` manages the boards and policies of ``team`` (None: the organisation's)."""
    if actor.is_superuser:
        return True
    if team is None:
        return False
    return member_team_ids(actor, MANAGER_ROLES).filter(team_id=team.pk).exists()


def require_manager(actor: User, team: Team | None, what: str) -> None:
    if may_manage(actor, team):
        return
    if team is None:
        raise PermissionDenied(f"Only platform administrators manage the organisation's {what}.")
    raise PermissionDenied(f"Only compliance officers and admins of team {team.slug} manage its {what}.")


# --- Environments -------------------------------------------------------------------------------------------------


@transaction.atomic
def do_create_environment(
    *,
    actor: User,
    slug: str,
    name: str,
    description: str = "",
    rank: int = 0,
    allowed_regions: list[str] | None = None,
) -> Environment:
    if not actor.is_superuser:
        raise PermissionDenied("Only platform administrators create environments.")
    if Environment.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"An environment with slug {slug!r} already exists."})
    regions = list(allowed_regions or [])
    environment = Environment(
        slug=slug, name=name, description=description, rank=rank, allowed_regions=regions, created_by=actor
    )
    environment.full_clean()
    environment.save()
    record_event(
        AuditEventType.ENVIRONMENT_CREATED,
        actor=actor,
        target=environment,
        after={"slug": slug, "name": name, "description": description, "rank": rank, "allowed_regions": regions},
    )
    return environment


# --- Boards -------------------------------------------------------------------------------------------------------


@transaction.atomic
def do_create_board(*, actor: User, team: Team | None, slug: str, name: str, description: str = "") -> ReviewBoard:
    require_manager(actor, team, "review boards")
    if ReviewBoard.objects.filter(team=team, slug=slug).exists():
        owner = f"team {team.slug}" if team else "the organisation"
        raise ValidationError({"slug": f"{owner} already has a board with slug {slug!r}."})
    board = ReviewBoard(team=team, slug=slug, name=name, description=description, created_by=actor)
    board.full_clean()
    board.save()
    record_event(
        AuditEventType.BOARD_CREATED,
        actor=actor,
        target=board,
        team=team,
        after={"team": team.slug if team else None, "slug": slug, "name": name, "description": description},
    )
    return board


def _require_board_change(actor: User, board: ReviewBoard) -> None:
    if not ReviewBoard.objects.restrict(actor, CHANGE).filter(pk=board.pk).exists():
        require_manager(actor, board.team, "review boards")  # raises with the wording for this board's owner


@transaction.atomic
def do_add_board_member(board: ReviewBoard, *, actor: User, user: Any, board_role: str) -> BoardMember:
    _require_board_change(actor, board)
    if board_role not in BoardRole.values:
        raise ValidationError(
            {"board_role": f"Unknown board role {board_role!r}; one of {', '.join(BoardRole.values)}."}
        )
    if hasattr(user, "service_account"):
        raise ValidationError({"user": "A service account cannot sit on a board: approvals are signed by people."})
    if not user.is_active:
        raise ValidationError({"user": f"{user.get_username()} is deactivated."})
    if board.team is not None and not Membership.objects.filter(team_id=board.team.pk, user_id=user.pk).exists():
        raise ValidationError(
            {
                "user": f"{user.get_username()} is not a member of team {board.team.slug}; "
                "a team board seats its members."
            }
        )
    # Lock the board: two concurrent adds of the same seat would both pass the check below.
    board = ReviewBoard.objects.select_for_update().get(pk=board.pk)
    if BoardMember.objects.filter(board=board, user_id=user.pk, board_role=board_role).exists():
        raise ValidationError({"board_role": f"{user.get_username()} already sits on {board.slug} as {board_role}."})
    member = BoardMember(board=board, user=user, board_role=board_role, added_by=actor)
    member.full_clean()
    member.save()
    record_event(
        AuditEventType.BOARD_MEMBER_ADDED,
        actor=actor,
        target=member,
        team=board.team,
        after={"board": board.slug, "user": user.get_username(), "board_role": board_role},
    )
    return member


@transaction.atomic
def do_remove_board_member(member: BoardMember, *, actor: User) -> None:
    """Unseat one board role. Signatures already given in that role stop counting (governance.evaluation)."""
    board = ReviewBoard.objects.select_for_update().get(pk=member.board_id)
    _require_board_change(actor, board)
    current = BoardMember.objects.select_related("user").filter(pk=member.pk).first()
    if current is None:
        return  # removed meanwhile by someone else, who wrote the event
    record_event(
        AuditEventType.BOARD_MEMBER_REMOVED,
        actor=actor,
        target=current,
        team=board.team,
        before={"board": board.slug, "user": current.user.get_username(), "board_role": current.board_role},
    )
    current.delete()
