from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.querysets import RestrictedQuerySet
from registry.querysets import REGISTRY_POLICY


class ProxyJustification(models.Model):
    """A compliance officer's recorded reason why a pair a proxy audit flagged is acceptable: ``feature`` (a model
    input) as a proxy of ``attribute`` in ``report``. ``reason`` says why, ``justified_by``/``justified_at`` who
    and when (the audit event keeps the name as text). Written once (database triggers refuse an UPDATE), at most
    one per (report, feature, attribute), and only for a pair the report flagged (audits.actions.do_justify_proxy).
    The proxy kind's judge (audits.proxy) counts a justified pair as passing."""

    report = models.ForeignKey("audits.AuditReport", on_delete=models.PROTECT, related_name="justifications")
    feature = models.CharField(max_length=255)
    attribute = models.CharField(max_length=255)
    reason = models.TextField(max_length=4000)
    justified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    justified_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "report__model_version__model__team_id"
    access_policy = REGISTRY_POLICY

    class Meta:
        ordering = ["justified_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["report", "feature", "attribute"], name="proxy_justification_once"),
            models.CheckConstraint(condition=~Q(reason=""), name="proxy_justification_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.feature} as a proxy of {self.attribute} (report {self.report_id}), justified"
