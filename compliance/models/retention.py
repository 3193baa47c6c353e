"""Retention policies, their recorded versions, and the tombstones a purge leaves (docs/retention.md)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from compliance.choices import CountedFrom, OnExpiry, PurgeState
from compliance.querysets import COMPLIANCE_POLICY
from core.querysets import RestrictedQuerySet
from registry.choices import Classification

# A hundred years: anything longer is a typing mistake, not a retention duty.
MAX_KEEP_DAYS = 36_500


class RetentionPolicy(models.Model):
    """How long one team keeps one kind of record (``target_kind``, a kind registered with
    compliance.retention.register_target) of one ``classification``. Its rules are its versions: the current one is
    the highest ``RetentionPolicyVersion.number``; a change is a new version, never an edit."""

    team = models.ForeignKey("core.Team", on_delete=models.PROTECT, related_name="retention_policies")
    target_kind = models.CharField(max_length=48)
    classification = models.CharField(max_length=16, choices=Classification.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "team_id"
    access_policy = COMPLIANCE_POLICY

    class Meta:
        ordering = ["team_id", "target_kind", "classification"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "target_kind", "classification"], name="retention_policy_unique_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.target_kind}/{self.classification} ({self.team})"


class RetentionPolicyVersion(models.Model):
    """One immutable state of a retention policy: keep ``keep_days`` days counted from ``counted_from``, then
    ``on_expiry``. ``active`` false suspends the policy (nothing expires under it). ``number`` counts from 1 per
    policy, taken under a lock on the policy. ``note`` says why it changed. Triggers refuse any UPDATE."""

    policy = models.ForeignKey(RetentionPolicy, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    keep_days = models.PositiveIntegerField()
    counted_from = models.CharField(max_length=16, choices=CountedFrom.choices)
    on_expiry = models.CharField(max_length=16, choices=OnExpiry.choices)
    active = models.BooleanField(default=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "policy__team_id"
    access_policy = COMPLIANCE_POLICY

    class Meta:
        ordering = ["policy_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "number"], name="retention_policy_version_unique"),
            models.CheckConstraint(
                condition=Q(keep_days__gte=1) & Q(keep_days__lte=MAX_KEEP_DAYS), name="retention_keep_days_bounded"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} v{self.number}"


class Purge(models.Model):
    """The tombstone of one record whose bytes were deleted (or anonymised): what it was, and why it went.

    ``target_kind`` is the retention target kind, ``target_type``/``target_id`` the registry row that stays (its
    bytes are gone), ``target_repr`` its name as text. ``digest`` and ``size`` describe the bytes as they were;
    ``detail`` what the target's eraser reported (files removed, bytes kept because other rows share them).
    ``policy_version`` is the policy that expired it, empty for a person's manual deletion (``actor``); ``job`` the
    retention run. ``state`` is ``pending`` from the moment deletion is decided, before any byte goes, and ``done``
    once the bytes are gone: a pending tombstone means the bytes may be partly gone, and the next run resumes it.
    One tombstone per record. Triggers refuse an UPDATE of any column but ``state``, ``detail`` and ``completed_at``.
    """

    team = models.ForeignKey("core.Team", on_delete=models.PROTECT, related_name="+")
    target_kind = models.CharField(max_length=48)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    target_repr = models.CharField(max_length=255)
    classification = models.CharField(max_length=16, blank=True)
    on_expiry = models.CharField(max_length=16, choices=OnExpiry.choices)
    digest = models.CharField(max_length=64, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    policy_version = models.ForeignKey(
        RetentionPolicyVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="purges"
    )
    job = models.ForeignKey("core.Job", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    reason = models.TextField(blank=True)
    state = models.CharField(max_length=16, choices=PurgeState.choices, default=PurgeState.PENDING)
    started_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "team_id"
    access_policy = COMPLIANCE_POLICY

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["target_type", "target_id"], name="purge_one_per_record"),
            models.CheckConstraint(
                condition=Q(state=PurgeState.PENDING, completed_at__isnull=True)
                | Q(state=PurgeState.DONE, completed_at__isnull=False),
                name="purge_state_completed",
            ),
        ]
        indexes = [models.Index(fields=["target_kind", "state"], name="purge_kind_state")]

    def __str__(self) -> str:
        return f"purge of {self.target_repr}"

    @property
    def notice(self) -> str:
        """What a page says about the record: "purged under policy X on D" (or by whom)."""
        when = (self.completed_at or self.started_at).date().isoformat()
        if self.state == PurgeState.PENDING:
            return f"being purged since {when}"
        how = f"under policy {self.policy_version}" if self.policy_version_id else f"by {self.actor_name}"
        return f"purged {how} on {when}"
