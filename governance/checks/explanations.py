"""The gate check ``decisions_explainable``: a release whose policy asks for a decision record of every request
(``decision_records = always``) needs an explanation report of exactly this artifact. Without one the inference
service could not give the reasons the policy promises and would refuse every request (409), so the deployment is
refused here instead, before anything is served."""

from __future__ import annotations

from audits.explainers import explanation_report
from governance.choices import DecisionRecords
from governance.gate import GateContext, Verdict, register_check


@register_check(
    "decisions_explainable",
    "When the policy records every decision with its reasons, an explanation report of this artifact exists.",
    always=True,
)
def check_decisions_explainable(context: GateContext) -> Verdict:
    release = context.release
    if release.policy_version.decision_records != DecisionRecords.ALWAYS:
        return True, "The policy records decisions on request only: no explanation report is needed to serve."
    version = release.model_version
    report = explanation_report(version)
    if report is None:
        return False, (
            f"The policy records every decision with its reasons, and model version {version.number} has no "
            f"explanation report of its artifact ({version.artifact_sha256[:12]}…): run an explanation audit first."
        )
    return True, f"Decisions are explained from explanation report {report.pk} of this artifact."
