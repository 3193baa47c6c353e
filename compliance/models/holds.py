"""Legal holds: a scope of records that nothing may delete while the hold stands (docs/retention.md)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from compliance.choices import HoldScope, HoldStatus
from compliance.querysets import COMPLIANCE_POLICY
from core.querysets import RestrictedQuerySet


class LegalHold(models.Model):
    """A hold a compliance officer placed on a scope of one team's records, for a case.

    ``scope`` says what it covers: one ``dataset`` (every version, its files and the models trained on it), one
    ``model`` (every version's artifact), one ``use_case`` (its models and their training data), the whole ``team``,
    or every record of the team that may hold data about one data ``subject`` (``subject_identifier``). Exactly the
    field the scope names is set. ``case_reference`` and ``reason`` say why. ``status`` is the current state
    (active, release requested, released); every change is a ``LegalHoldEvent`` row, and a release needs two
    different officers. Database triggers refuse an UPDATE of any column but ``status`` (migration 0002).
    """

    team = models.ForeignKey("core.Team", on_delete=models.PROTECT, related_name="legal_holds")
    scope = models.CharField(max_length=16, choices=HoldScope.choices)
    dataset = models.ForeignKey(
        "registry.Dataset", on_delete=models.PROTECT, null=True, blank=True, related_name="legal_holds"
    )
    model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.PROTECT, null=True, blank=True, related_name="legal_holds"
    )
    use_case = models.ForeignKey(
        "registry.UseCase", on_delete=models.PROTECT, null=True, blank=True, related_name="legal_holds"
    )
    subject_identifier = models.CharField(max_length=256, blank=True)
    case_reference = models.CharField(max_length=128)
    reason = models.TextField()
    status = models.CharField(max_length=20, choices=HoldStatus.choices, default=HoldStatus.ACTIVE)
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    placed_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "team_id"
    access_policy = COMPLIANCE_POLICY

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(scope=HoldScope.DATASET, dataset__isnull=False, model__isnull=True, use_case__isnull=True)
                    & Q(subject_identifier="")
                )
                | (
                    Q(scope=HoldScope.MODEL, dataset__isnull=True, model__isnull=False, use_case__isnull=True)
                    & Q(subject_identifier="")
                )
                | (
                    Q(scope=HoldScope.USE_CASE, dataset__isnull=True, model__isnull=True, use_case__isnull=False)
                    & Q(subject_identifier="")
                )
                | (
                    Q(scope=HoldScope.TEAM, dataset__isnull=True, model__isnull=True, use_case__isnull=True)
                    & Q(subject_identifier="")
                )
                | (
                    Q(scope=HoldScope.SUBJECT, dataset__isnull=True, model__isnull=True, use_case__isnull=True)
                    & ~Q(subject_identifier="")
                ),
                name="legal_hold_scope_matches",
            ),
            models.CheckConstraint(condition=~Q(case_reference=""), name="legal_hold_case_reference"),
        ]
        indexes = [models.Index(fields=["team", "status"], name="legal_hold_team_status")]

    def __str__(self) -> str:
        return f"hold {self.case_reference} on {self.scope_label}"

    @property
    def scope_label(self) -> str:
        if self.scope == HoldScope.DATASET:
            return f"dataset {self.dataset}"
        if self.scope == HoldScope.MODEL:
            return f"model {self.model}"
        if self.scope == HoldScope.USE_CASE:
            return f"use case {self.use_case}"
        if self.scope == HoldScope.SUBJECT:
            return f"data subject {self.subject_identifier}"
        return f"team {self.team}"

    @property
    def in_force(self) -> bool:
        """A hold blocks deletion until its release is confirmed (a requested release still holds)."""
        return self.status != HoldStatus.RELEASED


class LegalHoldEvent(models.Model):
    """One step in a hold's life: placed, release requested, release confirmed; by whom (``actor``), when, why."""

    hold = models.ForeignKey(LegalHold, on_delete=models.PROTECT, related_name="events")
    action = models.CharField(max_length=24)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, choices=HoldStatus.choices)
    note = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    actor_name = models.CharField(max_length=150)
    occurred_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "hold__team_id"
    access_policy = COMPLIANCE_POLICY

    class Meta:
        ordering = ["hold_id", "occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.hold_id}: {self.action} by {self.actor_name}"

    @property
    def label(self) -> str:
        return {"placed": "Placed", "release_requested": "Release requested", "released": "Released"}.get(
            self.action, self.action
        )
