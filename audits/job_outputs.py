"""Links from a finished audit job's page to its report (core.jobs.register_output_links; registered by the app's
ready()). The link goes to the report page."""

from __future__ import annotations

from django.urls import reverse

from audits.kinds import registered
from audits.models import AuditReport
from core.jobs import register_output_links
from core.models import Job


def _report(job: Job) -> list[tuple[str, str]]:
    report = AuditReport.objects.filter(job=job).first()
    if report is None:
        return []
    label = f"Audit report {report.digest[:12]} ({report.verdict})"
    return [(label, reverse("audits-report-detail", args=[report.pk]))]


def register() -> None:
    for kind in registered():
        register_output_links(kind.job_kind, _report)
