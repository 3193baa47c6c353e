"""DPIA objects for tests: a use case of team A with a dataset holding personal data, a full DPIA draft, screened,
submitted and approved by the privacy reviewer of the cast."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone

from compliance import actions
from tests.registry.factories import make_dataset, make_dataset_version, make_use_case

SCREENING: dict[str, dict[str, Any]] = {
    "evaluation_scoring": {"answer": True, "note": "Scores applicants' credit risk."},
    "automated_decision": {"answer": True, "note": "Limits are raised without a person for low scores."},
    "systematic_monitoring": {"answer": False, "note": ""},
    "sensitive_data": {"answer": False, "note": "No art. 9 data among the inputs."},
    "large_scale": {"answer": True, "note": "Every applicant of the EU portfolio."},
    "matching_datasets": {"answer": False, "note": ""},
    "vulnerable_subjects": {"answer": False, "note": ""},
    "innovative_technology": {"answer": False, "note": ""},
    "prevents_rights": {"answer": False, "note": ""},
}
RISK: dict[str, Any] = {
    "title": "Discrimination by proxy",
    "description": "Postcode may stand in for ethnicity.",
    "likelihood": "possible",
    "severity": "severe",
    "mitigations": "Postcode is not an input; fairness audit per release.",
    "residual_likelihood": "remote",
    "residual_severity": "significant",
}


def in_days(days: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=days)


def assessment(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "processing_description": "Monthly scoring of credit applications.",
        "purposes": "Decide credit limit increases.",
        "legal_basis": "contract",
        "data_subjects": "Applicants and existing customers.",
        "recipients": "Credit officers.",
        "retention": "Seven years after the contract ends.",
        "necessity": "The limit decision cannot be taken without the applicant's financial data.",
        "proportionality": "Only financial features; identifying columns are left out.",
        "risks": [RISK],
        "dpo_advice": "Proceed with the fairness audit in place.",
        "review_date": in_days(365),
    }
    fields.update(overrides)
    return fields


def make_personal_dataset(cast: Any, team: Any = None, name: str = "Loan applications") -> Any:
    team = team or cast.team_a
    dataset = make_dataset(team, cast.engineer_a if team == cast.team_a else cast.engineer_b, name=name)
    make_dataset_version(dataset, cast.engineer_a if team == cast.team_a else cast.engineer_b)
    return dataset


def make_draft(cast: Any, use_case: Any = None, datasets: list[Any] | None = None, **overrides: Any) -> Any:
    """A draft DPIA (version 1) by the compliance officer of team A, the whole assessment filled in."""
    use_case = use_case or make_use_case(cast.team_a, cast.engineer_a, name="Credit limit", risk_tier="high")
    if datasets is None:
        datasets = [make_personal_dataset(cast)]
    return actions.do_create_dpia(use_case, actor=cast.compliance, datasets=datasets, **assessment(**overrides))


def make_submitted(cast: Any, **overrides: Any) -> Any:
    version = make_draft(cast, **overrides)
    actions.do_screen_dpia(version.dpia, actor=cast.compliance, criteria=SCREENING)
    return actions.do_submit_dpia(version.dpia, actor=cast.compliance)


def make_approved(cast: Any, **overrides: Any) -> Any:
    version = make_submitted(cast, **overrides)
    return actions.do_review_dpia(
        version.dpia, actor=cast.reviewers["privacy"], decision="approve", comment="Mitigations suffice."
    )
