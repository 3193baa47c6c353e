"""What the release policies ask of audits (docs/audits.md): which thresholds an audit job judges by.

An audit runs before any release exists, for a model whose use case has a risk tier; the thresholds it judges
by are the strictest that any release policy for that risk tier sets (audits.kinds.strictest), else the kind's
defaults for the tier. The gate judges a report again with its own release's policy (governance.checks.audits).
"""

from __future__ import annotations

from audits.kinds import spec
from registry.models import ModelVersion


def audit_thresholds(model_version: ModelVersion, kind: str) -> dict[str, float]:
    """The thresholds the ``kind`` audit of ``model_version`` is judged by when it runs."""
    use_case = model_version.model.use_case
    return spec(kind).default_thresholds(use_case.risk_tier if use_case is not None else None)
