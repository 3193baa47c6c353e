"""Serializers of data-subject requests (docs/subject-requests.md)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from compliance.models import (
    DatasetFilesErasure,
    SubjectErasure,
    SubjectRequest,
    SubjectRequestKind,
    SubjectRequestTransition,
    SubjectSearch,
)
from compliance.models.subjects import MAX_IDENTIFIER_LENGTH
from compliance.subjects import IdentifierRefused, check_identifier
from core.api.base import StrictModelSerializer, StrictSerializer
from core.api.inputs import InputRefused, check_datetime
from core.api.serializers import IdempotencyKeyField
from core.models import Team


def bounded(value: Any) -> Any:
    try:
        return check_datetime(value)
    except InputRefused as refused:
        raise serializers.ValidationError(refused.explained) from None


class IdentifierField(serializers.CharField):
    """Text only: a number sent as an identifier (``42``) is refused rather than read as "42", since an integer
    column and a text column compare differently."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a string.")
        return str(super().to_internal_value(data))


class SubjectRequestTransitionSerializer(serializers.ModelSerializer[Any]):
    actor = serializers.CharField(source="actor_name", read_only=True)

    class Meta:
        model = SubjectRequestTransition
        fields = ["from_status", "to_status", "reason", "actor", "occurred_at"]
        read_only_fields = fields


class SubjectSearchSummarySerializer(serializers.ModelSerializer[Any]):
    job = serializers.UUIDField(source="job.public_id", read_only=True)

    class Meta:
        model = SubjectSearch
        fields = ["id", "job", "hit_count", "row_count", "digest", "created_at"]
        read_only_fields = fields


class SubjectRequestSerializer(StrictModelSerializer):
    """A request as read, and the body that records one (``team``, ``kind``, ``subject_identifier``, ``asked_by``,
    optional ``received_at`` and ``due_at``)."""

    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all()
    )
    kind = serializers.ChoiceField(choices=SubjectRequestKind.choices)
    subject_identifier = IdentifierField(
        max_length=MAX_IDENTIFIER_LENGTH,
        trim_whitespace=False,
        allow_blank=True,
        help_text="The identifier as the subject gave it (matched exactly against subject-identifier columns).",
    )
    asked_by = serializers.CharField(max_length=200, help_text="Who asked: the data subject, or who acts for them.")
    received_at = serializers.DateTimeField(required=False, help_text="Defaults to now.")
    due_at = serializers.DateTimeField(required=False, help_text="Defaults to one month after receipt.")
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = SubjectRequest
        fields = [
            "id",
            "public_id",
            "team",
            "kind",
            "subject_identifier",
            "subject_digest",
            "asked_by",
            "received_at",
            "due_at",
            "overdue",
            "status",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "public_id", "subject_digest", "status", "created_by", "created_at"]

    def get_overdue(self, obj: SubjectRequest) -> bool:
        return obj.status in ("received", "reported") and obj.due_at < timezone.now()

    def validate_subject_identifier(self, value: str) -> str:
        try:
            return check_identifier(value)
        except IdentifierRefused as refused:
            raise serializers.ValidationError(refused.message) from None

    def validate_received_at(self, value: Any) -> Any:
        return bounded(value)

    def validate_due_at(self, value: Any) -> Any:
        return bounded(value)


class SubjectRequestDetailSerializer(SubjectRequestSerializer):
    transitions = SubjectRequestTransitionSerializer(many=True, read_only=True)
    searches = SubjectSearchSummarySerializer(many=True, read_only=True)
    erasures: Any = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta(SubjectRequestSerializer.Meta):
        fields = [*SubjectRequestSerializer.Meta.fields, "transitions", "searches", "erasures"]


class SubjectSearchSerializer(serializers.ModelSerializer[Any]):
    """The full report of one search: every hit (record kind, object, files and rows) and what was not searched."""

    job = serializers.UUIDField(source="job.public_id", read_only=True)
    hits = serializers.ListField(child=serializers.DictField(), read_only=True)
    unsearched = serializers.ListField(child=serializers.DictField(), read_only=True)

    class Meta:
        model = SubjectSearch
        fields = ["id", "request", "job", "hits", "unsearched", "hit_count", "row_count", "digest", "created_at"]
        read_only_fields = fields


class SubjectErasureSerializer(serializers.ModelSerializer[Any]):
    """What an erasure did (``done``) and kept, with why (``kept``)."""

    job = serializers.UUIDField(source="job.public_id", read_only=True)
    done = serializers.ListField(child=serializers.DictField(), read_only=True)
    kept = serializers.ListField(child=serializers.DictField(), read_only=True)

    class Meta:
        model = SubjectErasure
        fields = ["id", "request", "search", "job", "done", "kept", "rows_erased", "digest", "created_at"]
        read_only_fields = fields


class DatasetFilesErasureSerializer(serializers.ModelSerializer[Any]):
    request = serializers.UUIDField(source="request.public_id", read_only=True)
    files = serializers.ListField(child=serializers.ListField(), read_only=True)

    class Meta:
        model = DatasetFilesErasure
        fields = [
            "id",
            "request",
            "dataset_version",
            "rows_erased",
            "files_before",
            "files_after",
            "files",
            "erased_at",
        ]
        read_only_fields = fields


class SubjectJobRequestSerializer(StrictSerializer):
    idempotency_key = IdempotencyKeyField()


class CloseRequestSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000, help_text="Why the request is closed.")


class ExportSerializer(StrictSerializer):
    format = serializers.ChoiceField(choices=[("json", "JSON"), ("csv", "CSV")], default="json")
