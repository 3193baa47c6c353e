"""Serializers of the legal holds API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from compliance.models import LegalHold, LegalHoldEvent
from core.api.base import StrictSerializer
from core.models import Team


class LegalHoldEventSerializer(serializers.ModelSerializer[Any]):
    class Meta:
        model = LegalHoldEvent
        fields = ["action", "from_status", "to_status", "note", "actor_name", "occurred_at"]
        read_only_fields = fields


class LegalHoldSerializer(serializers.ModelSerializer[Any]):
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    placed_by = serializers.CharField(source="placed_by.username", read_only=True)
    covers = serializers.CharField(source="scope_label", read_only=True)
    events = LegalHoldEventSerializer(many=True, read_only=True)

    class Meta:
        model = LegalHold
        fields = [
            "id",
            "team",
            "scope",
            "covers",
            "dataset",
            "model",
            "use_case",
            "subject_identifier",
            "case_reference",
            "reason",
            "status",
            "placed_by",
            "placed_at",
            "events",
        ]
        read_only_fields = fields


class LegalHoldCreateSerializer(StrictSerializer):
    """A hold on one scope of a team's records: ``dataset``, ``model`` or ``use_case`` (an id of that team) for
    those scopes, ``subject_identifier`` for ``subject``, nothing more for ``team``."""

    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all()
    )
    scope = serializers.CharField(max_length=16)
    dataset = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    model = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    use_case = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    subject_identifier = serializers.CharField(required=False, allow_blank=True, default="", max_length=256)
    case_reference = serializers.CharField(max_length=128)
    reason = serializers.CharField(max_length=10_000)


class HoldStepSerializer(StrictSerializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)
