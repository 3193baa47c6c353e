"""Prediction logs as a retention target and as records legal holds can cover (compliance.retention,
compliance.holds), registered from serving's AppConfig.ready: compliance never imports serving.

A purge of a prediction log deletes its ``inputs`` (the personal data it may hold) and keeps the row: outputs,
scores, data quality and the inputs' SHA-256 stay, as the log of what was served, under a tombstone like every
purge. A row with a decision record is no candidate: the decision's record keeps its prediction. A row under legal
hold is kept by the retention run as for every record (holds on its model, use case, training datasets, team, or
on data subjects: ``prediction_facts``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.choices import CountedFrom, OnExpiry
from compliance.holds import HoldFacts
from compliance.retention import Candidate, RetentionTarget, highest, live, team_filter
from registry.models import DatasetVersion
from serving.models import Deployment, PredictionLog

KIND = "prediction_logs"


def deployment_facts(deployment: Deployment) -> HoldFacts:
    """What a hold can match on a deployment's logs: its model's team, the model, its use case, the datasets its
    version was trained on; personal, since a log may hold a person's inputs."""
    model = deployment.model
    datasets = DatasetVersion.objects.filter(model_versions=deployment.model_version_id).values_list(
        "dataset_id", flat=True
    )
    return HoldFacts(
        team_id=model.team_id,
        datasets=frozenset(datasets),
        models=frozenset({model.pk}),
        use_cases=frozenset({model.use_case_id}) if model.use_case_id else frozenset(),
        personal=True,
    )


def prediction_facts(prediction: PredictionLog) -> HoldFacts:
    facts = deployment_facts(prediction.deployment)
    return HoldFacts(
        facts.team_id, facts.datasets, facts.models, facts.use_cases, personal=prediction.inputs is not None
    )


def classifications() -> Iterator[tuple[int, str]]:
    """Each model version's classification: the highest of the datasets it was trained on (internal without)."""
    found: dict[int, list[str]] = {}
    rows = DatasetVersion.objects.filter(model_versions__isnull=False).values_list(
        "model_versions", "dataset__classification"
    )
    for version_id, classification in rows:
        found.setdefault(version_id, []).append(classification)
    for version_id, values in found.items():
        yield version_id, highest(values)


def candidate(prediction: PredictionLog, classification: str) -> Candidate:
    return Candidate(
        kind=KIND,
        record=prediction,
        team_id=prediction.model.team_id,
        classification=classification,
        dates={CountedFrom.CREATED: prediction.logged_at},
        digest=prediction.inputs_sha256,
    )


def candidates(team_ids: list[int] | None) -> Iterator[Candidate]:
    """The logs of those teams that still hold inputs and have no decision record, oldest first."""
    ranked = dict(classifications())
    queryset = PredictionLog.objects.filter(inputs__isnull=False, decision__isnull=True).select_related("model")
    for prediction in live(team_filter(queryset, "model__team_id", team_ids), PredictionLog).order_by("pk").iterator():
        yield candidate(prediction, ranked.get(prediction.model_version_id, highest([])))


def load(pk: Any) -> Candidate | None:
    prediction = PredictionLog.objects.select_related("model").filter(pk=pk).first()
    if prediction is None:
        return None
    ranked = DatasetVersion.objects.filter(model_versions=prediction.model_version_id).values_list(
        "dataset__classification", flat=True
    )
    return candidate(prediction, highest(ranked))


def erase(candidate: Candidate, on_expiry: str) -> dict[str, Any]:
    # The UPDATE's filter makes it idempotent: a purge resumed after it ran finds nothing left to delete.
    erased = PredictionLog.objects.filter(pk=candidate.record.pk, inputs__isnull=False).update(inputs=None)
    return {"inputs": "deleted" if erased else "already gone", "inputs_sha256": candidate.digest}


TARGET = RetentionTarget(
    kind=KIND,
    label="Prediction log inputs",
    model=PredictionLog,
    counted_from=(CountedFrom.CREATED,),
    on_expiry=(OnExpiry.DELETE,),
    candidates=candidates,
    load=load,
    erase=erase,
    description="The inputs a prediction log kept (the row, its outputs and the inputs' SHA-256 stay); a log with a "
    "decision record is kept with it.",
)
