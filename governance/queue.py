"""A board member's review queue: the open releases before a board they sit on that await a role they hold and that
they have not signed in their current form.

Shared by the review page (governance.views.review_queue) and the dashboard's queue card (governance.dashboard), so
both answer the same question the same way. Whether a role is still awaited and whether a signature is current are
the evaluation's answers (governance.evaluation.release_state): each candidate is judged once, at the cost of a
fixed number of queries per judged release (it rebuilds the manifest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from governance.choices import ReleaseStatus
from governance.evaluation import ReleaseState, release_state
from governance.manifest import conflicted_users
from governance.models import BoardMember, Release
from governance.querysets import SIGN


@dataclass
class QueueRow:
    release: Release
    state: ReleaseState
    my_roles: list[str]
    awaited_roles: list[str]
    conflict: str
    signed_now: bool
    resign: bool


@dataclass
class Queue:
    """``waiting``: what awaits the user, oldest request first; ``done``: open on their boards, nothing for them to
    do; ``has_seats``: whether they sit on any board; ``complete``: False when judging stopped at a limit."""

    waiting: list[QueueRow]
    done: list[QueueRow]
    has_seats: bool
    complete: bool = True


def seats_of(user: Any) -> dict[int, list[str]]:
    """The user's seats: board id to the roles they hold on it."""
    seats: dict[int, list[str]] = {}
    for board_id, role in BoardMember.objects.filter(user_id=user.pk or 0).values_list("board_id", "board_role"):
        seats.setdefault(board_id, []).append(role)
    return seats


def queue_candidates(user: Any, seats: dict[int, list[str]]) -> QuerySet[Release]:
    """The open releases before the user's boards (in SQL), oldest request first: what the queue judges."""
    return (
        Release.objects.restrict(user, SIGN)
        # A platform administrator sees every release, but signs none without a seat.
        .filter(status=ReleaseStatus.OPEN, policy_version__policy__board_id__in=list(seats))
        .select_related(
            "model_version__model__team",
            "model_version__model__use_case",
            "environment",
            "requested_by",
            "policy_version__policy__board",
        )
        .order_by("requested_at", "id")
    )


def judge(release: Release, user: Any, my_roles: list[str]) -> QueueRow:
    """One candidate judged for ``user`` holding ``my_roles`` on its board."""
    state = release_state(release)
    signed_now = any(
        s.approval.signer_id == user.pk and s.approval.manifest_digest == state.current_digest for s in state.approvals
    )
    awaited = [role for role in my_roles if state.roles_needed.get(role)]
    if not awaited and state.approvers_needed and not state.roles_needed:
        awaited = list(my_roles)
    conflict = conflicted_users(release).get(user.pk or 0, "") if awaited and not signed_now else ""
    resign = not signed_now and any(s.approval.signer_id == user.pk and s.stale for s in state.approvals)
    return QueueRow(release, state, my_roles, awaited, conflict, signed_now, resign)


def is_waiting(row: QueueRow) -> bool:
    return not (row.signed_now or not row.awaited_roles or row.state.rejected)


def review_queue(user: Any, *, limit: int | None = None) -> Queue:
    """The user's queue. With ``limit``, judging stops once that many waiting releases are found (the dashboard
    shows a handful and links to the full page): the cost is then bounded by ``limit`` judged releases plus
    those judged on the way that need nothing of the user."""
    seats = seats_of(user)
    waiting: list[QueueRow] = []
    done: list[QueueRow] = []
    if not seats:
        return Queue(waiting, done, has_seats=False)
    for release in queue_candidates(user, seats):
        if limit is not None and len(waiting) >= limit:
            return Queue(waiting, done, has_seats=True, complete=False)
        row = judge(release, user, seats[release.policy_version.policy.board_id])
        (waiting if is_waiting(row) else done).append(row)
    return Queue(waiting, done, has_seats=True)
