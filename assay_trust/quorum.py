"""Whether a set of approvals meets a release policy: the one rule, used by the server's deployment gate and by
the offline bundle verifier alike. Plain inputs only, so that neither needs the other's types.

The rule:

- Only the votes given are considered: the caller passes the approvals that still count (signature valid, key
  unrevoked, within their validity, over the current manifest). This function judges the numbers, not the
  signatures.
- Any reject among them vetoes the release, whatever the approvals.
- Each role needs ``roles[role]`` distinct people approving in that role, and one person fills at most one role's
  place however many roles they approved in: a legal-and-technical reviewer who approved twice meets
  ``{"legal": 1, "technical": 1}`` only together with a second person. The best assignment of people to roles is
  searched (a bipartite matching), so the order of the votes never matters.
- ``min_total`` distinct people must approve overall, counting approvers in roles the policy does not name.
- The same (person, role, decision) given twice counts once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from assay_trust.errors import TrustError
from assay_trust.statement import BOARD_ROLES, DECISIONS


class Vote(NamedTuple):
    """One counted decision: who (a username or any stable person id), in which board role, approve or reject."""

    signer: str
    role: str
    decision: str


@dataclass(frozen=True)
class QuorumResult:
    """``met``: the policy is satisfied and nobody rejected. ``assigned`` maps each required role to the people
    counted for it; ``missing`` the places still empty per role; ``approvers`` everyone who approved;
    ``vetoed_by`` the (person, role) of each reject. ``detail`` says it in one line."""

    met: bool
    required: dict[str, int]
    min_total: int
    assigned: dict[str, list[str]] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)
    approvers: list[str] = field(default_factory=list)
    vetoed_by: list[tuple[str, str]] = field(default_factory=list)
    detail: str = ""


def _requirements(requirements: Mapping[str, Any]) -> tuple[dict[str, int], int]:
    roles = requirements.get("roles")
    min_total = requirements.get("min_total")
    if not isinstance(roles, Mapping):
        raise TrustError("requirements.roles: expected an object of board role -> count")
    counts: dict[str, int] = {}
    for role, count in roles.items():
        if role not in BOARD_ROLES:
            raise TrustError(f"requirements.roles: {str(role)[:40]!r} is not a board role ({', '.join(BOARD_ROLES)})")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise TrustError(f"requirements.roles.{role}: expected a whole number, 0 or more")
        if count:
            counts[role] = count
    if isinstance(min_total, bool) or not isinstance(min_total, int) or min_total < 1:
        raise TrustError("requirements.min_total: expected a whole number, 1 or more")
    return counts, min_total


def _votes(approvals: Iterable[Vote | tuple[str, str, str]]) -> list[Vote]:
    votes: set[Vote] = set()
    for index, item in enumerate(approvals):
        try:
            vote = Vote(*item)
        except TypeError:
            raise TrustError(f"approvals[{index}]: expected (signer, role, decision)") from None
        if not isinstance(vote.signer, str) or not vote.signer:
            raise TrustError(f"approvals[{index}]: the signer must be a non-empty string")
        if vote.role not in BOARD_ROLES:
            raise TrustError(f"approvals[{index}]: {str(vote.role)[:40]!r} is not a board role")
        if vote.decision not in DECISIONS:
            raise TrustError(f"approvals[{index}]: the decision must be approve or reject")
        votes.add(vote)
    return sorted(votes)


def _assign(required: dict[str, int], candidates: dict[str, list[str]]) -> dict[str, list[str]]:
    """The largest assignment of distinct people to role places (Kuhn's augmenting paths; boards are small)."""
    places = [(role, index) for role in sorted(required) for index in range(required[role])]
    holder: dict[tuple[str, int], str] = {}

    def place_for(person: str, seen: set[tuple[str, int]]) -> bool:
        for slot in places:
            if slot in seen or person not in candidates.get(slot[0], []):
                continue
            seen.add(slot)
            if slot not in holder or place_for(holder[slot], seen):
                holder[slot] = person
                return True
        return False

    for person in sorted({person for people in candidates.values() for person in people}):
        place_for(person, set())
    assigned: dict[str, list[str]] = {role: [] for role in sorted(required)}
    for (role, _), person in sorted(holder.items()):
        assigned[role].append(person)
    return assigned


def evaluate_quorum(requirements: Mapping[str, Any], approvals: Iterable[Vote | tuple[str, str, str]]) -> QuorumResult:
    """Judge ``approvals`` (``(signer, role, decision)`` triples that still count) against ``requirements``
    (``{"roles": {"legal": 1, ...}, "min_total": 2, ...}``; other keys are ignored). Raises ``TrustError`` on
    malformed input; otherwise returns a ``QuorumResult`` (module docstring has the rule)."""
    required, min_total = _requirements(requirements)
    votes = _votes(approvals)
    vetoed_by = [(vote.signer, vote.role) for vote in votes if vote.decision == "reject"]
    candidates: dict[str, list[str]] = {}
    for vote in votes:
        if vote.decision == "approve":
            candidates.setdefault(vote.role, []).append(vote.signer)
    approvers = sorted({vote.signer for vote in votes if vote.decision == "approve"})
    assigned = _assign(required, candidates)
    missing = {role: required[role] - len(assigned[role]) for role in required if len(assigned[role]) < required[role]}
    met = not vetoed_by and not missing and len(approvers) >= min_total

    parts = [f"{len(approvers)} of {min_total} approvers"]
    parts += [f"{role} {len(assigned[role])}/{required[role]}" for role in sorted(required)]
    if vetoed_by:
        parts.append("rejected by " + ", ".join(f"{signer} ({role})" for signer, role in vetoed_by))
    if missing:
        parts.append("missing " + ", ".join(f"{count} {role}" for role, count in sorted(missing.items())))
    return QuorumResult(
        met=met,
        required=required,
        min_total=min_total,
        assigned=assigned,
        missing=missing,
        approvers=approvers,
        vetoed_by=vetoed_by,
        detail=("met: " if met else "not met: ") + "; ".join(parts),
    )
