"""The statement of reasons for one decision: what a person is given (docs/audits.md, "Local explanations and the
statement of reasons"). The decision, the date, the model version, the principal reasons in the reason catalogue's
plain language and the catalogue's version; never a protected or prohibited attribute (audits.local_explanations
withholds them). Rendered by the template ``audits/statement.html`` as HTML, and as PDF by core.pdf with the print
stylesheet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from audits.local_explanations import decision_rule, describe_catalogue, describe_version, explain_rows
from audits.models import AuditReport, ReasonCatalogue
from registry.models import ModelVersion

# The principal reasons a statement gives (adverse-action notices give up to four).
STATEMENT_REASONS = 4
STATEMENT_STYLESHEET = "css/statement-print.css"
NO_TEXT_SENTENCE = (
    "The model's reason catalogue has no plain-language sentence for this reason yet ({feature} {verb} the score)."
)


def reason_sentences(reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The principal reasons (audits.local_explanations.rank_reasons' shape) with the sentence a person reads."""
    sentences = []
    for reason in reasons[:STATEMENT_REASONS]:
        verb = "raised" if reason["direction"] == "raises" else "lowered"
        text = reason["text"] or NO_TEXT_SENTENCE.format(feature=reason["feature"], verb=verb)
        sentences.append({**reason, "sentence": text, "has_text": reason["text"] is not None})
    return sentences


def statement_context(version: ModelVersion, row: Any, reference: str) -> dict[str, Any]:
    """What the statement shows for ``row``'s decision (raises what explain_rows raises)."""
    answer = explain_rows(version, [row], top=STATEMENT_REASONS, field="row")
    (result,) = answer["results"]
    reasons = reason_sentences(result["reasons"])
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


def recorded_statement_context(
    version: ModelVersion,
    *,
    decision: str,
    score: float,
    reasons: list[dict[str, Any]],
    catalogue: ReasonCatalogue | None,
    report: AuditReport | None,
    reference: str,
    issued: datetime,
) -> dict[str, Any]:
    """What the statement shows for a decision recorded when it was made (serving's decision records): its own
    decision, score and reasons under the catalogue then in force, never recomputed (a newer catalogue or
    explanation report does not rewrite what a person was told)."""
    results = (report.results or {}) if report is not None else {}
    background = results.get("background") or {}
    explainer = {
        "method": (results.get("explainer") or {}).get("method", "unknown"),
        "report": {"id": report.pk if report is not None else None, "digest": report.digest if report else None},
        "background": {"rows": background.get("rows", len(background.get("values") or []))},
    }
    return {
        "reference": reference,
        "issued": issued,
        "version": version,
        "model": describe_version(version),
        "artifact_short": version.artifact_sha256[:12],
        "decision": decision,
        "score": score,
        "reasons": reason_sentences(reasons),
        "withheld_count": 0,
        "catalogue": describe_catalogue(catalogue, decision_rule(catalogue)),
        "explainer": explainer,
        "row": None,
    }
