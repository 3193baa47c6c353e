"""Serializers of the retention API: policies and their versions, tombstones, runs, manual deletions."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from compliance.models import Purge, RetentionPolicy, RetentionPolicyVersion
from core.api.base import StrictSerializer
from core.api.serializers import IdempotencyKeyField
from core.models import Team


class RetentionPolicyVersionSerializer(serializers.ModelSerializer[Any]):
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = RetentionPolicyVersion
        fields = [
            "id",
            "number",
            "keep_days",
            "counted_from",
            "on_expiry",
            "active",
            "note",
            "created_at",
            "created_by",
        ]
        read_only_fields = fields


class RetentionPolicySerializer(serializers.ModelSerializer[Any]):
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    versions = RetentionPolicyVersionSerializer(many=True, read_only=True)

    class Meta:
        model = RetentionPolicy
        fields = ["id", "team", "target_kind", "classification", "created_at", "created_by", "versions"]
        read_only_fields = fields


class RetentionPolicyCreateSerializer(StrictSerializer):
    """A policy with its first version. ``keep_days`` is checked by the action (1 to 36500), ``counted_from`` and
    ``on_expiry`` against what the target kind offers (GET retention/targets/)."""

    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all()
    )
    target_kind = serializers.CharField(max_length=48)
    classification = serializers.CharField(max_length=16)
    keep_days = serializers.IntegerField()
    counted_from = serializers.CharField(max_length=16)
    on_expiry = serializers.CharField(max_length=16, required=False, default="delete")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)


class RetentionPolicyChangeSerializer(StrictSerializer):
    """A new version: what is left out is kept from the current one; ``note`` says why."""

    keep_days = serializers.IntegerField(required=False)
    counted_from = serializers.CharField(max_length=16, required=False)
    on_expiry = serializers.CharField(max_length=16, required=False)
    active = serializers.BooleanField(required=False)
    note = serializers.CharField(max_length=10_000)


class PurgeSerializer(serializers.ModelSerializer[Any]):
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    policy = serializers.SerializerMethodField()
    job = serializers.UUIDField(source="job.public_id", read_only=True, allow_null=True, default=None)
    notice = serializers.CharField(read_only=True)

    class Meta:
        model = Purge
        fields = [
            "id",
            "team",
            "target_kind",
            "target_type",
            "target_id",
            "target_repr",
            "classification",
            "on_expiry",
            "digest",
            "size",
            "detail",
            "policy_version",
            "policy",
            "job",
            "actor_name",
            "reason",
            "state",
            "notice",
            "started_at",
            "completed_at",
        ]
        read_only_fields = fields

    def get_policy(self, purge: Purge) -> str:
        return str(purge.policy_version) if purge.policy_version_id else ""


class RetentionTargetSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.label
    description = serializers.CharField()
    counted_from = serializers.ListField(child=serializers.CharField())
    on_expiry = serializers.ListField(child=serializers.CharField())


class ExpiringSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField()
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    record = serializers.CharField()
    team_id = serializers.IntegerField()
    classification = serializers.CharField()
    policy = serializers.CharField()
    policy_version = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    held_by = serializers.CharField()


class RetentionRunSerializer(StrictSerializer):
    """``team``: a team's slug, or null for every team (platform administrators). ``dry_run``: list, delete nothing."""

    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), allow_null=True
    )
    dry_run = serializers.BooleanField()
    idempotency_key = IdempotencyKeyField()


class DeletionSerializer(StrictSerializer):
    """Why the bytes go (recorded on the tombstone and in the audit log)."""

    reason = serializers.CharField(max_length=10_000)
