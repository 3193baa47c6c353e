"""The fairness thresholds a report is judged by, per risk tier of the model's use case.

A first, deliberately small decision (docs/audits.md): defaults in code, stricter for high-risk use cases; the
thresholds used are stored in each report. Moving them into the release policy's versions (an ``audit_thresholds``
field) is the next step; the gate already judges a report by its stored verdict.
"""

from __future__ import annotations

DEFAULT = {
    "disparate_impact_min": 0.8,
    "statistical_parity_max": 0.1,
    "equal_opportunity_max": 0.1,
    "average_odds_max": 0.1,
}
BY_RISK_TIER = {
    "high": {**DEFAULT, "statistical_parity_max": 0.05, "equal_opportunity_max": 0.05, "average_odds_max": 0.05},
}


def fairness_thresholds(risk_tier: str | None) -> dict[str, float]:
    return dict(BY_RISK_TIER.get(risk_tier or "", DEFAULT))
