from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from serving.choices import DeploymentRole
from serving.querysets import DeploymentQuerySet


class Deployment(models.Model):
    """One model version put into one environment through a release whose gate evaluation passed
    (``gate_evaluation``). The newest deployment of a registered model in an environment is the one serving;
    ``replaces`` is the one it took over from, and ``is_rollback`` marks a return to an earlier release (which
    went through the gate again). ``model`` and ``model_version`` repeat the release's so that history per model
    and environment is one indexed query. ``idempotency_key`` makes a repeated deploy request return the first
    deployment instead of making a second. ``role`` says what it does there (serving.choices.DeploymentRole): a
    primary takes over from the primary before it; a canary answers ``traffic_percent`` of the requests beside the
    primary; a shadow scores every request beside it and is never returned. What serves now is ``Route``, written in
    the same transaction. Database triggers refuse any UPDATE.
    """

    environment = models.ForeignKey("governance.Environment", on_delete=models.PROTECT, related_name="deployments")
    release = models.ForeignKey("governance.Release", on_delete=models.PROTECT, related_name="deployments")
    gate_evaluation = models.OneToOneField(
        "governance.GateEvaluation", on_delete=models.PROTECT, related_name="deployment"
    )
    model = models.ForeignKey("registry.RegisteredModel", on_delete=models.PROTECT, related_name="deployments")
    model_version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="deployments")
    replaces = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    is_rollback = models.BooleanField(default=False)
    role = models.CharField(max_length=16, choices=DeploymentRole.choices, default=DeploymentRole.PRIMARY)
    traffic_percent = models.PositiveSmallIntegerField(default=100)
    deployed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    deployed_at = models.DateTimeField()
    idempotency_key = models.CharField(max_length=128, blank=True)

    objects = DeploymentQuerySet.as_manager()

    class Meta:
        ordering = ["-deployed_at", "-id"]
        indexes = [models.Index(fields=["model", "environment", "-deployed_at"], name="deployment_model_env_time")]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="deployment_unique_idempotency_key",
            ),
            models.CheckConstraint(
                condition=(Q(role=DeploymentRole.PRIMARY) & Q(traffic_percent=100))
                | (Q(role=DeploymentRole.CANARY) & Q(traffic_percent__gte=1) & Q(traffic_percent__lte=50))
                | (Q(role=DeploymentRole.SHADOW) & Q(traffic_percent=0)),
                name="deployment_role_traffic",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_version} in {self.environment} at {self.deployed_at:%Y-%m-%d %H:%M}"
