from __future__ import annotations

import uuid

from django.db import models

from serving.choices import DeploymentRole
from serving.querysets import PredictionQuerySet


class PredictionLog(models.Model):
    """One scoring of one request by one deployment: the primary's (or canary's) answer, and a shadow's beside it
    under the same ``request_id``. Written by the inference service in batches off the request path
    (serving/inference/logbook.py), never through the API.

    ``inputs`` is the request's rows as received, or empty when the dataset's classification forbids keeping them
    (``inputs_sha256`` is always kept: canonical JSON of the rows). ``subject_digest`` is the keyed digest
    (serving.subjects.subject_digest) of the data subject the request named, so that access and erasure requests
    find a subject's rows without the log holding the raw identifier. ``quality`` counts, per input, the rows with
    missing values, values outside the training range and categories unseen in training. Erasure empties ``inputs``
    and stamps ``erased_at``; every other column is written once (database triggers).
    """

    request_id = models.UUIDField(db_index=True)
    logged_at = models.DateTimeField()
    environment = models.ForeignKey("governance.Environment", on_delete=models.PROTECT, related_name="+")
    model = models.ForeignKey("registry.RegisteredModel", on_delete=models.PROTECT, related_name="+")
    deployment = models.ForeignKey("serving.Deployment", on_delete=models.PROTECT, related_name="predictions")
    model_version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=16, choices=DeploymentRole.choices)
    returned = models.BooleanField(default=True)
    token = models.ForeignKey("core.ApiToken", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    caller = models.CharField(max_length=150)
    routing_key_digest = models.CharField(max_length=64, blank=True)
    subject_digest = models.CharField(max_length=64, blank=True, db_index=True)
    rows = models.PositiveIntegerField()
    inputs = models.JSONField(null=True, blank=True)
    inputs_sha256 = models.CharField(max_length=64)
    outputs = models.JSONField()
    scores = models.JSONField(default=list, blank=True)
    latency_us = models.PositiveIntegerField()
    quality = models.JSONField(default=dict, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    objects = PredictionQuerySet.as_manager()
    team_lookup = "model__team_id"

    class Meta:
        ordering = ["-logged_at", "-id"]
        indexes = [
            models.Index(fields=["deployment", "-logged_at"], name="prediction_deployment_time"),
            models.Index(fields=["model", "environment", "-logged_at"], name="prediction_model_env_time"),
        ]

    def __str__(self) -> str:
        return f"prediction {self.request_id} by {self.model_version} ({self.role})"


class DecisionRecord(models.Model):
    """What was decided for one request, by which model version and why: the decision (the reason catalogue's
    positive or negative decision for the score), the score, and the principal reasons (audits.local_explanations),
    with the explanation report and reason catalogue they came from, linked to the prediction log row. Retrievable by
    ``uid`` for the statement of reasons. Written once (database triggers)."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    prediction = models.OneToOneField(PredictionLog, on_delete=models.PROTECT, related_name="decision")
    model_version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=200)
    score = models.FloatField()
    reasons = models.JSONField()
    explanation_report = models.ForeignKey(
        "audits.AuditReport", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason_catalogue = models.ForeignKey(
        "audits.ReasonCatalogue", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()

    objects = PredictionQuerySet.as_manager()
    team_lookup = "prediction__model__team_id"

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"decision {self.uid}"
