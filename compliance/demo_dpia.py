"""The demo's DPIA (``seed_release_demo`` calls it before the releases are requested, so their manifests carry it):
the credit use case's DPIA covering the loan-applications dataset and the credit-limit scorer, written and
screened by the compliance officer and approved by the privacy reviewer. Idempotent: nothing is written when the
use case already has a DPIA."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone

from compliance import actions
from compliance.models import Dpia
from registry.models import Dataset, RegisteredModel, UseCase

AUTHOR = "carol-compliance"
REVIEWER = "pia-privacy"

SCREENING: dict[str, dict[str, Any]] = {
    "evaluation_scoring": {"answer": True, "note": "Scores each applicant's probability of default."},
    "automated_decision": {"answer": False, "note": "A credit officer decides; the score supports the decision."},
    "systematic_monitoring": {"answer": False, "note": ""},
    "sensitive_data": {"answer": True, "note": "The dataset holds a disability flag (art. 9), never a model input."},
    "large_scale": {"answer": True, "note": "Every credit-limit application of the retail portfolio."},
    "matching_datasets": {"answer": False, "note": ""},
    "vulnerable_subjects": {"answer": False, "note": "Applicants in financial difficulty are considered below."},
    "innovative_technology": {"answer": False, "note": "A gradient-boosted model, a well-known technique."},
    "prevents_rights": {"answer": True, "note": "A refused increase limits access to credit."},
}
RISKS: list[dict[str, Any]] = [
    {
        "title": "Discrimination through proxies of protected attributes",
        "description": "Postcode and employment history can stand in for ethnicity or age.",
        "likelihood": "possible",
        "severity": "severe",
        "mitigations": "Protected and special-category columns are excluded from the inputs; the proxy and "
        "fairness audits run on every release.",
        "residual_likelihood": "remote",
        "residual_severity": "significant",
    },
    {
        "title": "Inaccurate scores deny credit",
        "description": "A drifted model under-scores thin-file applicants.",
        "likelihood": "possible",
        "severity": "significant",
        "mitigations": "Decision support only; officers see the top reasons; drift monitoring and a 90-day review.",
        "residual_likelihood": "remote",
        "residual_severity": "significant",
    },
]


def seed_credit_dpia(*, team_slug: str, use_case_name: str, dataset_name: str, model_name: str, users: Any) -> int:
    """Create and approve the credit use case's DPIA; return how many objects were created (0 when present)."""
    use_case = UseCase.objects.select_related("team").get(team__slug=team_slug, name=use_case_name)
    if Dpia.objects.filter(use_case=use_case).exists():
        return 0
    author = users.get(username=AUTHOR)
    dataset = Dataset.objects.get(team=use_case.team, name=dataset_name)
    model = RegisteredModel.objects.filter(team=use_case.team, name=model_name).first()
    version = actions.do_create_dpia(
        use_case,
        actor=author,
        datasets=[dataset],
        model=model,
        processing_description="Monthly scoring of credit-limit increase applications from the loan-applications "
        "dataset; the score and its top reasons are shown to the credit officer who decides.",
        purposes="Decide credit-limit increases responsibly (consumer-credit creditworthiness duties).",
        legal_basis="contract",
        data_subjects="Applicants for a credit-limit increase: existing retail customers, adults.",
        recipients="Credit officers of the retail bank; internal audit. No transfer outside the group.",
        retention="Application data seven years after the contract ends; scores with the decision record.",
        necessity="A creditworthiness assessment is required before raising a limit; the model replaces manual "
        "rules with the same inputs.",
        proportionality="Only financial features are inputs; names, contact data, sex, age band, ethnicity and the "
        "disability flag are excluded; applicants are told and may ask for a human review.",
        risks=RISKS,
        dpo_advice="Proceed: the exclusions and the audits address the discrimination risk. Review within a year.",
        review_date=timezone.localdate() + datetime.timedelta(days=365),
    )
    actions.do_screen_dpia(version.dpia, actor=author, criteria=SCREENING)
    actions.do_submit_dpia(version.dpia, actor=author, comment="Ready for the DPO.")
    actions.do_review_dpia(
        version.dpia,
        actor=users.get(username=REVIEWER),
        decision="approve",
        comment="Approved with the fairness and proxy audits as conditions of every production release.",
    )
    return 1
