"""Which open releases a policy change affects, worked out before it is saved (the policy pages' preview).

A release is judged by the policy version it recorded when it was requested, and the gate's ``policy_current`` check
fails once another version is in force for its team, environment and risk tier (governance.policies.policy_in_force).
So a change affects the open releases whose policy in force it changes. Rather than predict that with a second copy
of the rules, ``preview_policy_change`` runs the very action that will save the change inside a transaction that is
rolled back, and asks ``policy_in_force`` before and after: the preview and the save cannot disagree, and a refusal
(an impossible rule, a board of another team) is the action's own, raised here already.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from core.choices import BoardRole
from core.models import Team
from governance.choices import DecisionRecords, ReleaseStatus
from governance.models import Environment, Release, ReleasePolicyVersion
from governance.policies import policy_in_force

ROLE_LABELS = dict(BoardRole.choices)
RECORD_LABELS = dict(DecisionRecords.choices)


@dataclass(frozen=True)
class RuleChange:
    """One rule that differs between the version a release was requested under and the new one, as text."""

    rule: str
    before: str
    after: str


@dataclass(frozen=True)
class AffectedRelease:
    release: Release
    recorded: ReleasePolicyVersion
    # Whether the recorded version was in force until now: if not, the release already needed a new request.
    was_current: bool
    changes: list[RuleChange]


@dataclass
class PolicyImpact:
    """What saving the change would do: the version it writes (not saved) and the open releases it affects."""

    number: int
    releases: list[AffectedRelease] = field(default_factory=list)


def _roles(value: Any) -> str:
    if not value:
        return "none"
    order = {role: index for index, role in enumerate(BoardRole.values)}
    items = sorted(value.items(), key=lambda item: order.get(item[0], 99))
    return ", ".join(f"{count} \N{MULTIPLICATION SIGN} {ROLE_LABELS.get(role, role)}" for role, count in items)


def _audits(value: Any) -> str:
    if not value:
        return "none"
    parts = []
    for kind, requirement in sorted(value.items()):
        thresholds = ", ".join(f"{name} {number:g}" for name, number in sorted(requirement["thresholds"].items()))
        parts.append(f"{kind} ≤ {requirement['max_age_days']} days" + (f" ({thresholds})" if thresholds else ""))
    return "; ".join(parts)


RULES: list[tuple[str, str, Callable[[Any], str]]] = [
    ("required_roles", "Roles", _roles),
    ("min_total", "Least number of approvers", str),
    ("approval_valid_days", "Approvals valid (days)", str),
    ("required_checks", "Gate checks", lambda checks: ", ".join(checks) or "none"),
    ("audit_requirements", "Audits", _audits),
    ("decision_records", "Decision records", lambda value: RECORD_LABELS.get(value, value)),
]


def rule_changes(before: ReleasePolicyVersion, after: ReleasePolicyVersion) -> list[RuleChange]:
    changes = []
    for name, label, show in RULES:
        old, new = show(getattr(before, name)), show(getattr(after, name))
        if old != new:
            changes.append(RuleChange(label, old, new))
    if before.policy_id != after.policy_id:
        changes.insert(0, RuleChange("Policy", before.policy.name, after.policy.name))
    return changes


def _in_force(teams: dict[int, Team], environment: Environment, risk_tier: str) -> dict[int, int | None]:
    result = {}
    for team_id, team in teams.items():
        version = policy_in_force(team, environment, risk_tier)
        result[team_id] = version.pk if version else None
    return result


def preview_policy_change(
    *,
    user: User,
    environment: Environment,
    risk_tier: str,
    team: Team | None,
    write: Callable[[], ReleasePolicyVersion],
) -> PolicyImpact:
    """Run ``write`` (the action, with the form's input) in a transaction that is rolled back, and report the open
    releases the user may see in ``environment`` for use cases of ``risk_tier`` (of ``team``, or of every team for
    an organisation policy) whose policy in force it changes. The action's ValidationError or PermissionDenied
    passes through: nothing was saved."""
    candidates = (
        Release.objects.restrict(user)
        .filter(
            status=ReleaseStatus.OPEN,
            environment=environment,
            model_version__model__use_case__risk_tier=risk_tier,
        )
        .select_related("model_version__model__team", "requested_by", "policy_version__policy")
        .order_by("requested_at", "id")
    )
    if team is not None:
        candidates = candidates.filter(model_version__model__team=team)
    releases = list(candidates)
    teams = {release.model_version.model.team_id: release.model_version.model.team for release in releases}
    before = _in_force(teams, environment, risk_tier)
    with transaction.atomic():
        version = write()
        after = _in_force(teams, environment, risk_tier)
        version = ReleasePolicyVersion.objects.select_related("policy").get(pk=version.pk)
        affected = []
        for release in releases:
            team_id = release.model_version.model.team_id
            if after[team_id] == before[team_id]:
                continue
            recorded = release.policy_version
            affected.append(
                AffectedRelease(release, recorded, recorded.pk == before[team_id], rule_changes(recorded, version))
            )
        # A preview: whatever the action wrote (the version, its audit event) is undone here.
        transaction.set_rollback(True)
    return PolicyImpact(number=version.number, releases=affected)
