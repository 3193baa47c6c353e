"""Actions on release policies and their versions (which policy is in force: governance.policies).

A policy's rules are immutable ``ReleasePolicyVersion`` rows numbered from 1 under a lock on the policy; a change is
a new version, and a release keeps the version in force when it was requested. The rules are checked against the
board when the version is written (docs/releases.md, "Release policies").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from core.audit import record_event
from core.choices import AuditEventType, BoardRole
from core.models import Team
from governance import gate
from governance.actions.boards import require_manager
from governance.audit_policy import clean_audit_requirements
from governance.choices import DecisionRecords
from governance.models import BoardMember, Environment, ReleasePolicy, ReleasePolicyVersion, ReviewBoard
from registry.choices import RiskTier

MAX_ROLE_COUNT = 50
MAX_MIN_TOTAL = 100
MAX_VALID_DAYS = 3650


def known_checks() -> set[str]:
    """The names of the gate checks a policy may require (governance.gate's registry)."""
    return set(gate.known_checks())


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _enough_people(seats: dict[int, set[str]], required: dict[str, int]) -> bool:
    """Whether distinct people can fill every required role slot, each person in one role they hold.

    A maximum bipartite matching (augmenting paths) of slots to people: boards are small, so this is cheap.
    """
    slots = [role for role, count in sorted(required.items()) for _ in range(count)]
    holder: dict[int, int] = {}  # person -> slot index

    def place(slot: int, seen: set[int]) -> bool:
        for person, roles in seats.items():
            if slots[slot] in roles and person not in seen:
                seen.add(person)
                if person not in holder or place(holder[person], seen):
                    holder[person] = slot
                    return True
        return False

    return all(place(slot, set()) for slot in range(len(slots)))


def clean_rules(
    board: ReviewBoard,
    *,
    required_roles: Any,
    min_total: Any,
    approval_valid_days: Any,
    required_checks: Any,
    audit_requirements: Any = None,
    decision_records: Any = None,
) -> dict[str, Any]:
    """The rules of a policy version, validated; a ValidationError names every field at fault.

    ``required_roles`` maps known board roles to counts of at least 1. ``min_total`` (at least 1) is the least
    number of distinct approvers; it may be smaller than the roles' sum, in which case the sum decides. The rules
    must be achievable by the board as it is now: distinct members able to fill every role slot (a person counts
    once, in one role) and at least ``max(min_total, sum of the counts)`` members in all. ``audit_requirements``
    are checked by governance.audit_policy.clean_audit_requirements. ``decision_records`` (governance.choices.
    DecisionRecords; default ``on_request``) says when the inference service records decisions with their reasons.
    """
    errors: dict[str, str] = {}
    records = DecisionRecords.ON_REQUEST if decision_records is None else decision_records
    if records not in DecisionRecords.values:
        errors["decision_records"] = f"One of {', '.join(DecisionRecords.values)}."
    roles: dict[str, int] = {}
    if not isinstance(required_roles, dict):
        errors["required_roles"] = 'An object mapping board roles to counts, e.g. {"legal": 1, "technical": 2}.'
    else:
        unknown = sorted(str(role) for role in required_roles if role not in BoardRole.values)
        bad = sorted(
            str(role)
            for role, count in required_roles.items()
            if role in BoardRole.values and not (_is_int(count) and 1 <= count <= MAX_ROLE_COUNT)
        )
        if unknown:
            errors["required_roles"] = (
                f"Unknown board role(s) {', '.join(unknown)}; the roles are {', '.join(BoardRole.values)}."
            )
        elif bad:
            errors["required_roles"] = (
                f"The count of {', '.join(bad)} must be a whole number from 1 to {MAX_ROLE_COUNT}."
            )
        else:
            roles = {str(role): int(count) for role, count in required_roles.items()}
    if not (_is_int(min_total) and 1 <= min_total <= MAX_MIN_TOTAL):
        errors["min_total"] = f"A whole number from 1 to {MAX_MIN_TOTAL}: the least number of distinct approvers."
    if not (_is_int(approval_valid_days) and 1 <= approval_valid_days <= MAX_VALID_DAYS):
        errors["approval_valid_days"] = f"A whole number of days from 1 to {MAX_VALID_DAYS}."
    checks: list[str] = []
    if isinstance(required_checks, str) or not isinstance(required_checks, Iterable):
        errors["required_checks"] = "A list of gate check names."
    else:
        checks = list(required_checks)
        known = known_checks()
        unknown_checks = [str(name) for name in checks if not isinstance(name, str) or name not in known]
        if unknown_checks:
            errors["required_checks"] = (
                f"Unknown gate check(s) {', '.join(unknown_checks)}; the checks are {', '.join(sorted(known))}."
            )
        elif len(set(checks)) != len(checks):
            errors["required_checks"] = "A check is named twice."
    audits: dict[str, Any] = {}
    if "required_checks" not in errors:
        try:
            audits = clean_audit_requirements(audit_requirements, checks)
        except ValidationError as error:
            errors.update({field: " ".join(messages) for field, messages in error.message_dict.items()})
    if not errors:
        seats: dict[int, set[str]] = {}
        for user_id, role in BoardMember.objects.filter(board=board).values_list("user_id", "board_role"):
            seats.setdefault(user_id, set()).add(role)
        short = sorted(role for role, count in roles.items() if sum(role in held for held in seats.values()) < count)
        needed = max(min_total, sum(roles.values()))
        if short:
            errors["required_roles"] = (
                f"Board {board.slug} has too few members in role(s) {', '.join(short)} to meet these counts."
            )
        elif not _enough_people(seats, roles):
            errors["required_roles"] = (
                f"Board {board.slug} cannot fill these roles with distinct people: a person counts once, in one role."
            )
        elif len(seats) < needed:
            errors["min_total"] = (
                f"Board {board.slug} has {len(seats)} member(s); this policy needs {needed} distinct approvers."
            )
    if errors:
        raise ValidationError(errors)
    return {
        "required_roles": roles,
        "min_total": min_total,
        "approval_valid_days": approval_valid_days,
        "required_checks": checks,
        "audit_requirements": audits,
        "decision_records": records,
    }


def _write_version(policy: ReleasePolicy, *, actor: User, rules: dict[str, Any], note: str) -> ReleasePolicyVersion:
    # The lock on the policy serializes numbering; the unique constraint is the backstop.
    ReleasePolicy.objects.select_for_update().get(pk=policy.pk)
    latest = ReleasePolicyVersion.objects.filter(policy=policy).aggregate(top=Max("number"))["top"] or 0
    version = ReleasePolicyVersion(policy=policy, number=latest + 1, note=note, created_by=actor, **rules)
    version.full_clean()
    version.save()
    record_event(
        AuditEventType.POLICY_VERSION_CREATED,
        actor=actor,
        target=version,
        team=policy.team,
        after={"policy": policy.name, "number": version.number, **rules, "note": note},
    )
    return version


@transaction.atomic
def do_create_policy(
    *,
    actor: User,
    team: Team | None,
    name: str,
    environment: Environment,
    risk_tier: str,
    board: ReviewBoard,
    required_roles: Any,
    min_total: Any,
    approval_valid_days: Any,
    required_checks: Any = (),
    audit_requirements: Any = None,
    decision_records: Any = None,
    note: str = "",
) -> ReleasePolicy:
    """Create a policy for (team or organisation, environment, risk tier) and its version 1."""
    require_manager(actor, team, "release policies")
    if risk_tier not in RiskTier.values:
        raise ValidationError({"risk_tier": f"Unknown risk tier {risk_tier!r}; one of {', '.join(RiskTier.values)}."})
    if risk_tier == RiskTier.PROHIBITED:
        raise ValidationError({"risk_tier": "A prohibited practice is never released: no policy governs it."})
    if board.team_id is not None and board.team_id != (team.pk if team else None):
        whose = f"team {team.slug}'s" if team else "an organisation"
        raise ValidationError({"board": f"Board {board.slug} belongs to another team; {whose} policy cannot use it."})
    existing = ReleasePolicy.objects.filter(team=team, environment=environment, risk_tier=risk_tier).first()
    if existing is not None:
        owner = f"Team {team.slug}" if team else "The organisation"
        raise ValidationError(
            {
                "risk_tier": f"{owner} already has policy {existing.name!r} (id {existing.pk}) for {environment.slug} "
                f"and {risk_tier} risk: add a version to it instead."
            }
        )
    rules = clean_rules(
        board,
        required_roles=required_roles,
        min_total=min_total,
        approval_valid_days=approval_valid_days,
        required_checks=required_checks,
        audit_requirements=audit_requirements,
        decision_records=decision_records,
    )
    policy = ReleasePolicy(
        team=team, name=name, environment=environment, risk_tier=risk_tier, board=board, created_by=actor
    )
    policy.full_clean()
    policy.save()
    record_event(
        AuditEventType.POLICY_CREATED,
        actor=actor,
        target=policy,
        team=team,
        after={
            "team": team.slug if team else None,
            "name": name,
            "environment": environment.slug,
            "risk_tier": risk_tier,
            "board": board.slug,
        },
    )
    _write_version(policy, actor=actor, rules=rules, note=note)
    return policy


@transaction.atomic
def do_add_policy_version(
    policy: ReleasePolicy,
    *,
    actor: User,
    required_roles: Any,
    min_total: Any,
    approval_valid_days: Any,
    required_checks: Any = (),
    audit_requirements: Any = None,
    decision_records: Any = None,
    note: str = "",
) -> ReleasePolicyVersion:
    """Write the policy's next version; releases requested from now on are judged by it."""
    require_manager(actor, policy.team, "release policies")
    rules = clean_rules(
        policy.board,
        required_roles=required_roles,
        min_total=min_total,
        approval_valid_days=approval_valid_days,
        required_checks=required_checks,
        audit_requirements=audit_requirements,
        decision_records=decision_records,
    )
    return _write_version(policy, actor=actor, rules=rules, note=note)
