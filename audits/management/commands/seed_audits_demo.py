"""The audits' demo, on top of ``seed_registry_demo``'s credit model: REQUESTS a fairness, a proxy, a validation and
an explanation audit of the demo's credit-limit scorer on the loan-applications version it was trained on (the rows
seed_registry_demo wrote into the lake), which ``make run``'s ``spark`` worker runs and the Jobs page follows. The
reports then show on the model version's page: the fairness figures per protected group, the proxy audit flagging
``district_default_rate`` against ``ethnicity`` (registry.demo: the district's past default rate follows its
composition), the validation figures per age band and on a time-ordered holdout, and the global explanation (the
scaler and logistic regression explained exactly by shap's linear explainer, in log-odds) whose background the
model version's local explanations use. It also sets the model's reason catalogue (audits.demo: a sentence per
feature and direction, none for the proxy ``district_default_rate``), shown on the model's page.

A kind whose audit is not registered (audits.kinds) is skipped and named, so this runs before every kind exists.
The evaluation rows are the table the model was trained on (a synthetic demo has no later outcomes), and the
validation report says so: its look-ahead check fails, as it should for a model evaluated on its training rows,
and so do the missing-value edge cases (the demo's logistic regression returns NaN for a missing input): the demo
shows what a board is meant to catch. Idempotent: each audit is asked for under a fixed idempotency
key, so a second run adds nothing; after a failed or cancelled one, the next run asks again under the key numbered on.
Refused in production, like the other demo commands.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from audits import demo as audits_demo
from audits import kinds
from audits.actions import do_request_audit, do_set_reason_catalogue
from audits.choices import AuditKind
from core.choices import JobStatus
from core.models import Job
from registry import demo
from registry.management.commands.seed_registry_demo import ENGINEER, MODEL, TEAM
from registry.models import ModelVersion

User = get_user_model()

KEY = "credit-demo-audit-{kind}-v1"
SEGMENT = "age_band"
TIME_COLUMN = "application_date"
# What each kind is asked for: the protected attributes are the schema's flags (the kinds' default).
PARAMS: dict[str, dict[str, Any]] = {
    # No segment: the demo's one candidate, the age band, is itself a protected attribute (audits.fairness refuses it).
    AuditKind.FAIRNESS: {"label": demo.LABEL, "threshold": demo.THRESHOLD},
    AuditKind.PROXY: {},
    AuditKind.VALIDATION: {
        "label": demo.LABEL,
        "threshold": demo.THRESHOLD,
        "segment_column": SEGMENT,
        "time_column": TIME_COLUMN,
    },
    AuditKind.EXPLANATION: {},
}


class Command(BaseCommand):
    help = (
        "Request the demo's audits (dev only): a fairness, a proxy, a validation and an explanation audit of the demo "
        "credit model, run by the spark worker. Run seed_registry_demo first."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_audits_demo refuses to run with ASSAY_ENV=production: it writes demo data.")
        version = (
            ModelVersion.objects.filter(model__team__slug=TEAM, model__name=MODEL)
            .select_related("model__team")
            .order_by("number")
            .first()
        )
        engineer = User.objects.filter(username=ENGINEER).first()
        if version is None or engineer is None:
            raise CommandError(f"Run `manage.py seed_registry_demo` first: it registers {MODEL} in {TEAM}.")
        evaluation = version.dataset_versions.order_by("-pk").first()
        if evaluation is None:
            raise CommandError(f"{version} names no dataset version to audit it on.")
        self._set_reasons(version, engineer)
        registered = {spec.kind for spec in kinds.registered()}
        for kind, params in PARAMS.items():
            if kind not in registered:
                self.stdout.write(f"  {kind:<10} skipped    (this kind of audit is not available yet)")
                continue
            try:
                job, created = self._request(version, kind, engineer, evaluation.pk, params)
            except ValidationError as refused:
                # The demo must not stop `make run`: say why this audit was not asked for, and go on.
                self.stderr.write(f"  {kind:<10} not requested: {'; '.join(refused.messages)}")
                continue
            state = "requested" if created else str(job.status)
            self.stdout.write(f"  {kind:<10} {state:<10} {reverse('job-detail', args=[job.public_id])}")

    def _set_reasons(self, version: ModelVersion, engineer: Any) -> None:
        """The demo model's reason catalogue, through the action: a second run finds it in force and writes nothing."""
        try:
            catalogue, created = do_set_reason_catalogue(
                version.model, actor=engineer, **audits_demo.reason_catalogue()
            )
        except ValidationError as refused:
            self.stderr.write(f"  {'reasons':<10} not set: {'; '.join(refused.messages)}")
            return
        state = "set" if created else "unchanged"
        self.stdout.write(f"  {'reasons':<10} {state:<10} catalogue v{catalogue.number} of {version.model}")

    def _request(
        self, version: ModelVersion, kind: str, engineer: Any, dataset_version: int, params: dict[str, Any]
    ) -> tuple[Job, bool]:
        """The audit asked for under its fixed key: the first run's job, found again by the next runs. After a
        failed or cancelled one, the next run asks again under the key numbered on."""
        key = KEY.format(kind=kind)
        ended = Job.objects.filter(
            requested_by=engineer,
            idempotency_key__startswith=key,
            status__in=(JobStatus.FAILED, JobStatus.CANCELLED),
        ).count()
        return do_request_audit(
            version,
            kind=kind,
            actor=engineer,
            dataset_version=dataset_version,
            params=dict(params),
            idempotency_key=f"{key}.{ended + 1}" if ended else key,
        )
