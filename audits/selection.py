"""Which reports count for a model version now: read by the release manifest and the gate (governance).

A report counts only for exactly what it audited: its ``artifact_sha256`` must be the version's artifact digest,
and its dataset version must still be the newest version of its dataset, with the fingerprint the report recorded.
A new artifact (a new model version) or a newer dataset version makes an older report irrelevant: it is never
silently reused. Among the reports that count, the newest of each kind on each dataset is the one that speaks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max, OuterRef, Subquery

from audits.choices import AuditKind, Verdict
from audits.kinds import overall, spec
from audits.models import AuditReport
from registry.models import DatasetVersion, ModelVersion

# How old a report may be and still count at the gate, unless the release policy says otherwise (docs/audits.md).
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


@dataclass(frozen=True)
class Requirement:
    """One audit kind a release policy requires (governance.audit_policy builds these from the policy version):
    its report may be at most ``max_age_days`` old and is judged by ``thresholds``."""

    kind: str
    max_age_days: int
    thresholds: dict[str, float]


def _label(kind: str) -> str:
    return AuditKind(kind).label.lower() if kind in AuditKind.values else kind


def audit_verdict(
    model_version: ModelVersion, *, now: datetime, requirements: Sequence[Requirement]
) -> tuple[bool, str]:
    """The gate's ``audits_passed``: for every required kind, a report that counts exists, none is older than the
    requirement allows, and each passes every check when its figures are judged again by the requirement's
    thresholds (``KindSpec.judge``: a policy stricter than the audit's own thresholds applies; the stored verdict
    is not taken on trust). Returns (passed, reason); the reason names each missing, stale or failing kind and
    check."""
    if not requirements:
        return True, "The release policy requires no audit."
    reports = current_reports(model_version)
    digest = model_version.artifact_sha256[:12]
    problems: list[str] = []
    passed: list[str] = []
    for requirement in requirements:
        kind, label = requirement.kind, _label(requirement.kind)
        try:
            kind_spec = spec(kind)
        except KeyError:
            problems.append(f"{kind} audits are required but no installed module provides them")
            continue
        of_kind = [report for report in reports if report.kind == kind]
        if not of_kind:
            older = AuditReport.objects.filter(
                model_version=model_version, kind=kind, artifact_sha256=model_version.artifact_sha256
            ).exists()
            problems.append(
                f"no {label} audit of artifact {digest} on the newest version of an evaluation dataset"
                + (" (its reports are of older or changed dataset versions)" if older else "")
            )
            continue
        for report in of_kind:
            name = f"{label} report {report.digest[:12]} ({report.dataset_version})"
            if report.created_at < now - timedelta(days=requirement.max_age_days):
                problems.append(f"{name} is older than {requirement.max_age_days} days")
                continue
            checks = kind_spec.judge(report, requirement.thresholds)
            verdict = overall(checks.values())
            if verdict != Verdict.PASS:
                failing = ", ".join(
                    f"{check} {Verdict(value).label.lower()}"
                    for check, value in sorted(checks.items())
                    if value != Verdict.PASS
                )
                problems.append(f"{name} is {Verdict(verdict).label.lower()}: {failing or 'no checks'}")
            else:
                passed.append(f"{kind} {report.digest[:12]}")
    if problems:
        return False, "; ".join(problems) + "."
    return True, "Audits passed under the release policy's thresholds: " + ", ".join(passed) + "."
