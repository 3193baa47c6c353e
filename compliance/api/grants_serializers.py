"""Serializers of the data access grants API (docs/grants.md)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from compliance.choices import GrantSide
from compliance.models import DataAccessGrant, DataAccessGrantDecision
from core.api.base import StrictSerializer
from core.models import Team
from registry.models import Dataset


class CatalogueEntrySerializer(serializers.ModelSerializer[Any]):
    """A dataset as the catalogue shows it to any signed-in user: its id, name, owning team and classification,
    nothing of its content."""

    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Dataset
        fields = ["id", "name", "team", "classification"]
        read_only_fields = fields


class GrantDecisionSerializer(serializers.ModelSerializer[Any]):
    decided_by = serializers.CharField(source="decided_by.username", read_only=True)

    class Meta:
        model = DataAccessGrantDecision
        fields = ["side", "decision", "comment", "decided_by", "decided_at"]
        read_only_fields = fields


class DataAccessGrantSerializer(serializers.ModelSerializer[Any]):
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    owner_team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    dataset_name = serializers.CharField(source="dataset.name", read_only=True)
    use_case_name = serializers.CharField(source="use_case.name", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    covers = serializers.SerializerMethodField()
    decisions = GrantDecisionSerializer(many=True, read_only=True)

    class Meta:
        model = DataAccessGrant
        fields = [
            "id",
            "team",
            "owner_team",
            "dataset",
            "dataset_name",
            "use_case",
            "use_case_name",
            "purpose",
            "expires_at",
            "status",
            "covers",
            "requested_by",
            "requested_at",
            "decided_at",
            "decisions",
        ]
        read_only_fields = fields

    def get_covers(self, grant: DataAccessGrant) -> bool:
        """Whether it covers use now: approved by both sides and unexpired."""
        now = self.context.get("now")
        return bool(grant.status == "approved" and (now is None or grant.expires_at > now))


class DataAccessGrantCreateSerializer(StrictSerializer):
    """A request: ``team`` (slug, the requesting team), ``dataset`` (an id from the catalogue, another team's),
    ``use_case`` (an id of the requesting team's), ``purpose`` and ``expires_at``."""

    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all()
    )
    dataset = serializers.IntegerField(min_value=1)
    use_case = serializers.IntegerField(min_value=1)
    purpose = serializers.CharField(max_length=4000)
    expires_at = serializers.DateTimeField()


class GrantDecideSerializer(StrictSerializer):
    side = serializers.ChoiceField(choices=GrantSide.choices)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)


class GrantReasonSerializer(StrictSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)
