"""Serializers of the governance API. They shape input and output only: the actions decide and write."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.base import StrictModelSerializer, StrictSerializer
from core.choices import BoardRole
from core.models import Team
from governance.choices import DecisionRecords
from governance.models import (
    Approval,
    BoardMember,
    Environment,
    Release,
    ReleasePolicy,
    ReleasePolicyVersion,
    ReviewBoard,
    SigningKey,
)
from governance.models.boards import MAX_REGION_LENGTH, MAX_REGIONS
from registry.choices import RiskTier
from registry.models import ModelVersion

User = get_user_model()


def username_field(**kwargs: Any) -> serializers.SlugRelatedField[Any]:
    return serializers.SlugRelatedField(slug_field="username", read_only=True, **kwargs)


def team_field() -> serializers.SlugRelatedField[Any]:
    # Null: the organisation's. Views narrow the queryset to the teams the caller manages.
    return serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), allow_null=True)


# --- Environments -------------------------------------------------------------------------------------------------


class RegionField(serializers.CharField):
    """A region name: a JSON string only (DRF's CharField would turn 7 into "7")."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class EnvironmentSerializer(StrictModelSerializer):
    created_by = username_field()
    allowed_regions = serializers.ListField(
        child=RegionField(max_length=MAX_REGION_LENGTH, trim_whitespace=False),
        max_length=MAX_REGIONS,
        required=False,
        help_text="Data-residency regions whose data may reach a model deployed here (a dataset's "
        "residency_region); empty: anywhere. The lineage gate check enforces it.",
    )

    class Meta:
        model = Environment
        fields = ["id", "slug", "name", "description", "rank", "allowed_regions", "created_by", "created_at"]
        read_only_fields = ["id", "created_by", "created_at"]
        validators: list[Any] = []  # uniqueness is the action's, with a message naming the slug
        extra_kwargs: dict[str, Any] = {"slug": {"validators": []}}


# --- Boards -------------------------------------------------------------------------------------------------------


class BoardMemberSerializer(StrictModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.filter(is_active=True))
    board: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(read_only=True)
    board_role = serializers.ChoiceField(choices=BoardRole.choices)
    added_by = username_field()

    class Meta:
        model = BoardMember
        fields = ["id", "board", "user", "board_role", "added_by", "added_at"]
        read_only_fields = ["id", "board", "added_by", "added_at"]
        validators: list[Any] = []


class BoardSerializer(StrictModelSerializer):
    team = team_field()
    members = BoardMemberSerializer(many=True, read_only=True)
    created_by = username_field()

    class Meta:
        model = ReviewBoard
        fields = ["id", "team", "slug", "name", "description", "members", "created_by", "created_at"]
        read_only_fields = ["id", "members", "created_by", "created_at"]
        validators: list[Any] = []


# --- Policies -----------------------------------------------------------------------------------------------------


class PolicyVersionSerializer(StrictModelSerializer):
    """One version of a policy's rules. POST writes the next version (``policy`` and ``number`` are the server's)."""

    policy: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(read_only=True)
    required_roles = serializers.JSONField(help_text='Board role -> number of distinct people, e.g. {"legal": 1}.')
    required_checks = serializers.JSONField(required=False, help_text="Names of gate checks that must pass.")
    audit_requirements = serializers.JSONField(
        required=False,
        help_text='Audit kind -> {"max_age_days": 1..3650 (default 180), "thresholds": {name: value}}: the audits the '
        "gate check audits_passed requires (docs/audits.md).",
    )
    decision_records = serializers.ChoiceField(
        choices=DecisionRecords.choices,
        required=False,
        help_text="When the inference service records a decision with its reasons: on_request (explain: true) or "
        "always (every decision, durable before the answer).",
    )
    created_by = username_field()

    class Meta:
        model = ReleasePolicyVersion
        fields = [
            "id",
            "policy",
            "number",
            "required_roles",
            "min_total",
            "approval_valid_days",
            "required_checks",
            "audit_requirements",
            "decision_records",
            "note",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "policy", "number", "created_by", "created_at"]
        # Range checks are the action's (governance.actions.policies.clean_rules), with one message per rule.
        extra_kwargs = {"min_total": {"min_value": None, "max_value": None}}


class PolicySerializer(StrictModelSerializer):
    team = team_field()
    environment = serializers.SlugRelatedField(slug_field="slug", queryset=Environment.objects.all())
    board: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        queryset=ReviewBoard.objects.all()
    )
    # All tiers, as the registry's use cases list them (one enum in the schema); the action refuses "prohibited".
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices)
    current_version = serializers.SerializerMethodField()
    created_by = username_field()

    class Meta:
        model = ReleasePolicy
        fields = [
            "id",
            "team",
            "name",
            "environment",
            "risk_tier",
            "board",
            "current_version",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "current_version", "created_by", "created_at"]
        validators: list[Any] = []

    @extend_schema_field(PolicyVersionSerializer(allow_null=True))
    def get_current_version(self, policy: ReleasePolicy) -> Any:
        versions = getattr(policy, "ordered_versions", None)
        latest = versions[0] if versions else policy.versions.order_by("-number").first()
        return None if latest is None else PolicyVersionSerializer(latest).data


