"""The fixed parts of a DPIA: its workflow states, the EDPB's nine screening criteria, the risk matrix and the
assessment's sections. Pure data and small pure functions; no ORM.

Screening follows the EDPB's guidelines on DPIAs (WP248 rev.01): processing that meets two or more of the nine
criteria is likely to result in a high risk and needs a full DPIA. The risk matrix is the one of the ICO's DPIA
template: likelihood (remote, possible, probable) by severity (minimal, significant, severe) gives a low, medium or
high risk. A residual risk that stays high means the supervisory authority must be consulted before the
processing starts (GDPR Art. 36).
"""

from __future__ import annotations

from typing import Any

from django.db import models


class DpiaStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted for review"
    APPROVED = "approved", "Approved"
    RETURNED = "returned", "Returned to its author"


# (from, to) moves a DPIA version may make; an approved version moves no more (a change is a new version).
DPIA_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (DpiaStatus.DRAFT, DpiaStatus.SUBMITTED),
        (DpiaStatus.RETURNED, DpiaStatus.SUBMITTED),
        (DpiaStatus.SUBMITTED, DpiaStatus.APPROVED),
        (DpiaStatus.SUBMITTED, DpiaStatus.RETURNED),
    }
)
EDITABLE_STATUSES = (DpiaStatus.DRAFT, DpiaStatus.RETURNED)

# The EDPB's nine criteria (WP248 rev.01, III.B.a), by stable key, with the question a screener answers.
CRITERIA: dict[str, str] = {
    "evaluation_scoring": "Evaluation or scoring, including profiling and predicting",
    "automated_decision": "Automated decision-making with legal or similar significant effect",
    "systematic_monitoring": "Systematic monitoring of data subjects",
    "sensitive_data": "Sensitive data or data of a highly personal nature",
    "large_scale": "Data processed on a large scale",
    "matching_datasets": "Matching or combining datasets",
    "vulnerable_subjects": "Data concerning vulnerable data subjects",
    "innovative_technology": "Innovative use or applying new technological or organisational solutions",
    "prevents_rights": "Processing that prevents data subjects from exercising a right or using a service",
}
FULL_DPIA_THRESHOLD = 2


class Likelihood(models.TextChoices):
    REMOTE = "remote", "Remote"
    POSSIBLE = "possible", "Reasonable possibility"
    PROBABLE = "probable", "More likely than not"


class Severity(models.TextChoices):
    MINIMAL = "minimal", "Minimal"
    SIGNIFICANT = "significant", "Significant"
    SEVERE = "severe", "Severe"


class RiskLevel(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


def risk_level(likelihood: str, severity: str) -> str:
    """The matrix: the product of the two ranks (1 to 3 each); 1-2 low, 3-4 medium, 6-9 high."""
    score = (list(Likelihood.values).index(likelihood) + 1) * (list(Severity.values).index(severity) + 1)
    if score >= 6:
        return RiskLevel.HIGH
    return RiskLevel.MEDIUM if score >= 3 else RiskLevel.LOW


def screening_outcome(criteria: dict[str, Any]) -> tuple[bool, str]:
    """Whether a full DPIA is required for ``criteria`` (key -> {"answer", "note"}) and why, in words."""
    met = [key for key in CRITERIA if criteria.get(key, {}).get("answer") is True]
    if len(met) >= FULL_DPIA_THRESHOLD:
        listed = "; ".join(CRITERIA[key].lower() for key in met)
        return True, f"{len(met)} of the EDPB's nine criteria are met ({listed}): a full DPIA is required."
    if met:
        return False, (
            f"Only one criterion is met ({CRITERIA[met[0]].lower()}): a full DPIA is not required by the EDPB's rule "
            "of two, though one may still be carried out."
        )
    return False, "None of the EDPB's nine criteria is met: a full DPIA is not required."


# The assessment's text sections (Art. 35(7) and the regulators' templates), in the order a reader meets them.
TEXT_SECTIONS: dict[str, str] = {
    "processing_description": "Nature, scope and context of the processing",
    "purposes": "Purposes of the processing",
    "data_subjects": "Categories of data subjects",
    "recipients": "Recipients of the data",
    "retention": "Retention",
    "necessity": "Necessity",
    "proportionality": "Proportionality",
    "dpo_advice": "Advice of the data protection officer",
}
