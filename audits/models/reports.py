from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from audits.choices import AuditKind, Verdict
from core.querysets import RestrictedQuerySet
from registry.models.datasets import SHA256_HEX
from registry.querysets import REGISTRY_POLICY


class AuditReport(models.Model):
    """The immutable result of one audit job: ``kind`` of audit of ``model_version`` on ``dataset_version``.

    The run itself is the job (``job``, core.Job: status, progress, log, requester; one report per job, so that a
    retried job finds the report its earlier attempt registered). ``artifact_sha256`` and ``dataset_fingerprint``
    copy the artifact's digest and the dataset version's content fingerprint at the time of the audit: the gate
    (governance.checks.audits) accepts a report only for exactly these. ``parameters`` are the audit's inputs
    (label, protected attributes, segment, threshold, minimum group size, bootstrap iterations and seed, score
    bins), ``thresholds`` what the release policy required when it ran, ``code_version`` the versions of Assay and
    of the libraries that computed it, ``results`` every figure, ``checks`` a verdict per named check and
    ``verdict`` the overall one. ``digest`` is the SHA-256 of the canonical JSON of all of these
    (``AuditReport.body``). Database triggers refuse an UPDATE (migration 0002).
    """

    kind = models.CharField(max_length=32, choices=AuditKind.choices)
    model_version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="audit_reports")
    dataset_version = models.ForeignKey(
        "registry.DatasetVersion", on_delete=models.PROTECT, related_name="audit_reports"
    )
    artifact_sha256 = models.CharField(max_length=64)
    dataset_fingerprint = models.CharField(max_length=64)
    parameters = models.JSONField()
    thresholds = models.JSONField()
    code_version = models.JSONField()
    results = models.JSONField()
    checks = models.JSONField()
    verdict = models.CharField(max_length=32, choices=Verdict.choices)
    digest = models.CharField(max_length=64, unique=True)
    job = models.OneToOneField("core.Job", on_delete=models.PROTECT, related_name="audit_report")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "model_version__model__team_id"
    access_policy = REGISTRY_POLICY

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(artifact_sha256__regex=SHA256_HEX), name="audit_report_sha256"),
            models.CheckConstraint(condition=Q(digest__regex=SHA256_HEX), name="audit_report_digest"),
            models.CheckConstraint(condition=Q(verdict__in=Verdict.values), name="audit_report_verdict"),
            models.CheckConstraint(condition=Q(kind__in=AuditKind.values), name="audit_report_kind"),
        ]
        indexes = [
            # The gate's question: the reports of this artifact on this dataset fingerprint, newest first.
            models.Index(fields=["artifact_sha256", "dataset_fingerprint", "kind"], name="audit_report_binding"),
            models.Index(fields=["model_version", "created_at"], name="audit_report_version"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} audit of {self.model_version_id} on {self.dataset_version_id}"

    def body(self) -> dict[str, object]:
        """What ``digest`` hashes: everything the report says, bound to the artifact and the data."""
        return {
            "kind": self.kind,
            "model_version": self.model_version_id,
            "dataset_version": self.dataset_version_id,
            "artifact_sha256": self.artifact_sha256,
            "dataset_fingerprint": self.dataset_fingerprint,
            "parameters": self.parameters,
            "thresholds": self.thresholds,
            "code_version": self.code_version,
            "results": self.results,
            "checks": self.checks,
            "verdict": self.verdict,
            "job": str(self.job.public_id),
        }
