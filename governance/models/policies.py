from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from governance.choices import DecisionRecords
from governance.querysets import TeamOrOrgQuerySet
from registry.choices import RiskTier


class ReleasePolicy(models.Model):
    """What a release of a model needs before it reaches ``environment``, for use cases of ``risk_tier``: the
    rules themselves are ``ReleasePolicyVersion`` rows, the newest of which is in force. ``team`` scopes the
    policy to one team's models; no team makes it the organisation's default, which a team policy for the same
    environment and tier overrides. ``board`` is who judges the releases it governs."""

    team = models.ForeignKey(
        "core.Team", on_delete=models.PROTECT, null=True, blank=True, related_name="release_policies"
    )
    name = models.CharField(max_length=128)
    environment = models.ForeignKey("governance.Environment", on_delete=models.PROTECT, related_name="policies")
    risk_tier = models.CharField(max_length=16, choices=RiskTier.choices)
    board = models.ForeignKey("governance.ReviewBoard", on_delete=models.PROTECT, related_name="policies")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = TeamOrOrgQuerySet.as_manager()
    team_lookup = "team_id"
    board_lookup = "board_id"

    class Meta:
        ordering = ["environment__rank", "risk_tier", "name"]
        verbose_name_plural = "release policies"
        constraints = [
            models.UniqueConstraint(
                fields=["team", "environment", "risk_tier"],
                condition=Q(team__isnull=False),
                name="release_policy_unique_team_scope",
            ),
            models.UniqueConstraint(
                fields=["environment", "risk_tier"],
                condition=Q(team__isnull=True),
                name="release_policy_unique_org_scope",
            ),
            models.CheckConstraint(condition=~Q(risk_tier=RiskTier.PROHIBITED), name="release_policy_not_prohibited"),
        ]

    def __str__(self) -> str:
        return self.name


class ReleasePolicyVersion(models.Model):
    """One immutable version of a policy's rules, numbered from 1 under a lock on the policy. A release records
    the version in force when it was requested and is judged by it.

    ``required_roles`` maps a board role to how many distinct people in that role must approve
    (``{"legal": 1, "technical": 1}``); ``min_total`` is the least number of distinct approvers overall;
    ``approval_valid_days`` how long a signature counts after the server received it; ``required_checks`` the
    names of the gate checks (governance.gate) that must pass beyond the ones that always run.
    ``audit_requirements`` the audit kinds the gate check ``audits_passed`` requires, each with how old its report
    may be and the thresholds it is judged by (``{"fairness": {"max_age_days": 180, "thresholds":
    {"disparate_impact_min": 0.8}}}``; docs/audits.md, "Release policies and the gate"). ``decision_records`` says
    when the inference service stores a decision record with the principal reasons of a deployment's decisions
    (``always``: for every request, durable before the response). Database triggers refuse any UPDATE.
    """

    policy = models.ForeignKey(ReleasePolicy, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    required_roles = models.JSONField()
    min_total = models.PositiveSmallIntegerField()
    approval_valid_days = models.PositiveSmallIntegerField()
    required_checks = models.JSONField(default=list, blank=True)
    audit_requirements = models.JSONField(default=dict, blank=True)
    decision_records = models.CharField(
        max_length=16, choices=DecisionRecords.choices, default=DecisionRecords.ON_REQUEST
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = TeamOrOrgQuerySet.as_manager()
    team_lookup = "policy__team_id"
    board_lookup = "policy__board_id"

    class Meta:
        ordering = ["policy_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "number"], name="release_policy_version_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="release_policy_version_number_positive"),
            models.CheckConstraint(condition=Q(min_total__gte=1), name="release_policy_version_min_total"),
            models.CheckConstraint(
                condition=Q(approval_valid_days__gte=1), name="release_policy_version_validity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} v{self.number}"
