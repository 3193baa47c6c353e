from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.api.base import StrictSerializer
from core.api.serializers import IdempotencyKeyField
from core.idempotency import IDEMPOTENCY_KEY_HELP
from governance.models import GateEvaluation
from serving.models import DecisionRecord, Deployment, PredictionLog


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


class PredictionSerializer(serializers.ModelSerializer[Any]):
    """One logged scoring (serving.models.PredictionLog): ``inputs`` is null when the dataset's classification
    forbade keeping them or the subject's erasure emptied them (``erased_at``); ``inputs_sha256`` always stays.
    ``quality`` counts per input the rows with missing, out-of-range and unseen values. ``decision_record`` is the
    uid of the decision record made for it, if any."""

    environment: Any = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    team = serializers.CharField(source="model.team.slug", read_only=True)
    model = serializers.IntegerField(source="model_id", read_only=True)
    model_name = serializers.CharField(source="model.name", read_only=True)
    deployment = serializers.IntegerField(source="deployment_id", read_only=True)
    model_version = serializers.IntegerField(source="model_version.number", read_only=True)
    model_version_id = serializers.IntegerField(read_only=True)
    decision_record = serializers.SerializerMethodField()

    class Meta:
        model = PredictionLog
        fields = [
            "id",
            "request_id",
            "logged_at",
            "environment",
            "team",
            "model",
            "model_name",
            "deployment",
            "model_version",
            "model_version_id",
            "role",
            "returned",
            "caller",
            "routing_key_digest",
            "subject_digest",
            "rows",
            "inputs",
            "inputs_sha256",
            "outputs",
            "scores",
            "latency_us",
            "quality",
            "erased_at",
            "decision_record",
        ]
        read_only_fields = fields

    def get_decision_record(self, prediction: PredictionLog) -> str | None:
        record = getattr(prediction, "decision", None)
        return str(record.uid) if record is not None else None


class DecisionRecordSerializer(serializers.ModelSerializer[Any]):
    """A recorded decision (serving.models.DecisionRecord): the decision, its score, the principal reasons (each
    feature, its value, SHAP value, direction and the catalogue's sentence; never a protected attribute), the
    explanation report and reason catalogue they came from, and the prediction log row."""

    prediction = serializers.IntegerField(source="prediction_id", read_only=True)
    request_id = serializers.UUIDField(source="prediction.request_id", read_only=True)
    environment = serializers.CharField(source="prediction.environment.slug", read_only=True)
    team = serializers.CharField(source="prediction.model.team.slug", read_only=True)
    model = serializers.IntegerField(source="prediction.model_id", read_only=True)
    model_name = serializers.CharField(source="prediction.model.name", read_only=True)
    model_version = serializers.IntegerField(source="model_version.number", read_only=True)
    model_version_id = serializers.IntegerField(read_only=True)
    explanation_report = serializers.IntegerField(source="explanation_report_id", allow_null=True, read_only=True)
    reason_catalogue = serializers.IntegerField(source="reason_catalogue.number", allow_null=True, read_only=True)
    statement = serializers.SerializerMethodField()

    class Meta:
        model = DecisionRecord
        fields = [
            "uid",
            "prediction",
            "request_id",
            "environment",
            "team",
            "model",
            "model_name",
            "model_version",
            "model_version_id",
            "decision",
            "score",
            "reasons",
            "explanation_report",
            "reason_catalogue",
            "created_at",
            "statement",
        ]
        read_only_fields = fields

    def get_statement(self, record: DecisionRecord) -> str:
        return f"/api/v1/decisions/{record.uid}/statement/"
