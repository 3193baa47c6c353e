from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.base import StrictModelSerializer, StrictSerializer
from core.models import Team
from registry.choices import VersionStatus
from registry.editable import DATASET_FIELDS, FEATURE_VIEW_FIELDS, MODEL_FIELDS, USE_CASE_FIELDS
from registry.models import (
    Dataset,
    DatasetVersion,
    FeatureSetVersion,
    FeatureView,
    KpiObservation,
    ModelVersion,
    ModelVersionTransition,
    RegisteredModel,
    UseCase,
)
from registry.models.registered_models import load_links, version_links
from registry.purges import purge_notice

User = get_user_model()


@extend_schema_field(
    {
        "type": "string",
        "pattern": "^(" + "|".join(VersionStatus.values) + ")$",
        "description": "Lifecycle status: " + ", ".join(VersionStatus.values) + ".",
    }
)
class VersionStatusField(serializers.ChoiceField):
    """A lifecycle status. Described by a pattern, not an ``enum``, in the OpenAPI schema: drf-spectacular names
    enums after the field, and jobs already own ``status`` (settings.ENUM_NAME_OVERRIDES would be the cleaner fix).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=VersionStatus.choices, **kwargs)


def team_field() -> serializers.SlugRelatedField[Any]:
    # Views narrow the queryset to the teams the caller may write to.
    return serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())


def user_field(**kwargs: Any) -> serializers.SlugRelatedField[Any]:
    return serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all(), **kwargs)


def created_by_field() -> serializers.SlugRelatedField[Any]:
    return serializers.SlugRelatedField(slug_field="username", read_only=True)


# --- Use cases ----------------------------------------------------------------------------------------------------


class UseCaseSerializer(StrictModelSerializer):
    team = team_field()
    owner = user_field()
    created_by = created_by_field()

    class Meta:
        model = UseCase
        fields = ["id", "team", *USE_CASE_FIELDS, "created_by", "created_at", "updated_at"]
        read_only_fields = ["id", "created_by", "created_at", "updated_at"]
        # Uniqueness is decided by the action on the name's key, with a message naming the clash.
        validators: list[Any] = []


class UseCaseUpdateSerializer(UseCaseSerializer):
    class Meta(UseCaseSerializer.Meta):
        read_only_fields = ["id", "team", "created_by", "created_at", "updated_at"]


class KpiObservationSerializer(StrictModelSerializer):
    recorded_by = created_by_field()

    class Meta:
        model = KpiObservation
        fields = ["id", "use_case", "kpi", "value", "observed_at", "note", "recorded_by", "recorded_at"]
        read_only_fields = ["id", "use_case", "recorded_by", "recorded_at"]


# --- Datasets -----------------------------------------------------------------------------------------------------


class DatasetSerializer(StrictModelSerializer):
    team = team_field()
    owner = user_field()
    created_by = created_by_field()
    latest_version = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Dataset
        fields = ["id", "team", *DATASET_FIELDS, "latest_version", "created_by", "created_at", "updated_at"]
        read_only_fields = ["id", "created_by", "created_at", "updated_at"]
        validators: list[Any] = []


class DatasetUpdateSerializer(DatasetSerializer):
    class Meta(DatasetSerializer.Meta):
        read_only_fields = ["id", "team", "created_by", "created_at", "updated_at"]


class DatasetVersionSerializer(StrictModelSerializer):
    dataset: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(read_only=True)
    # The job whose first read pinned the files' digest (its public id), if a job has read the data yet.
    files_digest_job = serializers.UUIDField(
        source="files_digest_job.public_id", read_only=True, allow_null=True, default=None
    )
    created_by = created_by_field()

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "dataset",
            "number",
            "schema",
            "schema_fingerprint",
            "content_fingerprint",
            "fingerprint_source",
            "row_count",
            "evolution",
            "breaking_change",
            "description",
            "files_digest",
            "files_digest_at",
            "files_digest_job",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class DatasetVersionCreateSerializer(StrictSerializer):
    """A new dataset version. ``schema`` is ``{"columns": [...]}`` (docs/registry.md); ``allow_breaking_change``
    must be true to register a schema that breaks readers of the previous version."""

    schema = serializers.JSONField()
    content_fingerprint = serializers.CharField(max_length=64)
    row_count = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    allow_breaking_change = serializers.BooleanField(required=False, default=False)


# --- Registered models --------------------------------------------------------------------------------------------


class RegisteredModelSerializer(StrictModelSerializer):
    team = team_field()
    owner = user_field()
    use_case = serializers.PrimaryKeyRelatedField(queryset=UseCase.objects.all(), allow_null=True, required=False)
    created_by = created_by_field()
    latest_version = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = RegisteredModel
        fields = ["id", "team", *MODEL_FIELDS, "latest_version", "created_by", "created_at", "updated_at"]
        read_only_fields = ["id", "created_by", "created_at", "updated_at"]
        validators: list[Any] = []


class RegisteredModelUpdateSerializer(RegisteredModelSerializer):
    class Meta(RegisteredModelSerializer.Meta):
        read_only_fields = ["id", "team", "created_by", "created_at", "updated_at"]


class ModelVersionTransitionSerializer(serializers.ModelSerializer[Any]):
    actor = serializers.CharField(source="actor_name", read_only=True)
    from_status = VersionStatusField(read_only=True)
    to_status = VersionStatusField(read_only=True)

    class Meta:
        model = ModelVersionTransition
        fields = ["from_status", "to_status", "reason", "actor", "occurred_at"]
        read_only_fields = fields


class _VersionLinks(serializers.Field):
    """One kind of a version's links, from ``version.links`` (registry.models.load_links: one query per kind for a
    whole page), read for this version alone when nobody loaded them."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, value: Any) -> list[Any]:
        if not hasattr(value, "links"):
            load_links([value])
        return list(value.links[self.field_name])


