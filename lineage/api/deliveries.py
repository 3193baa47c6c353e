"""``GET /api/v1/lineage/deliveries/``: the outbox of events forwarded to the external OpenLineage backend, so that a
delay is visible (pending since, attempts, last error, delivered at). Read only; a team's deliveries are seen by
its members, those of team-less jobs by platform admins."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated

from core.api.base import ReadOnlyRestrictedViewSet
from lineage.filtersets import LineageDeliveryFilterSet
from lineage.models import LineageDelivery


class LineageDeliverySerializer(serializers.ModelSerializer[Any]):
    job = serializers.UUIDField(source="job.public_id", read_only=True, allow_null=True)
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    pending_since = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = LineageDelivery
        fields = [
            "id",
            "job",
            "team",
            "run_id",
            "event_type",
            "target",
            "state",
            "pending_since",
            "attempts",
            "last_attempt_at",
            "last_error",
            "next_attempt_at",
            "delivered_at",
        ]
        read_only_fields = fields


class LineageDeliveryDetailSerializer(LineageDeliverySerializer):
    class Meta(LineageDeliverySerializer.Meta):
        fields = [*LineageDeliverySerializer.Meta.fields, "payload"]
        read_only_fields = fields


class LineageDeliveryViewSet(ReadOnlyRestrictedViewSet):
    """Events owed to the external OpenLineage backend (OPENLINEAGE_URL or openlineage.yml) and whether each
    arrived: pending ones show since when, how many attempts failed, the last error and the next try."""

    queryset = LineageDelivery.objects.select_related("job", "team")
    serializer_class = LineageDeliverySerializer
    permission_classes = [IsAuthenticated]
    filterset_class = LineageDeliveryFilterSet
    ordering_fields = ["created_at", "delivered_at", "attempts"]

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return LineageDeliveryDetailSerializer if self.action == "retrieve" else LineageDeliverySerializer
