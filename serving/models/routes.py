from __future__ import annotations

from django.conf import settings
from django.db import models

from serving.querysets import RouteQuerySet


class Route(models.Model):
    """What serves a registered model in an environment now: the primary deployment, and at most one canary (with
    its share of traffic) and one shadow. ``primary`` empty means retired: nothing is served. Written only by the
    serving actions, in the transaction of the deployment or change it reflects (its history is the deployments and
    the audit log). ``revision`` grows by one on every change: the inference service polls the routes and reloads
    the ones whose revision moved (serving/inference/)."""

    environment = models.ForeignKey("governance.Environment", on_delete=models.PROTECT, related_name="routes")
    model = models.ForeignKey("registry.RegisteredModel", on_delete=models.PROTECT, related_name="routes")
    primary = models.ForeignKey("serving.Deployment", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    canary = models.ForeignKey("serving.Deployment", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    shadow = models.ForeignKey("serving.Deployment", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    revision = models.PositiveIntegerField(default=1)
    changed_at = models.DateTimeField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    objects = RouteQuerySet.as_manager()
    team_lookup = "model__team_id"

    class Meta:
        ordering = ["environment_id", "model_id"]
        constraints = [
            models.UniqueConstraint(fields=["environment", "model"], name="route_unique_environment_model"),
        ]

    def __str__(self) -> str:
        return f"{self.model} in {self.environment}"
