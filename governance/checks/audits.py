"""The gate check ``audits_passed`` (docs/audits.md): the audits' reports for exactly this artifact and the newest
evaluation data, recent enough, each passed (audits.selection decides which reports count)."""

from __future__ import annotations

from audits.selection import audit_verdict
from governance.gate import GateContext, Verdict, register_check


@register_check(
    "audits_passed",
    "Every required audit has a passing report for this artifact's digest and the newest version of its evaluation "
    "dataset, not older than allowed.",
)
def check_audits_passed(context: GateContext) -> Verdict:
    return audit_verdict(context.release.model_version, now=context.now)
