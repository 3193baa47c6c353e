from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.api.base import StrictSerializer
from core.api.serializers import IdempotencyKeyField
from core.idempotency import IDEMPOTENCY_KEY_HELP
from governance.models import GateEvaluation
from serving.models import Deployment


class GateCheckSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    passed = serializers.BooleanField()
    reason = serializers.CharField()


class GateEvaluationSerializer(serializers.ModelSerializer[Any]):
    """One run of the gate. ``id`` is null for a preview, which is not stored."""

    id = serializers.IntegerField(allow_null=True, read_only=True)
    release = serializers.IntegerField(source="release_id", read_only=True)
    checks = GateCheckSerializer(many=True, read_only=True)
    evaluated_by: Any = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = GateEvaluation
        fields = [
            "id",
            "release",
            "purpose",
            "passed",
            "checks",
            "manifest_digest",
            "evaluated_at",
            "evaluated_by",
            "duration_ms",
        ]
        read_only_fields = fields


class DeploymentSerializer(serializers.ModelSerializer[Any]):
    environment: Any = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    release = serializers.IntegerField(source="release_id", read_only=True)
    release_uid = serializers.UUIDField(source="release.uid", read_only=True)
    model = serializers.IntegerField(source="model_id", read_only=True)
    model_name = serializers.CharField(source="model.name", read_only=True)
    team = serializers.CharField(source="model.team.slug", read_only=True)
    model_version = serializers.IntegerField(source="model_version.number", read_only=True)
    artifact_sha256 = serializers.CharField(source="model_version.artifact_sha256", read_only=True)
    replaces = serializers.IntegerField(source="replaces_id", allow_null=True, read_only=True)
    gate_evaluation = serializers.IntegerField(source="gate_evaluation_id", read_only=True)
    deployed_by: Any = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Deployment
        fields = [
            "id",
            "environment",
            "release",
            "release_uid",
            "team",
            "model",
            "model_name",
            "model_version",
            "artifact_sha256",
            "replaces",
            "is_rollback",
            "gate_evaluation",
            "deployed_by",
            "deployed_at",
            "idempotency_key",
        ]
        read_only_fields = fields


class DeployRequestSerializer(StrictSerializer):
    idempotency_key = IdempotencyKeyField(
        allow_blank=True,
        help_text="Send the same key again to get the same deployment back instead of a second one "
        f"({IDEMPOTENCY_KEY_HELP})",
    )


class RollbackRequestSerializer(DeployRequestSerializer):
    environment = serializers.SlugField(help_text="The environment to roll back, by slug.")
    release = serializers.IntegerField(
        min_value=1, help_text="The earlier release of this model, deployed there before, to return to."
    )


class GateRefusalSerializer(serializers.Serializer[Any]):
    """The body of a 409: the API's error shape, with every check of the stored evaluation."""

    class Error(serializers.Serializer[Any]):
        code = serializers.CharField()
        message = serializers.CharField()
        # Absent when the 409 is an idempotency key used for another release rather than a refusal of the gate.
        gate_evaluation = serializers.IntegerField(required=False)
        checks = GateCheckSerializer(many=True, required=False)

    error = Error()