class PolicyCreateSerializer(PolicySerializer):
    """A new policy and its version 1: the scope (team, environment, risk tier, board) and the first rules."""

    required_roles = serializers.JSONField(write_only=True)
    min_total = serializers.IntegerField(write_only=True)
    approval_valid_days = serializers.IntegerField(write_only=True)
    required_checks = serializers.JSONField(write_only=True, required=False)
    audit_requirements = serializers.JSONField(write_only=True, required=False)
    decision_records = serializers.ChoiceField(choices=DecisionRecords.choices, write_only=True, required=False)
    note = serializers.CharField(write_only=True, required=False, allow_blank=True)

    class Meta(PolicySerializer.Meta):
        fields = [
            *PolicySerializer.Meta.fields,
            "required_roles",
            "min_total",
            "approval_valid_days",
            "required_checks",
            "audit_requirements",
            "decision_records",
            "note",
        ]


# --- Signing keys -------------------------------------------------------------------------------------------------


class SigningKeySerializer(StrictModelSerializer):
    """A public signing key. The sealed private half of a web-signing key is never served."""

    owner = username_field()
    revoked_by = username_field(allow_null=True)
    # Text in the schema: a "kind" enum would collide with the jobs' (drf-spectacular names enums by field).
    kind = serializers.CharField(read_only=True, help_text="client (key held by the reviewer) or server (web signing).")

    class Meta:
        model = SigningKey
        fields = [
            "id",
            "owner",
            "name",
            "kind",
            "fingerprint",
            "public_key",
            "created_at",
            "revoked_at",
            "revoked_by",
            "revocation_reason",
        ]
        read_only_fields = fields


class SigningKeyCreateSerializer(StrictSerializer):
    public_key = serializers.CharField(
        trim_whitespace=False,
        help_text="An Ed25519 public key: PEM (-----BEGIN PUBLIC KEY-----) or an OpenSSH ssh-ed25519 line.",
    )
    name = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")


class ReasonSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=4000)


# --- Releases -----------------------------------------------------------------------------------------------------


class ReleaseSerializer(StrictModelSerializer):
    team = serializers.CharField(source="model_version.model.team.slug", read_only=True)
    model = serializers.IntegerField(source="model_version.model_id", read_only=True)
    model_name = serializers.CharField(source="model_version.model.name", read_only=True)
    model_version: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(read_only=True)
    version_number = serializers.IntegerField(source="model_version.number", read_only=True)
    environment: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    policy = serializers.SerializerMethodField()
    requested_by = username_field()
    withdrawn_by = username_field(allow_null=True)
    status = serializers.CharField(read_only=True, help_text="open, deployed or withdrawn (approval is computed).")

    class Meta:
        model = Release
        fields = [
            "id",
            "uid",
            "team",
            "model",
            "model_name",
            "model_version",
            "version_number",
            "environment",
            "policy",
            "requested_by",
            "requested_at",
            "justification",
            "manifest_digest",
            "status",
            "withdrawn_at",
            "withdrawn_by",
            "withdrawal_reason",
        ]
        read_only_fields = fields

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "version": {"type": "integer"},
                "board": {"type": "integer"},
            },
        }
    )
    def get_policy(self, release: Release) -> dict[str, Any]:
        version = release.policy_version
        return {
            "id": version.policy_id,
            "name": version.policy.name,
            "version": version.number,
            "board": version.policy.board_id,
        }


class ReleaseCreateSerializer(StrictSerializer):
    model_version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all())
    environment = serializers.SlugRelatedField(slug_field="slug", queryset=Environment.objects.all())
    justification = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)


class ApprovalSerializer(StrictModelSerializer):
    """A signed decision as received: the envelope verbatim, and whether it counts now (and why not)."""

    signer = serializers.CharField(source="signer_name", read_only=True)
    key = serializers.CharField(source="key.fingerprint", read_only=True)
    counts = serializers.SerializerMethodField()
    reasons = serializers.SerializerMethodField()

    class Meta:
        model = Approval
        fields = [
            "id",
            "release",
            "signer",
            "board_role",
            "decision",
            "comment",
            "manifest_digest",
            "key",
            "signed_via",
            "received_at",
            "claimed_signed_at",
            "counts",
            "reasons",
            "envelope",
        ]
        read_only_fields = fields

    def _state(self, approval: Approval) -> Any:
        return self.context.get("states", {}).get(approval.pk)

    def get_counts(self, approval: Approval) -> bool | None:
        state = self._state(approval)
        return None if state is None else bool(state.counts)

    def get_reasons(self, approval: Approval) -> list[str]:
        state = self._state(approval)
        return [] if state is None else list(state.reasons)


class ApprovalCreateSerializer(StrictSerializer):
    envelope = serializers.JSONField(help_text="The DSSE envelope: {payload, payloadType, signatures: [{keyid, sig}]}.")


class ManifestSerializer(serializers.Serializer[Any]):
    manifest = serializers.JSONField()
    manifest_digest = serializers.CharField()
    artifact = serializers.JSONField()
    subject_name = serializers.CharField()
    release = serializers.CharField(help_text="The release's uid, as signed statements name it.")
