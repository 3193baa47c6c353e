"""Decisions of served models and their records (docs/serving.md, "Decision records").

A decision is what the reason catalogue in force draws from a row's score, with the principal reasons of the
version's local explanation: the same explainer (audits.explainers, the process's ExplainerCache, built from the
version's newest explanation report), the same checks on the rows, the same decision rule and the same ranking of
reasons (never a protected attribute) as ``POST /api/v1/model-versions/{id}/explain`` (audits.local_explanations).
What is served and what the statement of reasons later says therefore cannot drift apart.

``decision_rule`` reads the database once, when the inference service loads a version; ``decide`` reads nothing,
so that it can run on the request path. ``store_decision_records`` writes the records of logged predictions (the
logbook's writer, durably before the response when the deployment's policy asks for decision records).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audits.explainers import CACHE, ExplainerCache, explanation_report, local_explainer
from audits.local_explanations import (
    DEFAULT_TOP,
    NotExplainable,
    check_rows,
    explainable_inputs,
    feature_types,
    no_explanation_report,
    rank_reasons,
    unscored_rows,
)
from audits.local_explanations import Decision as CatalogueRule
from audits.local_explanations import decision_rule as catalogue_rule
from audits.models import AuditReport, ReasonCatalogue
from audits.pipelines.explain import ExplainError
from audits.reasons import current_catalogue, model_sensitive_columns
from audits.statements import recorded_statement_context
from registry.artifacts import ArtifactCorrupted, ArtifactMissing
from registry.models import ModelVersion
from serving.models import DecisionRecord, PredictionLog


@dataclass(frozen=True)
class DecisionRule:
    """What deciding for one model version needs, read once: the explanation report the explainer is built from
    (with its results: building reads no database), the reason catalogue in force (None: the defaults) and its
    rule, the features with their input types, and the features that may never be a reason."""

    model_version_id: int
    report: AuditReport
    catalogue: ReasonCatalogue | None
    rule: CatalogueRule
    types: Mapping[str, str]
    sensitive: Mapping[str, str]

    @property
    def features(self) -> list[str]:
        return list(self.types)


@dataclass(frozen=True)
class Decision:
    """The decision for one row: the catalogue's ``decision`` text for its ``score``, the principal ``reasons``
    (audits.local_explanations.rank_reasons' shape) and what they came from. ``uid`` is the decision record's, chosen
    now so that a response can name the record the logbook writes."""

    decision: str
    score: float
    reasons: list[dict[str, Any]]
    explanation_report_id: int | None
    reason_catalogue_id: int | None
    positive: bool
    withheld: int = 0
    uid: uuid.UUID = field(default_factory=uuid.uuid4)

    def as_json(self) -> dict[str, Any]:
        """What a prediction log row carries to the writer (and the spool, while the database is down)."""
        return {
            "uid": str(self.uid),
            "decision": self.decision,
            "score": self.score,
            "reasons": self.reasons,
            "explanation_report_id": self.explanation_report_id,
            "reason_catalogue_id": self.reason_catalogue_id,
            "positive": self.positive,
            "withheld": self.withheld,
        }

    @classmethod
    def of_json(cls, value: Any) -> Decision | None:
        if not value:
            return None
        return cls(**{**value, "uid": uuid.UUID(str(value["uid"]))})


def decision_rule(version: ModelVersion) -> DecisionRule | None:
    """The rule of ``version``'s decisions, or None when it has no explanation report of its artifact or cannot be
    explained (a string input, no single score): ``decide`` then says why. Reads the database."""
    try:
        feeds = explainable_inputs(version)
    except NotExplainable:
        return None
    found = explanation_report(version)
    if found is None:
        return None
    report = AuditReport.objects.get(pk=found.pk)  # with its results: the explainer's build reads no database
    catalogue = current_catalogue(version.model_id)
    return DecisionRule(
        model_version_id=version.pk,
        report=report,
        catalogue=catalogue,
        rule=catalogue_rule(catalogue),
        types=feature_types(feeds),
        sensitive=model_sensitive_columns(version.model),
    )


def decide(
    version: ModelVersion,
    rows: Sequence[Mapping[str, Any]],
    *,
    rule: DecisionRule | None,
    top: int = DEFAULT_TOP,
    cache: ExplainerCache | None = None,
) -> list[Decision]:
    """The decision of each row with its principal reasons. ``NotExplainable`` (409) when the version has no
    explanation report or cannot be explained; a ``ValidationError`` naming ``rows[i].feature`` for a row the model
    gives no score; ``core.refusals.Busy`` (503) while the explainer's first build in this process goes on."""
    if rule is None:
        explainable_inputs(version)  # says why a model cannot be explained, when that is the reason
        raise no_explanation_report(version)
    if rule.model_version_id != version.pk:
        raise ValueError(f"The decision rule of model version {rule.model_version_id} is not {version.pk}'s.")
    features = rule.features
    matrix = check_rows(list(rows), rule.types)
    try:
        local = local_explainer(version, rule.report, features, cache=cache if cache is not None else CACHE)
        scores = local.explainer.score(matrix)
        unscored = [i for i in range(len(matrix)) if not math.isfinite(float(scores[i]))]
        if unscored:
            raise ValidationError(unscored_rows(unscored, matrix, features, "rows"))
        explained = local.explainer.explain(matrix)
    except ExplainError as error:
        raise NotExplainable("unexplainable_model", str(error)) from None
    except (ArtifactMissing, ArtifactCorrupted) as error:
        raise NotExplainable("artifact_unavailable", f"The model's artifact cannot be read: {error}") from None
    entries = rule.catalogue.entries if rule.catalogue is not None else []
    decisions = []
    for i in range(len(matrix)):
        score = float(explained.scores[i])
        text, positive = rule.rule.of(score)
        reasons, withheld = rank_reasons(
            features,
            matrix[i],
            explained.values[i],
            positive=positive,
            entries=entries,
            sensitive=rule.sensitive,
            top=top,
        )
        decisions.append(
            Decision(
                decision=text,
                score=score,
                reasons=reasons,
                explanation_report_id=rule.report.pk,
                reason_catalogue_id=rule.catalogue.pk if rule.catalogue is not None else None,
                positive=positive,
                withheld=len(withheld),
            )
        )
    return decisions


@transaction.atomic
def store_decision_records(
    decided: Iterable[tuple[PredictionLog, Decision]], *, created_at: datetime | None = None
) -> list[DecisionRecord]:
    """Write the decision record of each logged prediction (saved rows) with its decision, in one transaction. A
    record is the decision of one row: a prediction log row of a recorded decision holds one scored row. No audit
    event: a decision record is itself the record (as a prediction log is), and the service writes thousands.
    Called by the inference service's logbook writer only: records are never written through the API."""
    when = created_at or timezone.now()
    records = []
    for prediction, decision in decided:
        if prediction.pk is None:
            raise ValueError("A decision record is written for a saved prediction log row.")
        records.append(
            DecisionRecord(
                uid=decision.uid,
                prediction=prediction,
                model_version_id=prediction.model_version_id,
                decision=decision.decision,
                score=decision.score,
                reasons=decision.reasons,
                explanation_report_id=decision.explanation_report_id,
                reason_catalogue_id=decision.reason_catalogue_id,
                created_at=when,
            )
        )
    return DecisionRecord.objects.bulk_create(records)


def decision_statement_context(record: DecisionRecord) -> dict[str, Any]:
    """What the statement of reasons of a recorded decision shows (audits.statements): the decision as recorded,
    dated when it was made, under the record's uid as reference."""
    return recorded_statement_context(
        record.model_version,
        decision=record.decision,
        score=record.score,
        reasons=list(record.reasons or []),
        catalogue=record.reason_catalogue,
        report=record.explanation_report,
        reference=str(record.uid),
        issued=record.created_at,
    )
