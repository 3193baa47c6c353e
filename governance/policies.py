"""Which release policy is in force: read by the release request (governance.actions.releases), which pins it, and
by the gate (governance.gate), which checks that the pinned version is still the one in force."""

from __future__ import annotations

from core.models import Team
from governance.models import Environment, ReleasePolicy, ReleasePolicyVersion


def policy_in_force(team: Team, environment: Environment, risk_tier: str) -> ReleasePolicyVersion | None:
    """The newest version of the policy for (team, environment, risk tier); the team's own beats the organisation's."""
    policy = (
        ReleasePolicy.objects.filter(environment=environment, risk_tier=risk_tier, team=team).first()
        or ReleasePolicy.objects.filter(environment=environment, risk_tier=risk_tier, team__isnull=True).first()
    )
    if policy is None:
        return None
    return (
        ReleasePolicyVersion.objects.filter(policy=policy)
        .select_related("policy__board", "policy__environment", "policy__team")
        .order_by("-number")
        .first()
    )
