from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.querysets import RestrictedQuerySet
from registry.models.datasets import SHA256_HEX
from registry.querysets import REGISTRY_POLICY


class ReasonDirection(models.TextChoices):
    """Which way a feature moves the model's score for a catalogue entry's sentence to apply: "raises" (its SHAP
    value is positive) or "lowers" (negative)."""

    RAISES = "raises", "Raises the score"
    LOWERS = "lowers", "Lowers the score"


class ReasonCatalogue(models.Model):
    """One version of the reasons a person can be given for a decision of ``model`` (docs/audits.md,
    "Explanations"), numbered from 1 under a lock on the model; the newest is in force. Written once (database
    triggers refuse an UPDATE); a change is a new version, an audit event, and part of the release manifest, so that
    a board reviews it like the rest of the model's documentation and an approval signed before a change goes stale.

    ``entries`` is a list of ``{"feature", "direction", "text"}``: when ``feature`` moves the score in ``direction``
    (ReasonDirection) among the principal reasons of a decision, ``text`` is the sentence shown ("Credit utilisation
    is high"); at most one entry per (feature, direction), every feature one of the model's, never a protected,
    special-category or prohibited column. ``threshold`` splits the score into the two decisions, ``positive_decision``
    (score at or above it) and ``negative_decision`` their plain-language names ("Declined", "Approved"). ``note``
    says what changed. ``digest`` is the SHA-256 of the canonical JSON of ``body()``.
    """

    model = models.ForeignKey("registry.RegisteredModel", on_delete=models.PROTECT, related_name="reason_catalogues")
    number = models.PositiveIntegerField()
    entries = models.JSONField()
    threshold = models.FloatField(default=0.5)
    positive_decision = models.CharField(max_length=200)
    negative_decision = models.CharField(max_length=200)
    note = models.TextField(blank=True, max_length=4000)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "model__team_id"
    access_policy = REGISTRY_POLICY

    class Meta:
        ordering = ["model_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="reason_catalogue_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="reason_catalogue_number_positive"),
            models.CheckConstraint(
                condition=Q(threshold__gte=0) & Q(threshold__lte=1), name="reason_catalogue_threshold"
            ),
            models.CheckConstraint(condition=Q(digest__regex=SHA256_HEX), name="reason_catalogue_digest"),
            models.CheckConstraint(
                condition=~Q(positive_decision="") & ~Q(negative_decision=""), name="reason_catalogue_decisions"
            ),
        ]

    def __str__(self) -> str:
        return f"Reason catalogue v{self.number} of {self.model}"

    def body(self) -> dict[str, object]:
        """What ``digest`` hashes, and what the release manifest carries."""
        return {
            "model": self.model_id,
            "number": self.number,
            "entries": self.entries,
            "threshold": self.threshold,
            "positive_decision": self.positive_decision,
            "negative_decision": self.negative_decision,
            "note": self.note,
        }
