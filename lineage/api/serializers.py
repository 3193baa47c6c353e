"""What the lineage API reads and answers (documentation of shapes; events themselves are validated by
lineage.events against the OpenLineage spec, not by a serializer)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.api.base import StrictModelSerializer, StrictSerializer
from lineage.models import Namespace


class EventErrorSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    field = serializers.CharField(help_text="Where in the event: run.runId, inputs[3].name ('' for the whole event).")
    message = serializers.CharField()


class EventResultSerializer(serializers.Serializer[Any]):
    index = serializers.IntegerField(help_text="The event's position in the batch, from 0.")
    status = serializers.ChoiceField(choices=["stored", "duplicate", "refused"])
    digest = serializers.CharField(required=False, help_text="SHA-256 of the event's canonical JSON (RFC 8785).")
    error = EventErrorSerializer(required=False)


class SingleResultSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=["stored", "duplicate"])
    digest = serializers.CharField()


class BatchReportSerializer(serializers.Serializer[Any]):
    received = serializers.IntegerField()
    stored = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    refused = serializers.IntegerField()
    results = EventResultSerializer(many=True)


class NamespaceSerializer(StrictModelSerializer):
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    claimed_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Namespace
        fields = ["id", "name", "team", "first_seen_at", "claimed_at", "claimed_by"]
        read_only_fields = fields


class AssignmentSerializer(StrictSerializer):
    team = serializers.SlugField(help_text="The slug of the team the namespace is given to.")
