"""Raw OpenLineage events, kept verbatim and never changed."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.querysets import RestrictedQuerySet
from lineage.choices import EventKind, EventSource, RunState
from lineage.models.graph import MAX_NAME
from registry.querysets import REGISTRY_POLICY


class LineageEvent(models.Model):
    """One event as it arrived (``payload``, verbatim), with what the graph and the lists need pulled out of it.

    ``digest`` is the SHA-256 of the payload's canonical JSON (RFC 8785): a repeated event has the same digest and
    is not stored twice. ``namespace`` is the job's namespace (run and job events) or the dataset's (dataset
    events); ``team`` owns it. Rows are written once (database triggers refuse an UPDATE of their columns).
    """

    digest = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=8, choices=EventKind.choices)
    event_type = models.CharField(max_length=16, choices=RunState.choices, blank=True)
    event_time = models.DateTimeField()
    namespace = models.ForeignKey("lineage.Namespace", on_delete=models.PROTECT, related_name="events")
    team = models.ForeignKey("core.Team", on_delete=models.PROTECT, related_name="+")
    run_id = models.UUIDField(null=True, blank=True)
    job_name = models.CharField(max_length=MAX_NAME, blank=True)
    dataset_name = models.CharField(max_length=MAX_NAME, blank=True)
    producer = models.CharField(max_length=2048)
    schema_url = models.CharField(max_length=2048)
    payload = models.JSONField()
    source = models.CharField(max_length=8, choices=EventSource.choices, default=EventSource.API)
    received_at = models.DateTimeField(auto_now_add=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "team_id"
    access_policy = REGISTRY_POLICY

    class Meta:
        ordering = ["event_time", "pk"]
        indexes = [models.Index(fields=["run_id", "event_time"], name="lineage_event_run")]

    def __str__(self) -> str:
        return f"{self.kind} {self.event_type or ''} {self.event_time:%Y-%m-%dT%H:%M:%SZ}".strip()
