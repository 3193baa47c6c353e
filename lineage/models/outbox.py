"""The outbox of events forwarded to an external OpenLineage backend (lineage.forwarding)."""

from __future__ import annotations

from django.db import models

from core.querysets import RestrictedQuerySet
from lineage.choices import DeliveryState, RunState
from registry.querysets import REGISTRY_POLICY


class LineageDelivery(models.Model):
    """One event Assay owes the external backend (``OPENLINEAGE_URL`` or ``openlineage.yml``).

    Written in the same transaction as the event it carries (a job's START with its claim, its end with
    ``finish_job``), so that an event stored is an event owed, and sent after commit by a Celery task: the backend
    being down never fails a job. ``payload`` is the event exactly as sent; ``target`` names where (the URL, never
    the key). ``created_at`` is when the delivery became pending, ``attempts`` how many sends failed or succeeded,
    ``last_error`` the last failure, ``next_attempt_at`` when the next try is due (backoff doubles per attempt, up
    to a cap) and ``delivered_at`` when the backend accepted it. ``team`` is the job's team (null for platform jobs,
    which only platform admins see).
    """

    payload = models.JSONField()
    run_id = models.UUIDField(null=True, blank=True)
    event_type = models.CharField(max_length=16, choices=RunState.choices, blank=True)
    job = models.ForeignKey(
        "core.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="lineage_deliveries"
    )
    team = models.ForeignKey("core.Team", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    target = models.CharField(max_length=2048)
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "team_id"
    access_policy = REGISTRY_POLICY

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="lineage_delivery_due")]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(state="pending", delivered_at__isnull=True)
                    | models.Q(state="delivered", delivered_at__isnull=False)
                ),
                name="lineage_delivery_state_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type or 'event'} {self.run_id or ''} to {self.target}: {self.state}".replace("  ", " ")
