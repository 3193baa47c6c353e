"""Data protection impact assessments (GDPR Art. 35) per use case, their versions and workflow, and the overlay
that reclassifies a dataset's columns after its versions were registered."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from compliance.dpia_querysets import DPIA_POLICY, DpiaQuerySet
from compliance.dpia_rules import DpiaStatus
from core.querysets import RestrictedQuerySet
from registry.choices import LegalBasis


class Dpia(models.Model):
    """The DPIA of one use case (one per use case): its content lives in ``DpiaVersion`` rows, numbered from 1.
    ``created_by``/``created_at``: who opened it and when."""

    use_case = models.ForeignKey("registry.UseCase", on_delete=models.PROTECT, related_name="dpias")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = DpiaQuerySet.as_manager()
    team_lookup = "use_case__team_id"
    access_policy = DPIA_POLICY

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "DPIA"
        constraints = [models.UniqueConstraint(fields=["use_case"], name="dpia_one_per_use_case")]

    def __str__(self) -> str:
        return f"DPIA of {self.use_case}"


class DpiaVersion(models.Model):
    """One version of a DPIA. Drafts (and returned versions) are edited in place; once approved, database triggers
    refuse any UPDATE of the row (migration 0001_dpia), and a change is a new version.

    ``number`` counts from 1 per DPIA, taken under a lock on the DPIA. ``status`` is the current workflow state;
    each move is a ``DpiaTransition`` row. ``model`` is the use case's model it assesses; ``datasets`` the covered
    datasets of the use case's team, each ``{"id", "name", "version_id", "version"}`` (the dataset version whose
    schema filled the categories). ``screening`` maps each of the EDPB's nine criteria (compliance.dpia_rules) to
    ``{"answer": bool, "note": str}``; ``full_dpia_required`` and ``screening_reason`` are its outcome and why
    (null until screened). The assessment: ``processing_description``, ``purposes``, ``legal_basis``,
    ``data_subjects``, ``recipients``, ``retention``, ``necessity``, ``proportionality``, ``dpo_advice`` (text);
    ``data_categories`` per dataset, its personal, special-category and protected columns (pre-filled from the
    schemas and the reclassifications); ``transfers`` per dataset, its residency region; ``risks`` each
    ``{"title", "description", "likelihood", "severity", "level", "mitigations", "residual_likelihood",
    "residual_severity", "residual_level"}`` (levels from the matrix); ``prior_consultation_required`` when a
    residual risk is high. ``review_date``: after it, the approval has expired. ``digest``: SHA-256 of the
    version's canonical JSON (compliance.dpia.version_content), recomputed on every edit.
    """

    dpia = models.ForeignKey(Dpia, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=DpiaStatus.choices, default=DpiaStatus.DRAFT)
    model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    datasets = models.JSONField(default=list, blank=True)
    screening = models.JSONField(default=dict, blank=True)
    full_dpia_required = models.BooleanField(null=True, blank=True)
    screening_reason = models.TextField(blank=True)
    screened_at = models.DateTimeField(null=True, blank=True)
    processing_description = models.TextField(blank=True)
    purposes = models.TextField(blank=True)
    legal_basis = models.CharField(max_length=32, choices=LegalBasis.choices, blank=True)
    data_subjects = models.TextField(blank=True)
    data_categories = models.JSONField(default=list, blank=True)
    recipients = models.TextField(blank=True)
    transfers = models.JSONField(default=list, blank=True)
    retention = models.TextField(blank=True)
    necessity = models.TextField(blank=True)
    proportionality = models.TextField(blank=True)
    risks = models.JSONField(default=list, blank=True)
    prior_consultation_required = models.BooleanField(default=False)
    dpo_advice = models.TextField(blank=True)
    review_date = models.DateField(null=True, blank=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = DpiaQuerySet.as_manager()
    team_lookup = "dpia__use_case__team_id"
    access_policy = DPIA_POLICY

    class Meta:
        ordering = ["dpia_id", "-number"]
        verbose_name = "DPIA version"
        constraints = [
            models.UniqueConstraint(fields=["dpia", "number"], name="dpia_version_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="dpia_version_number_positive"),
            models.CheckConstraint(condition=Q(status__in=DpiaStatus.values), name="dpia_version_status_known"),
        ]

    def __str__(self) -> str:
        return f"DPIA of {self.dpia.use_case} v{self.number}"


class DpiaTransition(models.Model):
    """One workflow move of a DPIA version: ``from_status`` to ``to_status`` by ``actor`` (``actor_name`` keeps the
    name) at ``at``, with the reviewer's or author's ``comment``. Written once (triggers refuse UPDATE)."""

    version = models.ForeignKey(DpiaVersion, on_delete=models.PROTECT, related_name="transitions")
    from_status = models.CharField(max_length=16, choices=DpiaStatus.choices)
    to_status = models.CharField(max_length=16, choices=DpiaStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    comment = models.TextField(blank=True)
    at = models.DateTimeField()

    objects = DpiaQuerySet.as_manager()
    team_lookup = "version__dpia__use_case__team_id"
    access_policy = DPIA_POLICY

    class Meta:
        ordering = ["version_id", "at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status} by {self.actor_name}"


class ColumnReclassification(models.Model):
    """A compliance officer's reclassification of one column of a dataset, over every version of the dataset that
    has the column (dataset versions and their schemas are immutable: this overlay is what changed). ``before`` and
    ``after`` map each flag (``personal_data``, ``special_category``, ``protected_attribute``,
    ``prohibited_input``) to its value; ``reason`` says why; ``created_by``/``created_at`` who and when. The newest
    reclassification of a column wins. Written once (triggers refuse UPDATE)."""

    dataset = models.ForeignKey("registry.Dataset", on_delete=models.PROTECT, related_name="reclassifications")
    column = models.CharField(max_length=256)
    before = models.JSONField()
    after = models.JSONField()
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "dataset__team_id"
    access_policy = DPIA_POLICY

    class Meta:
        ordering = ["dataset_id", "column", "created_at", "id"]
        constraints = [models.CheckConstraint(condition=~Q(reason=""), name="column_reclassification_has_reason")]

    def __str__(self) -> str:
        return f"{self.dataset}.{self.column} reclassified"
