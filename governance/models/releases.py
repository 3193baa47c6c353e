from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.choices import BoardRole
from governance.choices import Decision, EvaluationPurpose, ReleaseStatus, SignedVia
from governance.querysets import ReleaseQuerySet


class Release(models.Model):
    """A request to put one model version into one environment, and the record of how it was judged.

    ``uid`` is the release's identity inside signed statements (an integer could repeat in another database).
    ``policy_version`` is the policy in force when it was requested. ``manifest`` is what Assay built from the
    database at request time (governance.manifest) and ``manifest_digest`` the SHA-256 of its RFC 8785 bytes;
    ``nonce`` and ``requested_at`` are part of it. The manifest is rebuilt from the current state whenever the
    release is judged: an approval counts only while the digest it signed equals the current one. ``status``
    says whether it is open, deployed or withdrawn; whether it is approved is computed, never stored.
    """

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    model_version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="releases")
    environment = models.ForeignKey("governance.Environment", on_delete=models.PROTECT, related_name="releases")
    policy_version = models.ForeignKey(
        "governance.ReleasePolicyVersion", on_delete=models.PROTECT, related_name="releases"
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    nonce = models.CharField(max_length=64)
    justification = models.TextField(blank=True)
    manifest = models.JSONField()
    manifest_digest = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=ReleaseStatus.choices, default=ReleaseStatus.OPEN)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    withdrawal_reason = models.TextField(blank=True)

    objects = ReleaseQuerySet.as_manager()
    release_lookup = ""

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["model_version", "environment"], name="release_version_environment")]
        constraints = [
            models.CheckConstraint(condition=Q(manifest_digest__regex=r"^[0-9a-f]{64}$"), name="release_digest_hex"),
            models.CheckConstraint(
                condition=Q(status=ReleaseStatus.WITHDRAWN, withdrawn_at__isnull=False)
                | (~Q(status=ReleaseStatus.WITHDRAWN) & Q(withdrawn_at__isnull=True)),
                name="release_withdrawn_iff_withdrawal_time",
            ),
        ]

    def __str__(self) -> str:
        return f"release {self.pk} of {self.model_version} to {self.environment}"


class Approval(models.Model):
    """One signed decision of one board member on one release: the DSSE envelope as received (``envelope``),
    verified on receipt, and what it says, unpacked for queries. ``manifest_digest`` is the digest it signed
    (``manifest`` the manifest it covered, kept to show what changed since); ``received_at`` is server time,
    from which validity runs; ``claimed_signed_at`` is the signer's own clock, kept for the record only.
    ``key`` is the key that verified it. Database triggers refuse any UPDATE.
    """

    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="approvals")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signer_name = models.CharField(max_length=150)
    key = models.ForeignKey("governance.SigningKey", on_delete=models.PROTECT, related_name="approvals")
    board_role = models.CharField(max_length=32, choices=BoardRole.choices)
    decision = models.CharField(max_length=16, choices=Decision.choices)
    comment = models.TextField(blank=True)
    manifest_digest = models.CharField(max_length=64)
    manifest = models.JSONField()
    envelope = models.JSONField()
    payload_sha256 = models.CharField(max_length=64)
    signed_via = models.CharField(max_length=8, choices=SignedVia.choices)
    received_at = models.DateTimeField()
    claimed_signed_at = models.CharField(max_length=64, blank=True)

    objects = ReleaseQuerySet.as_manager()
    release_lookup = "release__"

    class Meta:
        ordering = ["release_id", "received_at", "id"]
        constraints = [
            # One signature per person per manifest: the same approval sent twice, or re-signed in another role or
            # with another key, is refused; after a change makes it stale, the person signs the new manifest.
            models.UniqueConstraint(
                fields=["release", "signer", "manifest_digest"], name="approval_one_per_signer_manifest"
            ),
            models.UniqueConstraint(fields=["payload_sha256"], name="approval_unique_payload"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.signer_name} ({self.board_role}) on release {self.release_id}"


class GateEvaluation(models.Model):
    """One run of the deployment gate over a release: every check with its verdict and reason (``checks``, a list
    of ``{"name", "passed", "reason"}``), the manifest digest recomputed at that moment, who asked and why
    (``purpose``). Stored for every deployment attempt, passed or failed. Database triggers refuse any UPDATE."""

    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="evaluations")
    purpose = models.CharField(max_length=16, choices=EvaluationPurpose.choices)
    passed = models.BooleanField()
    checks = models.JSONField()
    manifest_digest = models.CharField(max_length=64)
    evaluated_at = models.DateTimeField()
    evaluated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    duration_ms = models.FloatField(default=0)

    objects = ReleaseQuerySet.as_manager()
    release_lookup = "release__"

    class Meta:
        ordering = ["release_id", "-evaluated_at", "-id"]

    def __str__(self) -> str:
        return f"gate {'passed' if self.passed else 'failed'} for release {self.release_id}"
