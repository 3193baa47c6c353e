"""Data access grants: one team's use of another team's dataset, for a named use case and purpose (docs/grants.md)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from compliance.choices import GrantDecision, GrantSide, GrantStatus
from compliance.querysets import GrantDecisionQuerySet, GrantQuerySet


class DataAccessGrant(models.Model):
    """``team`` asks to use ``dataset`` (owned by ``owner_team``, kept as it was at the request) for ``use_case`` (one
    of ``team``'s) and ``purpose``, until ``expires_at``.

    It covers use only while ``status`` is ``approved`` and ``expires_at`` is in the future. Approval needs both
    sides (``GrantSide``): an admin of the owning team and a compliance officer, two different people, neither of
    them the requester; each decision is a ``DataAccessGrantDecision`` row and the status moves under a row lock.
    ``revoked``/``refused``/``withdrawn`` are final. Release manifests list the grants a release relies on, so an
    expired or revoked grant shows at the gate (governance check ``data_access``).
    """

    dataset = models.ForeignKey("registry.Dataset", on_delete=models.PROTECT, related_name="access_grants")
    owner_team = models.ForeignKey("core.Team", on_delete=models.PROTECT, related_name="+")
    team = models.ForeignKey("core.Team", on_delete=models.PROTECT, related_name="data_access_grants")
    use_case = models.ForeignKey("registry.UseCase", on_delete=models.PROTECT, related_name="data_access_grants")
    purpose = models.TextField()
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=GrantStatus.choices, default=GrantStatus.REQUESTED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    # Both teams' members see it (compliance.querysets.GrantQuerySet).
    objects = GrantQuerySet.as_manager()
    team_lookup = "team_id"

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(team=models.F("owner_team")), name="data_grant_other_team"),
            models.CheckConstraint(condition=~Q(purpose=""), name="data_grant_purpose"),
        ]
        indexes = [
            models.Index(fields=["team", "dataset", "status"], name="data_grant_use"),
            models.Index(fields=["owner_team", "status"], name="data_grant_owner_status"),
        ]

    def __str__(self) -> str:
        return f"grant #{self.pk}: {self.team} uses {self.dataset}"


class DataAccessGrantDecision(models.Model):
    """One side's decision on a grant: who, when, approve or refuse, and why. Write-once."""

    grant = models.ForeignKey(DataAccessGrant, on_delete=models.PROTECT, related_name="decisions")
    side = models.CharField(max_length=16, choices=GrantSide.choices)
    decision = models.CharField(max_length=16, choices=GrantDecision.choices)
    comment = models.TextField(blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(auto_now_add=True)

    objects = GrantDecisionQuerySet.as_manager()
    team_lookup = "grant__team_id"

    class Meta:
        ordering = ["grant_id", "decided_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["grant", "side"], name="data_grant_decision_one_per_side"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.decision} on grant #{self.grant_id}"
