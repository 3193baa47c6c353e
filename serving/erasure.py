"""The erasure of a data subject's prediction log inputs (docs/serving.md, "Prediction logs: API, pages, subjects and
retention"). Called by the subject finder of prediction logs (serving.compliance_hooks) when compliance's erasure
job erases a hit; the job has already asked the erasure keepers (legal holds) under the holds lock.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core.audit import record_event
from core.choices import AuditEventType
from serving.models import Deployment, PredictionLog


@transaction.atomic
def do_erase_subject_predictions(
    deployment: Deployment, *, subject_digest: str, actor: User | None, request: str = ""
) -> int:
    """Empty ``inputs`` and stamp ``erased_at`` on every prediction log row of ``deployment`` logged for the subject
    (by their keyed hash), with the audit event ``serving.logs_erased``; return how many rows of the subject are
    erased in all. Idempotent: rows already erased are left as they are and a second call writes nothing. The
    rest of each row (outputs, scores, data quality, the inputs' SHA-256) stays, and so do decision records: they
    are the record of a decision made about the person, which they may need to contest it."""
    rows = PredictionLog.objects.filter(deployment=deployment, subject_digest=subject_digest)
    # The UPDATE takes the rows' locks: two erasures of one subject take turns and the second finds nothing left.
    erased = rows.filter(erased_at__isnull=True).update(inputs=None, erased_at=timezone.now())
    if erased:
        record_event(
            AuditEventType.PREDICTION_LOGS_ERASED,
            actor=actor,
            target=deployment,
            team=deployment.model.team,
            metadata={
                "subject_digest": subject_digest,
                "request": request,
                "deployment": deployment.pk,
                "rows": erased,
            },
        )
    return rows.filter(erased_at__isnull=False).count()
