"""The gate check ``audits_passed`` (docs/audits.md, "Release policies and the gate"): for every audit kind the
release's policy version requires, a report of exactly this artifact on the newest evaluation data, recent enough,
that passes when judged again by the policy's thresholds (audits.selection decides which reports count)."""

from __future__ import annotations

from audits.selection import audit_verdict
from governance.audit_policy import release_requirements
from governance.gate import GateContext, Verdict, register_check


@register_check(
    "audits_passed",
    "Every audit kind the policy requires has a report for this artifact's digest and the newest version of its "
    "evaluation dataset, not older than the policy allows, passing the policy's thresholds.",
)
def check_audits_passed(context: GateContext) -> Verdict:
    release = context.release
    return audit_verdict(release.model_version, now=context.now, requirements=release_requirements(release))
