from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.api.base import StrictSerializer
from core.api.serializers import IdempotencyKeyField
from core.idempotency import IDEMPOTENCY_KEY_HELP
from governance.models import GateEvaluation
from serving.choices import DeploymentRole
from serving.models import DecisionRecord, Deployment, InferenceScope, PredictionLog, Route

TRIAL_ROLES = [DeploymentRole.CANARY.value, DeploymentRole.SHADOW.value]


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
            "role",
            "traffic_percent",
            "gate_evaluation",
            "deployed_by",
            "deployed_at",
            "idempotency_key",
        ]
        read_only_fields = fields


class IdempotentRequestSerializer(StrictSerializer):
    idempotency_key = IdempotencyKeyField(
        allow_blank=True,
        help_text="Send the same key again to get the same deployment back instead of a second one "
        f"({IDEMPOTENCY_KEY_HELP})",
    )


class DeployRequestSerializer(IdempotentRequestSerializer):
    role = serializers.ChoiceField(
        choices=DeploymentRole.choices,
        default=DeploymentRole.PRIMARY.value,
        help_text="primary (default) takes over from the primary; canary answers traffic_percent of the requests "
        "beside it; shadow scores every request beside it and is never returned.",
    )
    traffic_percent = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="A canary's share of traffic, 1 to 50 percent (required for a canary; 100 for a primary, 0 for a "
        "shadow, which are implied).",
    )


class RollbackRequestSerializer(IdempotentRequestSerializer):
    environment = serializers.SlugField(help_text="The environment to roll back, by slug.")
    release = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="The earlier release of this model, deployed there before, to return to (default: the primary "
        "that the one serving now took over from).",
    )


class EnvironmentRollbackRequestSerializer(IdempotentRequestSerializer):
    release = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="The earlier release to return to (default: the primary that the one serving now took over from; "
        "for a retired model, the primary that served last).",
    )


class PromoteRequestSerializer(IdempotentRequestSerializer):
    role = serializers.ChoiceField(
        choices=TRIAL_ROLES,
        required=False,
        help_text="Which trial to promote when both a canary and a shadow run (default: the one running).",
    )


class EndTrialRequestSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=TRIAL_ROLES, help_text="The trial to stop: canary or shadow.")


class RetireRequestSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000, help_text="Why the model stops being served here (audited).")


class RoutedDeploymentSerializer(serializers.ModelSerializer[Any]):
    """A deployment as the route shows it: what serves, from which release."""

    release = serializers.IntegerField(source="release_id", read_only=True)
    model_version = serializers.IntegerField(source="model_version.number", read_only=True)
    artifact_sha256 = serializers.CharField(source="model_version.artifact_sha256", read_only=True)

    class Meta:
        model = Deployment
        fields = ["id", "release", "model_version", "artifact_sha256", "traffic_percent", "deployed_at"]
        read_only_fields = fields


class RouteSerializer(serializers.ModelSerializer[Any]):
    """What serves a model in an environment now. ``primary`` null: retired, nothing is served."""

    environment: Any = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    model = serializers.IntegerField(source="model_id", read_only=True)
    model_name = serializers.CharField(source="model.name", read_only=True)
    team = serializers.CharField(source="model.team.slug", read_only=True)
    primary = RoutedDeploymentSerializer(read_only=True, allow_null=True)
    canary = RoutedDeploymentSerializer(read_only=True, allow_null=True)
    shadow = RoutedDeploymentSerializer(read_only=True, allow_null=True)
    changed_by: Any = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Route
        fields = [
            "id",
            "environment",
            "model",
            "model_name",
            "team",
            "primary",
            "canary",
            "shadow",
            "revision",
            "changed_at",
            "changed_by",
        ]
        read_only_fields = fields


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


class InferenceScopeSerializer(serializers.ModelSerializer[Any]):
    """What a service-account token may score against in the inference service."""

    token = serializers.IntegerField(source="token_id", read_only=True)
    environments: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True
    )
    models: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        source="registered_models", many=True, read_only=True
    )
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = InferenceScope
        fields = ["token", "environments", "models", "requests_per_second", "burst", "created_at", "created_by"]
        read_only_fields = fields


class InferenceScopeRequestSerializer(StrictSerializer):
    environments = serializers.ListField(
        child=serializers.SlugField(max_length=64),
        min_length=1,
        max_length=50,
        help_text="The environments (slugs) the token may score in: at least one.",
    )
    models = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        max_length=500,
        default=list,
        help_text="The registered models (ids, of the service account's team) it may score; none: every model of "
        "the team.",
    )
    requests_per_second = serializers.IntegerField(min_value=1, max_value=100_000, default=100)
    burst = serializers.IntegerField(min_value=1, max_value=1_000_000, default=200)
