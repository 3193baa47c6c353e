"""The gate check ``audits_passed`` (docs/audits.md, "Release policies and the gate"): for every audit kind the
release's policy version requires, a report of exactly this artifact on the newest evaluation data, recent enough,
that passes when judged again by the policy's thresholds (audits.selection decides which reports count)."""

from __future__ import annotations

from audits.selection import audit_verdict
from governance.audit_policy import requirements_of
from governance.gate import GateContext, Verdict, register_check


@register_check(
    "audits_passed",
    "Every audit kind the policy requires has a report for this artifact's digest and the newest version of its "
    "evaluation dataset, not older than the policy allows, passing the policy's thresholds.",
)
def check_audits_passed(context: GateContext) -> Verdict:
    release = context.release
    version = release.model_version
    use_case = version.model.use_case
    requirements = requirements_of(
        release.policy_version.audit_requirements, use_case.risk_tier if use_case is not None else None
    )
    return audit_verdict(version, now=context.now, requirements=requirements)
