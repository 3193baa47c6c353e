from __future__ import annotations

from django.conf import settings
from django.db import models

from core.querysets import RestrictedQuerySet


class InferenceScope(models.Model):
    """What one service-account token may score against: the environments (at least one) and the ``registered_models``
    (none listed: every model of the account's team), at most ``requests_per_second`` (a token bucket of
    ``burst`` requests, per inference process). A token without a scope is refused by the inference service.
    Set by the team's admins (serving.actions.do_set_inference_scope, audited); changing it replaces the row."""

    token = models.OneToOneField("core.ApiToken", on_delete=models.CASCADE, related_name="inference_scope")
    environments = models.ManyToManyField("governance.Environment", related_name="+")
    registered_models = models.ManyToManyField("registry.RegisteredModel", related_name="+", blank=True)
    requests_per_second = models.PositiveIntegerField(default=100)
    burst = models.PositiveIntegerField(default=200)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "token__user__service_account__team_id"

    class Meta:
        ordering = ["token_id"]

    def __str__(self) -> str:
        return f"inference scope of {self.token}"
