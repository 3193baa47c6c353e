"""The statement of reasons for one decision: what a person is given (docs/audits.md, "Local explanations and the
statement of reasons"). The decision, the date, the model version, the principal reasons in the reason catalogue's
plain language and the catalogue's version; never a protected or prohibited attribute (audits.local_explanations
withholds them). Rendered by the template ``audits/statement.html`` as HTML, and as PDF by core.pdf with the print
stylesheet.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from audits.local_explanations import explain_rows
from registry.models import ModelVersion

# The principal reasons a statement gives (adverse-action notices give up to four).
STATEMENT_REASONS = 4
STATEMENT_STYLESHEET = "css/statement-print.css"
NO_TEXT_SENTENCE = (
    "The model's reason catalogue has no plain-language sentence for this reason yet ({feature} {verb} the score)."
)


def statement_context(version: ModelVersion, row: Any, reference: str) -> dict[str, Any]:
    """What the statement shows for ``row``'s decision (raises what explain_rows raises)."""
    answer = explain_rows(version, [row], top=STATEMENT_REASONS, field="row")
    (result,) = answer["results"]
    reasons = []
    for reason in result["reasons"]:
        verb = "raised" if reason["direction"] == "raises" else "lowered"
        text = reason["text"] or NO_TEXT_SENTENCE.format(feature=reason["feature"], verb=verb)
        reasons.append({**reason, "sentence": text, "has_text": reason["text"] is not None})
    return {
        "reference": reference,
        "issued": timezone.now(),
        "version": version,
        "model": answer["model_version"],
        "artifact_short": version.artifact_sha256[:12],
        "decision": result["decision"],
        "score": result["score"],
        "reasons": reasons,
        "withheld_count": len(result["withheld"]),
        "catalogue": answer["catalogue"],
        "explainer": answer["explainer"],
        "row": row,
    }


def statement_filename(context: dict[str, Any]) -> str:
    version = context["version"]
    return f"statement-{version.model.team.slug}-{version.model_id}-v{version.number}.pdf"
