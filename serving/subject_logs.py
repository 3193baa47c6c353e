"""Prediction logs and decision records in data-subject requests (compliance.subjects' finders), registered from
serving's AppConfig.ready: compliance never imports serving.

A request that names its data subject leaves the subject's keyed hash in ``PredictionLog.subject_digest``, the same
hash a subject request stores (serving.subjects), so both finders search by equality on an indexed column of the
request's team's models. Hits are grouped per deployment (``object_type`` serving.deployment: legal holds are
checked on the deployment's model, use case and training datasets, serving.retention.deployment_facts).

- ``prediction_logs``: found for access (the rows' ids, so that the officer can read them over the API) and erased
  by ``serving.erasure.do_erase_subject_predictions`` (``inputs`` emptied, ``erased_at`` stamped, audited).
- ``decision_records``: found for access, and kept on erasure: a decision record is the record of a decision made
  about the person (the decision, the model version, the reasons), which they may need to contest it and the
  organisation must be able to account for; it holds no inputs, only the principal reasons' feature values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Max, Min

from compliance.subjects import ErasureKept, FinderResult, Progress
from serving.erasure import do_erase_subject_predictions
from serving.models import DecisionRecord, Deployment, PredictionLog

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from compliance.models import SubjectRequest

PREDICTIONS = "prediction_logs"
DECISIONS = "decision_records"
OBJECT_TYPE = "serving.deployment"
# The ids a hit lists at most (the count is always whole): the API's ``subject`` filter lists every row.
MAX_IDS = 1000
KEPT_DECISIONS = (
    "a decision record is the record of a decision made about the person (decision, model version, reasons): "
    "kept so that it can be explained and contested; it holds no inputs"
)


def describe(deployment: Deployment) -> dict[str, Any]:
    return {
        "object_type": OBJECT_TYPE,
        "object_id": deployment.pk,
        "team": deployment.model.team.slug,
        "environment": deployment.environment.slug,
        "model": deployment.model.name,
        "model_version": deployment.model_version.number,
    }


def deployments_of(ids: list[int]) -> dict[int, Deployment]:
    found = Deployment.objects.filter(pk__in=ids).select_related("model__team", "environment", "model_version")
    return {deployment.pk: deployment for deployment in found}


class PredictionLogsFinder:
    """The prediction log rows logged for the subject, per deployment."""

    def find(self, request: SubjectRequest, progress: Progress) -> FinderResult:
        result = FinderResult()
        rows = PredictionLog.objects.filter(model__team_id=request.team_id, subject_digest=request.subject_digest)
        groups = list(
            rows.values("deployment_id")
            .annotate(rows=Count("id"), first=Min("logged_at"), last=Max("logged_at"))
            .order_by("deployment_id")
        )
        deployments = deployments_of([group["deployment_id"] for group in groups])
        for index, group in enumerate(groups):
            progress(index / max(len(groups), 1), "searching prediction logs")
            deployment = deployments[group["deployment_id"]]
            ids = list(rows.filter(deployment=deployment).order_by("logged_at", "id").values_list("id", flat=True))
            result.hits.append(
                {
                    "kind": PREDICTIONS,
                    **describe(deployment),
                    "label": f"prediction logs of {deployment.model} v{deployment.model_version.number} in "
                    f"{deployment.environment.slug}",
                    "rows": group["rows"],
                    "erased": rows.filter(deployment=deployment, erased_at__isnull=False).count(),
                    "first_logged_at": group["first"].isoformat(),
                    "last_logged_at": group["last"].isoformat(),
                    "predictions": ids[:MAX_IDS],
                    "read_with": f"GET /api/v1/predictions/?deployment={deployment.pk}&subject=<the identifier>",
                }
            )
        progress(1.0, f"searched the prediction logs of {len(groups)} deployment(s)")
        return result

    def erase(self, request: SubjectRequest, hit: Mapping[str, Any], *, actor: User | None) -> dict[str, Any]:
        deployment = Deployment.objects.select_related("model__team").filter(pk=hit.get("object_id")).first()
        if deployment is None or deployment.model.team_id != request.team_id:
            raise ErasureKept("the deployment is gone")
        rows = do_erase_subject_predictions(
            deployment, subject_digest=request.subject_digest, actor=actor, request=str(request.public_id)
        )
        return {
            **{key: hit[key] for key in ("kind", "object_type", "object_id", "label") if key in hit},
            "rows": rows,
            "action": "inputs emptied (erased_at stamped); outputs, scores and the inputs' SHA-256 kept",
        }


class DecisionRecordsFinder:
    """The decision records of the subject's predictions, per deployment: found, and kept on erasure."""

    def find(self, request: SubjectRequest, progress: Progress) -> FinderResult:
        result = FinderResult()
        records = DecisionRecord.objects.filter(
            prediction__model__team_id=request.team_id, prediction__subject_digest=request.subject_digest
        )
        groups = list(
            records.values("prediction__deployment_id").annotate(rows=Count("id")).order_by("prediction__deployment_id")
        )
        deployments = deployments_of([group["prediction__deployment_id"] for group in groups])
        for group in groups:
            deployment = deployments[group["prediction__deployment_id"]]
            uids = records.filter(prediction__deployment=deployment).order_by("created_at", "id")
            result.hits.append(
                {
                    "kind": DECISIONS,
                    **describe(deployment),
                    "label": f"decision records of {deployment.model} v{deployment.model_version.number} in "
                    f"{deployment.environment.slug}",
                    "rows": group["rows"],
                    "records": [str(uid) for uid in uids.values_list("uid", flat=True)[:MAX_IDS]],
                }
            )
        progress(1.0, "searched the decision records")
        return result

    def erase(self, request: SubjectRequest, hit: Mapping[str, Any], *, actor: User | None) -> dict[str, Any]:
        raise ErasureKept(KEPT_DECISIONS)
