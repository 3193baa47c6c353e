from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from audits.choices import AuditKind
from core.querysets import RestrictedQuerySet
from registry.querysets import REGISTRY_POLICY


class AuditPlan(models.Model):
    """How a ``kind`` audit of ``model`` is run when a release request needs one (docs/audits.md, "Release policies
    and the gate"): on the newest version of ``dataset`` (one of the model's team) at that moment, with ``params``
    (the kind's request parameters, checked by ``KindSpec.clean`` against the dataset's newest version and the
    model's newest version when the plan is saved, and again when the audit is requested). One plan per model and
    kind; engineers of the model's team set and remove it (audits.actions), each change an audit event."""

    model = models.ForeignKey("registry.RegisteredModel", on_delete=models.CASCADE, related_name="audit_plans")
    kind = models.CharField(max_length=32, choices=AuditKind.choices)
    dataset = models.ForeignKey("registry.Dataset", on_delete=models.PROTECT, related_name="audit_plans")
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "model__team_id"
    access_policy = REGISTRY_POLICY

    class Meta:
        ordering = ["model_id", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["model", "kind"], name="audit_plan_unique_kind"),
            models.CheckConstraint(condition=Q(kind__in=AuditKind.values), name="audit_plan_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} audit plan of {self.model}"