@extend_schema_field({"type": "array", "items": {"type": "integer"}, "readOnly": True})
class VersionLinkIds(_VersionLinks):
    pass


@extend_schema_field({"type": "array", "items": {"type": "string"}, "readOnly": True})
class VersionLinkNames(_VersionLinks):
    pass


class ModelVersionSerializer(serializers.ModelSerializer[Any]):
    model: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(read_only=True)
    model_name = serializers.CharField(source="model.name", read_only=True)
    team = serializers.CharField(source="model.team.slug", read_only=True)
    dataset_versions = VersionLinkIds(help_text="Dataset versions it was trained on, in the order given.")
    feature_set_versions = VersionLinkIds(help_text="Feature-set versions it was trained on, in the order given.")
    authors = VersionLinkNames(help_text="Usernames of its authors, in the order given.")
    status = VersionStatusField(read_only=True)
    # The training job that produced it (its public id, as /api/v1/jobs/ names jobs); null for an upload.
    job = serializers.UUIDField(source="job.public_id", read_only=True, allow_null=True, default=None)
    created_by = created_by_field()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "model",
            "model_name",
            "team",
            "number",
            "status",
            "artifact_sha256",
            "artifact_size",
            "artifact_filename",
            "interface",
            "training_params",
            "metrics",
            "description",
            "dataset_versions",
            "feature_set_versions",
            "authors",
            "job",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    # What a list shows of each version, field by column (the links come from version_links).
    LIST_COLUMNS: dict[str, str] = {
        "id": "id",
        "model": "model_id",
        "model_name": "model__name",
        "team": "model__team__slug",
        "number": "number",
        "status": "status",
        "artifact_sha256": "artifact_sha256",
        "artifact_size": "artifact_size",
        "artifact_filename": "artifact_filename",
        "interface": "interface",
        "training_params": "training_params",
        "metrics": "metrics",
        "description": "description",
        "job": "job__public_id",
        "created_by": "created_by__username",
        "created_at": "created_at",
    }

    @classmethod
    def page(cls, keys: list[int]) -> list[dict[str, Any]]:
        """The representation of the versions with these keys, in this order, from one query for their columns
        and one for their links, without a model instance per row (half the cost of a page of fifty). Only for keys
        out of a permission-restricted query; the same as ``to_representation`` gives (tested)."""
        created_at = serializers.DateTimeField()
        columns = list(cls.LIST_COLUMNS.values())
        rows = {row[0]: row for row in ModelVersion.objects.filter(pk__in=keys).values_list(*columns)}
        links = version_links(keys)
        page = []
        for key in keys:
            shown = dict(zip(cls.LIST_COLUMNS, rows[key], strict=True))
            shown["created_at"] = created_at.to_representation(shown["created_at"])
            shown["job"] = str(shown["job"]) if shown["job"] is not None else None
            shown.update(links[key])
            page.append({name: shown[name] for name in cls.Meta.fields})
        return page

    def to_representation(self, instance: Any) -> dict[str, Any]:
        """What DRF's field-by-field walk returns (the fields above still describe the API and its OpenAPI schema;
        tests/registry/test_api_inputs.py checks both give the same), built directly: on a page of fifty versions
        the walk cost more than all the page's queries."""
        version = instance
        model = version.model
        if not hasattr(version, "links"):
            load_links([version])
        links = version.links
        return {
            "id": version.pk,
            "model": version.model_id,
            "model_name": model.name,
            "team": model.team.slug,
            "number": version.number,
            "status": version.status,
            "artifact_sha256": version.artifact_sha256,
            "artifact_size": version.artifact_size,
            "artifact_filename": version.artifact_filename,
            "interface": version.interface,
            "training_params": version.training_params,
            "metrics": version.metrics,
            "description": version.description,
            "dataset_versions": list(links["dataset_versions"]),
            "feature_set_versions": list(links["feature_set_versions"]),
            "authors": list(links["authors"]),
            "job": str(version.job.public_id) if version.job_id is not None else None,
            "created_by": version.created_by.username if version.created_by_id is not None else None,
            "created_at": self.fields["created_at"].to_representation(version.created_at),
        }


