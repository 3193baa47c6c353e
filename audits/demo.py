"""The audits' demo data: the reason catalogue of the demo credit model (registry.demo), which
``seed_audits_demo`` sets through audits.actions.do_set_reason_catalogue. Pure data, no database.

The model's score is the probability of default, so a feature that **raises** it counts against the applicant and
one that **lowers** it in their favour; a score at or above registry.demo.THRESHOLD is declined. The sentences are
what a lender would write in a letter. ``district_default_rate`` has deliberately no sentence: the demo's proxy audit
shows it carries the ethnicity signal of the postcode (registry.demo.PROXY), and a person is never told that where
they live decided their credit. The principal reasons of a decision then report it as a feature without reason text.
"""

from __future__ import annotations

from typing import Any

from registry import demo

RAISES, LOWERS = "raises", "lowers"

# (feature, direction, the sentence shown to the applicant)
SENTENCES: tuple[tuple[str, str, str], ...] = (
    ("annual_income", RAISES, "Your income is low relative to the amount requested"),
    ("annual_income", LOWERS, "Your income is high relative to the amount requested"),
    ("debt_to_income", RAISES, "Your existing debt repayments are high compared with your income"),
    ("debt_to_income", LOWERS, "Your existing debt repayments are low compared with your income"),
    ("credit_history_months", RAISES, "Your credit history is short"),
    ("credit_history_months", LOWERS, "You have a long credit history"),
    ("late_payments_12m", RAISES, "You made one or more late payments in the last 12 months"),
    ("late_payments_12m", LOWERS, "You made your payments on time in the last 12 months"),
    ("open_credit_lines", RAISES, "You have a large number of open credit accounts"),
    ("open_credit_lines", LOWERS, "You have few open credit accounts"),
    ("requested_limit_increase", RAISES, "The limit increase you asked for is large"),
    ("requested_limit_increase", LOWERS, "The limit increase you asked for is modest"),
)
WITHOUT_TEXT = demo.PROXY[0]
NOTE = (
    f"{WITHOUT_TEXT} has no reason text on purpose: a district's past default rate follows its ethnic composition "
    f"(the proxy audit flags it as a proxy for {demo.PROXY[1]}), so it is never given to an applicant as a reason."
)


def reason_catalogue() -> dict[str, Any]:
    """The keyword arguments of do_set_reason_catalogue for the demo credit model."""
    return {
        "entries": [{"feature": feature, "direction": way, "text": text} for feature, way, text in SENTENCES],
        "threshold": demo.THRESHOLD,
        "positive_decision": "Declined",
        "negative_decision": "Approved",
        "note": NOTE,
    }
