"""Which reports count for a model version now: read by the release manifest and the gate (governance).

A report counts only for exactly what it audited: its ``artifact_sha256`` must be the version's artifact digest,
and its dataset version must still be the newest version of its dataset, with the fingerprint the report recorded.
A new artifact (a new model version) or a newer dataset version makes an older report irrelevant: it is never
silently reused. Among the reports that count, the newest of each kind on each dataset is the one that speaks.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max, OuterRef, Subquery

from audits.choices import Verdict
from audits.kinds import registered
from audits.models import AuditReport
from registry.models import DatasetVersion, ModelVersion

# How old a report may be and still count at the gate (docs/audits.md; a policy field is the next step).
MAX_AGE_DAYS = 180


def current_reports(model_version: ModelVersion) -> list[AuditReport]:
    """The newest report of each (kind, dataset) that still counts for ``model_version``, by kind and dataset."""
    newest_number = (
        DatasetVersion.objects.filter(dataset_id=OuterRef("dataset_version__dataset_id"))
        .values("dataset_id")
        .annotate(top=Max("number"))
        .values("top")
    )
    candidates = (
        AuditReport.objects.filter(model_version=model_version, artifact_sha256=model_version.artifact_sha256)
        .annotate(newest=Subquery(newest_number))
        .select_related("dataset_version__dataset", "job")
        .order_by("kind", "dataset_version__dataset_id", "-created_at", "-id")
    )
    chosen: dict[tuple[str, int], AuditReport] = {}
    for report in candidates:
        version = report.dataset_version
        if version.number != report.newest or report.dataset_fingerprint != version.content_fingerprint:
            continue
        chosen.setdefault((report.kind, version.dataset_id), report)
    return list(chosen.values())


def manifest_entries(model_version: ModelVersion) -> list[dict[str, Any]]:
    """The release manifest's ``audit_reports``: each report that counts, with its digest and verdicts."""
    return [
        {
            "id": report.pk,
            "kind": report.kind,
            "digest": report.digest,
            "verdict": report.verdict,
            "checks": report.checks,
            "artifact_sha256": report.artifact_sha256,
            "dataset_version": report.dataset_version_id,
            "dataset_fingerprint": report.dataset_fingerprint,
            "job": str(report.job.public_id),
        }
        for report in current_reports(model_version)
    ]


def audit_verdict(model_version: ModelVersion, *, now: datetime) -> tuple[bool, str]:
    """The gate's ``audits_passed``: every kind of audit has a report that counts, none older than MAX_AGE_DAYS,
    and each passed. Returns (passed, reason)."""
    reports = current_reports(model_version)
    digest = model_version.artifact_sha256[:12]
    problems = []
    for kind_spec in registered():
        kind = kind_spec.kind
        of_kind = [report for report in reports if report.kind == kind]
        if not of_kind:
            problems.append(
                f"no {kind.label.lower()} audit of artifact {digest} on the newest version of an evaluation dataset"
            )
            continue
        for report in of_kind:
            name = f"{kind.label.lower()} report {report.digest[:12]} ({report.dataset_version})"
            if report.created_at < now - timedelta(days=MAX_AGE_DAYS):
                problems.append(f"{name} is older than {MAX_AGE_DAYS} days")
            elif report.verdict != Verdict.PASS:
                failed = sorted(check for check, verdict in report.checks.items() if verdict != Verdict.PASS)
                problems.append(f"{name} is {report.get_verdict_display().lower()}: {', '.join(failed)}")
    if problems:
        return False, "; ".join(problems) + "."
    return True, "Audits passed: " + ", ".join(f"{r.kind} {r.digest[:12]}" for r in reports) + "."