class ModelVersionDetailSerializer(ModelVersionSerializer):
    transitions = ModelVersionTransitionSerializer(many=True, read_only=True)
    purged = serializers.CharField(
        read_only=True, allow_null=True, help_text='null while the artifact is stored, else "purged under ... on D"'
    )

    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "transitions", "purged"]
        read_only_fields = fields

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["transitions"] = self.fields["transitions"].to_representation(instance.transitions)
        data["purged"] = purge_notice(instance)
        return data


class ModelVersionUploadSerializer(StrictSerializer):
    """``multipart/form-data``: the ONNX ``file``, and JSON text for ``training_params`` and ``metrics``.

    ``dataset_versions`` (ids) and ``authors`` (usernames) may repeat; authors default to the uploader.
    """

    file = serializers.FileField(allow_empty_file=True, use_url=False)
    training_params = serializers.JSONField(binary=True, required=False, default=dict)
    metrics = serializers.JSONField(binary=True, required=False, default=dict)
    dataset_versions = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, default=list)
    feature_set_versions = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, default=list
    )
    authors = serializers.ListField(child=serializers.CharField(max_length=150), required=False)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class TransitionRequestSerializer(StrictSerializer):
    to_status = VersionStatusField()
    reason = serializers.CharField(max_length=4000)


# --- Feature views ------------------------------------------------------------------------------------------------


class FeatureViewSerializer(StrictModelSerializer):
    """``features``: ``[{"name", "definition", "aggregation", "window", "description"}]`` (docs/registry.md)."""

    team = team_field()
    owner = user_field()
    source_dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all())
    created_by = created_by_field()
    latest_version = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = FeatureView
        fields = ["id", "team", *FEATURE_VIEW_FIELDS, "latest_version", "created_by", "created_at", "updated_at"]
        read_only_fields = ["id", "created_by", "created_at", "updated_at"]
        validators: list[Any] = []


class FeatureViewUpdateSerializer(FeatureViewSerializer):
    class Meta(FeatureViewSerializer.Meta):
        read_only_fields = ["id", "team", "created_by", "created_at", "updated_at"]


class FeatureSetVersionSerializer(serializers.ModelSerializer[Any]):
    feature_view: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(read_only=True)
    dataset_versions: Any = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    # The materialization job that wrote it (its public id, as /api/v1/jobs/ names jobs), if a job did.
    job = serializers.UUIDField(source="job.public_id", read_only=True, allow_null=True, default=None)
    created_by = created_by_field()

    class Meta:
        model = FeatureSetVersion
        fields = [
            "id",
            "feature_view",
            "number",
            "features",
            "dataset_versions",
            "fingerprint",
            "statistics",
            "job",
            "row_count",
            "output_fingerprint",
            "storage_location",
            "description",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class FeatureSetVersionCreateSerializer(StrictSerializer):
    dataset_versions = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=False)
    statistics = serializers.JSONField(required=False, default=dict)
    description = serializers.CharField(required=False, allow_blank=True, default="")
