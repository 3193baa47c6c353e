from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Self

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.choices import FINISHED_JOB_STATUSES, JobStatus
from core.querysets import RestrictedQuerySet

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


class JobQuerySet(RestrictedQuerySet):
    def restrict(self, user: User | AnonymousUser, action: str = "view") -> Self:
        """Members of the job's team see it; a requester always sees their own jobs (team-less ones included)."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(Q(pk__in=super().restrict(user, action).values("pk")) | Q(requested_by_id=user.pk))


class Job(models.Model):
    """The record of one background job: what was asked, by whom, and how it went.

    ``kind`` names the registered job kind (``core.jobs.register_job_kind``; its Celery task is
    ``assay.job.<kind>``); ``target_*`` names the object it works on, as text so that it reads after deletion.
    ``params`` and ``result`` are JSON. ``progress`` is 0..1 with ``stage`` describing the current step.
    ``idempotency_key`` makes a repeated request return the first job instead of starting a second. ``attempts``
    counts the times a worker started it; ``worker`` is the Celery node name of the latest attempt, so that a
    restarted node can find the jobs it was running when it died. ``task_id`` is the id of the one broker message
    entitled to run the job: the start-up sweep sends a fresh message with a new id, and the old one, should the
    broker redeliver it, is recognised as stale and ignored. Status changes and progress are also written as
    ``JobLogLine`` rows. See docs/jobs.md.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=64, db_index=True)
    team = models.ForeignKey("core.Team", on_delete=models.PROTECT, null=True, blank=True, related_name="jobs")
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=255, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs"
    )
    params = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=200, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=255, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()
    team_lookup = "team_id"

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["requested_by", "kind", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="job_idempotency_key_unique",
            ),
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=1), name="job_progress_range"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.public_id}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_JOB_STATUSES


class JobLogLine(models.Model):
    """One line of a job's log, appended by the runner: status changes, progress and messages."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="log_lines")
    at = models.DateTimeField(auto_now_add=True)
    level = models.CharField(max_length=8, default="info")
    message = models.TextField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.message[:80]
