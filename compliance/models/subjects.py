"""Data-subject requests (GDPR art. 15 access, art. 17 erasure): the request, its status changes, the search
reports of what Assay holds about the subject, and what an erasure did and kept. docs/subject-requests.md."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.choices import Role
from core.querysets import CHANGE, VIEW, RestrictedQuerySet

SHA256_HEX = r"^[0-9a-f]{64}$"
MAX_IDENTIFIER_LENGTH = 256

# A request names a person and what the organisation holds about them: only the team's compliance officers read or
# act on it (and superusers). Engineers and auditors of the team do not see it; the audit log shows the event with
# the identifier's keyed hash only.
SUBJECT_POLICY: dict[str, tuple[str, ...]] = {VIEW: (Role.COMPLIANCE_OFFICER,), CHANGE: (Role.COMPLIANCE_OFFICER,)}


class SubjectRequestKind(models.TextChoices):
    ACCESS = "access", "Access (art. 15)"
    ERASURE = "erasure", "Erasure (art. 17)"


class SubjectRequestStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    REPORTED = "reported", "Reported"
    ERASED = "erased", "Erased"
    CLOSED = "closed", "Closed"


class SubjectRequest(models.Model):
    """A request by or for a data subject, about the records of one team.

    ``subject_identifier`` is the identifier as the subject gave it (a customer number, an e-mail), kept for the
    officer; ``subject_digest`` is its keyed hash (compliance.subjects.subject_digest), the only form the audit log
    and job records carry. ``asked_by`` says who asked (the subject, or who represents them); ``received_at`` when
    the request reached the organisation and ``due_at`` the legal deadline (one month later unless extended at
    creation). ``status`` is the latest of the ``SubjectRequestTransition`` rows, which record every change.
    Database triggers refuse an UPDATE of every column but ``status`` (migration 0003).
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("core.Team", on_delete=models.PROTECT, related_name="subject_requests")
    kind = models.CharField(max_length=16, choices=SubjectRequestKind.choices)
    subject_identifier = models.CharField(max_length=MAX_IDENTIFIER_LENGTH)
    subject_digest = models.CharField(max_length=64)
    asked_by = models.CharField(max_length=200)
    received_at = models.DateTimeField()
    due_at = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=SubjectRequestStatus.choices, default=SubjectRequestStatus.RECEIVED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "team_id"
    access_policy = SUBJECT_POLICY

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(due_at__gte=models.F("received_at")), name="subject_request_due_after"),
            models.CheckConstraint(condition=Q(subject_digest__regex=SHA256_HEX), name="subject_request_digest"),
            models.CheckConstraint(condition=Q(kind__in=SubjectRequestKind.values), name="subject_request_kind_known"),
        ]

    def __str__(self) -> str:
        # Never the identifier: this text is what audit events and job records show.
        return f"{self.get_kind_display().split(' ')[0]} request {str(self.public_id)[:8]}"


class SubjectRequestTransition(models.Model):
    """One change of a request's status: who (``actor``, ``actor_name``), from what, to what, why, and when."""

    request = models.ForeignKey(SubjectRequest, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=16, choices=SubjectRequestStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=SubjectRequestStatus.choices)
    reason = models.TextField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    actor_name = models.CharField(max_length=150)
    occurred_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "request__team_id"
    access_policy = SUBJECT_POLICY

    class Meta:
        ordering = ["request_id", "occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.request}: {self.from_status or '-'} -> {self.to_status}"


class SubjectSearch(models.Model):
    """The report of one search for a request's subject, made by one job (``job``, unique: a retried job finds the
    report its earlier attempt recorded). ``hits`` lists every record found, each
    ``{"kind", "object_type", "object_id", "label", "location", "files": [{"path", "rows"}], "rows", ...}``;
    ``unsearched`` lists what could not be searched and why (data outside the local lake, unreadable files);
    ``digest`` is the SHA-256 of the canonical JSON of the subject's digest, the hits and the unsearched list, so
    that a report handed to the subject can be checked against this row. Immutable (migration 0003)."""

    request = models.ForeignKey(SubjectRequest, on_delete=models.PROTECT, related_name="searches")
    job = models.OneToOneField("core.Job", on_delete=models.PROTECT, related_name="+")
    hits = models.JSONField(default=list)
    unsearched = models.JSONField(default=list)
    hit_count = models.PositiveIntegerField()
    row_count = models.BigIntegerField()
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "request__team_id"
    access_policy = SUBJECT_POLICY

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(digest__regex=SHA256_HEX), name="subject_search_digest"),
            models.CheckConstraint(condition=Q(row_count__gte=0), name="subject_search_rows_positive"),
        ]

    def __str__(self) -> str:
        return f"search {self.pk} of {self.request}"


class SubjectErasure(models.Model):
    """What an erasure job (``job``, unique) did for a request, acting on one search report (``search``): ``done``
    lists each record erased (``{"kind", "object_type", "object_id", "label", "rows", "action", ...}``), ``kept``
    each record left in place with ``why`` (a legal hold, a retention duty, data Assay cannot rewrite). ``digest``
    covers both lists. Immutable (migration 0003)."""

    request = models.ForeignKey(SubjectRequest, on_delete=models.PROTECT, related_name="erasures")
    search = models.ForeignKey(SubjectSearch, on_delete=models.PROTECT, related_name="erasures")
    job = models.OneToOneField("core.Job", on_delete=models.PROTECT, related_name="+")
    done = models.JSONField(default=list)
    kept = models.JSONField(default=list)
    rows_erased = models.BigIntegerField()
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "request__team_id"
    access_policy = SUBJECT_POLICY

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(digest__regex=SHA256_HEX), name="subject_erasure_digest"),
            models.CheckConstraint(condition=Q(rows_erased__gte=0), name="subject_erasure_rows_positive"),
        ]

    def __str__(self) -> str:
        return f"erasure {self.pk} of {self.request}"


class DatasetFilesErasure(models.Model):
    """A dataset version's files rewritten without a subject's rows (decision record 0008 in docs/decisions/).

    The version stays immutable and keeps its registered fingerprint, for provenance; this row says that its files
    lost ``rows_erased`` rows on ``erased_at`` under ``request``: they hashed to ``files_before`` (the canonical file
    listing's digest, as registry.pipelines.io pins it) and now hash to ``files_after``, with ``files`` the new
    listing. Jobs reading the version accept ``files_after`` in place of the pin (workers.tasks.read_checked). One
    row per (request, version): erasing twice writes nothing new. Immutable (migration 0003)."""

    request = models.ForeignKey(SubjectRequest, on_delete=models.PROTECT, related_name="dataset_erasures")
    dataset_version = models.ForeignKey(
        "registry.DatasetVersion", on_delete=models.PROTECT, related_name="subject_erasures"
    )
    rows_erased = models.BigIntegerField()
    files_before = models.CharField(max_length=64)
    files_after = models.CharField(max_length=64)
    files = models.JSONField(default=list)
    erased_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "request__team_id"
    access_policy = SUBJECT_POLICY

    class Meta:
        ordering = ["-erased_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "dataset_version"], name="dataset_erasure_once_per_request"),
            models.CheckConstraint(condition=Q(rows_erased__gte=0), name="dataset_erasure_rows_positive"),
            models.CheckConstraint(
                condition=Q(files_before__regex=SHA256_HEX) & Q(files_after__regex=SHA256_HEX),
                name="dataset_erasure_digests_sha256",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset_version}: {self.rows_erased} row(s) erased under {self.request}"
