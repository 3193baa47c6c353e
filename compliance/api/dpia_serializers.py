"""Serializers of the DPIA API: what a DPIA and its versions read like, and the strict input of each write."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from compliance.dpia import is_expired, reclassified_since
from compliance.dpia_rules import TEXT_SECTIONS
from compliance.models import ColumnReclassification, Dpia, DpiaTransition, DpiaVersion
from core.api.base import StrictModelSerializer, StrictSerializer
from registry.choices import LegalBasis
from registry.models import Dataset, RegisteredModel, UseCase

MAX_TEXT = 20_000


def username_field(**kwargs: Any) -> serializers.SlugRelatedField[Any]:
    return serializers.SlugRelatedField(slug_field="username", read_only=True, **kwargs)


STATUS_HELP = "draft, submitted, approved or returned"


def status_field() -> serializers.CharField:
    # Text rather than an enum: "status" names other choice sets in the schema (jobs, releases).
    return serializers.CharField(read_only=True, help_text=STATUS_HELP)


class DpiaTransitionSerializer(StrictModelSerializer):
    actor = serializers.CharField(source="actor_name", read_only=True)
    from_status = status_field()
    to_status = status_field()

    class Meta:
        model = DpiaTransition
        fields = ["from_status", "to_status", "actor", "comment", "at"]
        read_only_fields = fields


class DpiaVersionSerializer(StrictModelSerializer):
    """One version in full: the screening, the assessment, its workflow moves, and what was reclassified in its
    datasets since it was written."""

    status = status_field()
    created_by = username_field(allow_null=True)
    transitions = DpiaTransitionSerializer(many=True, read_only=True)
    expired = serializers.SerializerMethodField()
    reclassified_since = serializers.SerializerMethodField()

    class Meta:
        model = DpiaVersion
        fields = [
            "id",
            "number",
            "status",
            "digest",
            "review_date",
            "expired",
            "model",
            "datasets",
            "screening",
            "full_dpia_required",
            "screening_reason",
            "screened_at",
            *TEXT_SECTIONS,
            "legal_basis",
            "data_categories",
            "transfers",
            "risks",
            "prior_consultation_required",
            "created_at",
            "created_by",
            "transitions",
            "reclassified_since",
        ]
        read_only_fields = fields

    def get_expired(self, version: DpiaVersion) -> bool:
        return is_expired(version, timezone.localdate())

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_reclassified_since(self, version: DpiaVersion) -> list[dict[str, Any]]:
        return reclassified_since(version)


class DpiaVersionSummarySerializer(StrictModelSerializer):
    status = status_field()

    class Meta:
        model = DpiaVersion
        fields = ["id", "number", "status", "digest", "review_date", "created_at"]
        read_only_fields = fields


class DpiaSerializer(StrictModelSerializer):
    """A use case's DPIA: its versions (newest first) and the newest in full as ``latest``."""

    team = serializers.CharField(source="use_case.team.slug", read_only=True)
    use_case_name = serializers.CharField(source="use_case.name", read_only=True)
    created_by = username_field(allow_null=True)
    versions = serializers.SerializerMethodField()
    latest = serializers.SerializerMethodField()

    class Meta:
        model = Dpia
        fields = ["id", "team", "use_case", "use_case_name", "created_at", "created_by", "versions", "latest"]
        read_only_fields = fields

    def ordered(self, dpia: Dpia) -> list[DpiaVersion]:
        return sorted(dpia.versions.all(), key=lambda version: -version.number)

    @extend_schema_field(DpiaVersionSummarySerializer(many=True))
    def get_versions(self, dpia: Dpia) -> list[Any]:
        return list(DpiaVersionSummarySerializer(self.ordered(dpia), many=True).data)

    @extend_schema_field(DpiaVersionSerializer)
    def get_latest(self, dpia: Dpia) -> Any:
        versions = self.ordered(dpia)
        return DpiaVersionSerializer(versions[0]).data if versions else None


def text_field() -> serializers.CharField:
    return serializers.CharField(required=False, allow_blank=True, max_length=MAX_TEXT, trim_whitespace=False)


class DpiaEditSerializer(StrictSerializer):
    """What a draft's author writes; every field optional. ``data_categories`` and ``transfers`` are read from the
    datasets, never written."""

    model = serializers.PrimaryKeyRelatedField(queryset=RegisteredModel.objects.none(), required=False, allow_null=True)
    datasets = serializers.PrimaryKeyRelatedField(
        queryset=Dataset.objects.none(), many=True, required=False, allow_empty=True
    )
    processing_description = text_field()
    purposes = text_field()
    data_subjects = text_field()
    recipients = text_field()
    retention = text_field()
    necessity = text_field()
    proportionality = text_field()
    dpo_advice = text_field()
    legal_basis = serializers.ChoiceField(choices=LegalBasis.choices, required=False, allow_blank=True)
    risks = serializers.JSONField(
        required=False,
        help_text="A list of {title, description, likelihood, severity, mitigations, residual_likelihood, "
        "residual_severity}: likelihood remote|possible|probable, severity minimal|significant|severe.",
    )
    review_date = serializers.DateField(required=False, allow_null=True)

    def restrict_to(self, user: Any) -> None:
        fields: dict[str, Any] = dict(self.fields)
        fields["model"].queryset = RegisteredModel.objects.restrict(user)
        fields["datasets"].child_relation.queryset = Dataset.objects.restrict(user)


class DpiaCreateSerializer(DpiaEditSerializer):
    use_case = serializers.PrimaryKeyRelatedField(queryset=UseCase.objects.none())

    def restrict_to(self, user: Any) -> None:
        super().restrict_to(user)
        field: Any = self.fields["use_case"]
        field.queryset = UseCase.objects.restrict(user)


class DpiaScreenSerializer(StrictSerializer):
    criteria = serializers.JSONField(
        help_text="Each of the nine criteria (evaluation_scoring, automated_decision, systematic_monitoring, "
        "sensitive_data, large_scale, matching_datasets, vulnerable_subjects, innovative_technology, "
        "prevents_rights) as {answer: true|false, note: text}."
    )


class DpiaCommentSerializer(StrictSerializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")


class ColumnReclassificationSerializer(StrictModelSerializer):
    dataset_name = serializers.CharField(source="dataset.name", read_only=True)
    team = serializers.CharField(source="dataset.team.slug", read_only=True)
    created_by = username_field(allow_null=True)

    class Meta:
        model = ColumnReclassification
        fields = [
            "id",
            "team",
            "dataset",
            "dataset_name",
            "column",
            "before",
            "after",
            "reason",
            "created_at",
            "created_by",
        ]
        read_only_fields = fields


class ColumnReclassificationCreateSerializer(StrictSerializer):
    dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.none())
    column = serializers.CharField(max_length=256)
    flags = serializers.JSONField(
        help_text="Some of personal_data, special_category, protected_attribute, prohibited_input, each true|false."
    )
    reason = serializers.CharField(max_length=4000)

    def restrict_to(self, user: Any) -> None:
        field: Any = self.fields["dataset"]
        field.queryset = Dataset.objects.restrict(user)
