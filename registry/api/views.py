"""The registry's REST API. Views validate input and call registry.actions; they never write models themselves.

Reads are restricted in SQL (``Model.objects.restrict(user, "view")``), so another team's objects are 404s. A
create names its team (or its parent object): a team the caller cannot see reads as absent, one they see but may not
write to is a 403, checked before the rest of the body is looked at.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from django.db.models import Exists, Max, OuterRef, Prefetch, QuerySet
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.http import content_disposition_header
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.actors import acting_user
from core.api.base import RestrictedViewSetMixin, StrictSerializer, TeamScopedCreateMixin
from core.api.parsers import JSONParser
from core.api.permissions import RestrictedObjectPermission
from core.api.serializers import IdempotencyKeyField, JobSerializer
from core.models import Job
from core.querysets import CHANGE, VIEW
from registry import actions, artifacts
from registry.api import serializers as s
from registry.filtersets import (
    DatasetFilterSet,
    DatasetVersionFilterSet,
    FeatureViewFilterSet,
    KpiObservationFilterSet,
    ModelVersionFilterSet,
    RegisteredModelFilterSet,
    UseCaseFilterSet,
)
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
from registry.purges import purge_notice
from registry.querysets import teams_for

logger = logging.getLogger(__name__)

WRITE_PERMISSIONS: list[Any] = [IsAuthenticated, RestrictedObjectPermission]


class ArtifactPurged(APIException):
    status_code = status.HTTP_410_GONE
    default_code = "artifact_purged"
    default_detail = "The artifact was purged; the version's record stays."


class ArtifactCorrupted(APIException):
    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_code = "artifact_corrupted"
    default_detail = "The stored artifact failed its integrity check and was not served; the event is recorded."


def _require_write(request: Request, obj: Any) -> None:
    if not type(obj)._default_manager.restrict(request.user, CHANGE).filter(pk=obj.pk).exists():
        raise PermissionDenied("You may see this, but not change it.")


class RegistryViewSet(
    TeamScopedCreateMixin,
    RestrictedViewSetMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet[Any],
):
    """List, detail, create and PATCH for a team-owned registry object."""

    permission_classes = WRITE_PERMISSIONS
    http_method_names = ["get", "post", "patch", "head", "options"]
    update_serializer_class: Any = None
    read_serializer_class: Any = None

    def get_serializer_class(self) -> Any:
        return self.update_serializer_class if self.action == "partial_update" else self.read_serializer_class

    team_writers = "engineers and admins"

    def writable_teams(self, action: str) -> QuerySet[Any]:
        return teams_for(self.request.user, action)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        super().partial_update(request, *args, **kwargs)
        return Response(self.read_serializer_class(self.get_object(), context=self.get_serializer_context()).data)


# --- Spark jobs (docs/spark-jobs.md) ------------------------------------------------------------------------------


class TrainingRequestSerializer(StrictSerializer):
    """POST /models/{id}/train/: a materialized feature-set version (its id), the label column, the algorithm."""

    feature_set_version = serializers.IntegerField(min_value=1)
    # Declared fields leave the class body (DRF's metaclass), so this does not shadow Field.label at run time.
    label = serializers.CharField(max_length=255)  # type: ignore[assignment]
    algorithm = serializers.CharField(max_length=64, help_text="logistic_regression or gbt")
    params = serializers.DictField(required=False, help_text="Hyper-parameters and job settings (docs/spark-jobs.md)")
    features = serializers.ListField(child=serializers.CharField(max_length=255), required=False, min_length=1)
    idempotency_key = IdempotencyKeyField()


class MaterializationRequestSerializer(StrictSerializer):
    """POST /feature-views/{id}/materialize/: the source dataset version (its id) and, optionally, the spine's."""

    dataset_version = serializers.IntegerField(min_value=1)
    spine_dataset_version = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    idempotency_key = IdempotencyKeyField()
    then_train = serializers.DictField(
        required=False,
        help_text='Train on the result once registered: {"model", "label", "algorithm", "params"?, "features"?}',
    )


def _job_response(requested: tuple[Job, bool]) -> Response:
    """202 with a new job; 200 with the first one when this user sent the same ``idempotency_key`` before."""
    job, created = requested
    return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


# --- Use cases ----------------------------------------------------------------------------------------------------


@extend_schema(responses=s.UseCaseSerializer)
class UseCaseViewSet(RegistryViewSet):
    """Use cases: why a model exists, its KPIs, expected ROI and EU AI Act risk tier."""

    queryset = UseCase.objects.select_related("team", "owner", "created_by")
    serializer_class = s.UseCaseSerializer
    read_serializer_class = s.UseCaseSerializer
    update_serializer_class = s.UseCaseUpdateSerializer
    filterset_class = UseCaseFilterSet
    ordering_fields = ["name", "created_at", "updated_at", "risk_tier"]

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        team = data.pop("team")
        serializer.instance = actions.do_create_use_case(team, actor=acting_user(self.request.user), **data)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = actions.do_update_use_case(
            serializer.instance, actor=acting_user(self.request.user), **serializer.validated_data
        )


class KpiObservationViewSet(
    RestrictedViewSetMixin, mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet[Any]
):
    """A use case's KPI observations over time (filter by ``kpi``, ``observed_after``, ``observed_before``); POST
    records one. Observations are facts: none is edited."""

    serializer_class = s.KpiObservationSerializer
    queryset = KpiObservation.objects.select_related("recorded_by").order_by("kpi", "observed_at", "id")
    filterset_class = KpiObservationFilterSet
    ordering_fields = ["observed_at", "recorded_at"]

    def parent(self) -> UseCase:
        queryset = UseCase.objects.restrict(self.request.user, VIEW).select_related("team")
        return get_object_or_404(queryset, pk=self.kwargs["use_case_pk"])

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return KpiObservation.objects.none()
        return super().get_queryset().filter(use_case_id=self.parent().pk)

    def create(self, request: Request, use_case_pk: str) -> Response:
        use_case = self.parent()
        _require_write(request, use_case)
        serializer = s.KpiObservationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        observation = actions.do_record_kpi_observation(
            use_case, actor=acting_user(request.user), **serializer.validated_data
        )
        return Response(s.KpiObservationSerializer(observation).data, status=status.HTTP_201_CREATED)


# --- Datasets -----------------------------------------------------------------------------------------------------


@extend_schema(responses=s.DatasetSerializer)
class DatasetViewSet(RegistryViewSet):
    """Datasets: where the data lives, its classification and legal basis. Versions are under ``versions/``."""

    queryset = (
        Dataset.objects.select_related("team", "owner", "created_by")
        .annotate(latest_version=Max("versions__number"))
        .order_by("team_id", "name")
    )  # an aggregate drops Meta.ordering
    serializer_class = s.DatasetSerializer
    read_serializer_class = s.DatasetSerializer
    update_serializer_class = s.DatasetUpdateSerializer
    filterset_class = DatasetFilterSet
    ordering_fields = ["name", "created_at", "updated_at"]

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        team = data.pop("team")
        created = actions.do_create_dataset(team, actor=acting_user(self.request.user), **data)
        serializer.instance = self.get_queryset().get(pk=created.pk)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = actions.do_update_dataset(
            serializer.instance, actor=acting_user(self.request.user), **serializer.validated_data
        )


class DatasetVersionViewSet(
    RestrictedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Any]
):
    """The immutable versions of one dataset, newest first. POST registers the next one; nothing edits them."""

    serializer_class = s.DatasetVersionSerializer
    queryset = DatasetVersion.objects.select_related("dataset", "created_by", "files_digest_job")
    filterset_class = DatasetVersionFilterSet
    lookup_field = "number"
    lookup_value_regex = r"[0-9]+"
    ordering_fields = ["number", "created_at"]

    def parent(self) -> Dataset:
        queryset = Dataset.objects.restrict(self.request.user, VIEW).select_related("team")
        return get_object_or_404(queryset, pk=self.kwargs["dataset_pk"])

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return DatasetVersion.objects.none()
        return super().get_queryset().filter(dataset_id=self.parent().pk)

    def get_serializer_class(self) -> Any:
        return s.DatasetVersionDetailSerializer if self.action == "retrieve" else s.DatasetVersionSerializer

    @extend_schema(request=s.DatasetVersionCreateSerializer, responses={201: s.DatasetVersionSerializer})
    def create(self, request: Request, dataset_pk: str) -> Response:
        dataset = self.parent()
        _require_write(request, dataset)
        serializer = s.DatasetVersionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = actions.do_register_dataset_version(
            dataset, actor=acting_user(request.user), **serializer.validated_data
        )
        return Response(s.DatasetVersionSerializer(version).data, status=status.HTTP_201_CREATED)


# --- Registered models --------------------------------------------------------------------------------------------


@extend_schema(responses=s.RegisteredModelSerializer)
class RegisteredModelViewSet(RegistryViewSet):
    """Registered models: who answers for them, what they are for. Versions are under ``versions/``."""

    queryset = (
        RegisteredModel.objects.select_related("team", "owner", "created_by")
        .annotate(latest_version=Max("versions__number"))
        .order_by("team_id", "name")
    )  # an aggregate drops Meta.ordering
    serializer_class = s.RegisteredModelSerializer
    read_serializer_class = s.RegisteredModelSerializer
    update_serializer_class = s.RegisteredModelUpdateSerializer
    filterset_class = RegisteredModelFilterSet
    ordering_fields = ["name", "created_at", "updated_at"]

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        serializer = super().get_serializer(*args, **kwargs)
        fields = getattr(serializer, "fields", {})
        if "use_case" in fields:
            # Another team's use case reads as absent; the action checks it is the model's own team's.
            fields["use_case"].queryset = UseCase.objects.restrict(self.request.user, VIEW)
        return serializer

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        team = data.pop("team")
        created = actions.do_create_model(team, actor=acting_user(self.request.user), **data)
        serializer.instance = self.get_queryset().get(pk=created.pk)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = actions.do_update_model(
            serializer.instance, actor=acting_user(self.request.user), **serializer.validated_data
        )

    @extend_schema(
        request=TrainingRequestSerializer,
        responses={
            202: JobSerializer,
            200: OpenApiResponse(JobSerializer, description="The job of an earlier request"),
        },
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def train(self, request: Request, pk: str | None = None) -> Response:
        """Start a Spark job that trains a binary classifier on a materialized feature-set version and registers
        its ONNX export as the model's next version. Follow it at /api/v1/jobs/{id}/ (docs/spark-jobs.md)."""
        model = self.get_object()
        serializer = TrainingRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _job_response(
            actions.do_request_training(model, actor=acting_user(request.user), **serializer.validated_data)
        )


def _version_queryset() -> Any:
    # Links (dataset and feature-set versions, authors) are read by registry.models.version_links, not prefetched.
    return ModelVersion.objects.select_related("model__team", "created_by", "job")


class _VersionPages(GenericAPIView[Any]):
    """Version lists cut a page keys first: the page of keys out of the filtered, permission-restricted query (an
    index holds the matches' keys in the list's order, so no row is read to find them), then the columns of only
    those rows and their links (ModelVersionSerializer.page). Slicing the rows themselves made the database read
    and sort every match in full to keep fifty."""

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        keys: Any = self.filter_queryset(self.get_queryset()).values_list("pk", flat=True)
        page = self.paginate_queryset(keys)
        if page is None:
            return Response(s.ModelVersionSerializer.page(list(keys)))
        return self.get_paginated_response(s.ModelVersionSerializer.page(list(page)))


class ModelVersionSearchViewSet(_VersionPages, RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet[Any]):
    """Every model version you may see, across models, newest first. Filter by exact model ``name`` and exact
    ``tag`` (index lookups: what a client that knows what it looks for should use), ``status``, ``team``, ``model``
    or ``sha256``; ``q`` (model name contains) is for people typing, and reads every model name."""

    serializer_class = s.ModelVersionSerializer
    filterset_class = ModelVersionFilterSet
    ordering_fields = ["created_at", "number"]

    def get_queryset(self) -> QuerySet[Any]:
        return _version_queryset().restrict(self.request.user, VIEW).order_by("-created_at", "-id")

    def get_serializer_class(self) -> Any:
        return s.ModelVersionDetailSerializer if self.action == "retrieve" else s.ModelVersionSerializer


class ModelVersionViewSet(
    _VersionPages,
    RestrictedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Any],
):
    """The immutable versions of one model, newest first. POST uploads the next (multipart, an ONNX file)."""

    filterset_class = ModelVersionFilterSet
    lookup_field = "number"
    lookup_value_regex = r"[0-9]+"
    ordering_fields = ["number", "created_at"]
    # The upload is a form; the transitions are JSON. A JSON upload is refused as missing its file.
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def parent(self, *, for_change: bool = False) -> RegisteredModel:
        queryset = RegisteredModel.objects.restrict(self.request.user, VIEW).select_related("team")
        if for_change:
            # Whether the caller may also write to it, in the same query.
            writable = RegisteredModel.objects.restrict(self.request.user, CHANGE).filter(pk=OuterRef("pk"))
            queryset = queryset.annotate(may_change=Exists(writable))
        model: RegisteredModel = get_object_or_404(queryset, pk=self.kwargs["model_pk"])
        if for_change and not model.may_change:  # type: ignore[attr-defined]
            raise PermissionDenied("You may see this, but not change it.")
        return model

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return ModelVersion.objects.none()
        queryset: Any = _version_queryset().filter(model_id=self.parent().pk)
        if self.action != "list":
            queryset = queryset.prefetch_related(
                Prefetch("transitions", queryset=ModelVersionTransition.objects.order_by("occurred_at", "id"))
            )
        return queryset.restrict(self.request.user, VIEW)

    def get_serializer_class(self) -> Any:
        return s.ModelVersionSerializer if self.action == "list" else s.ModelVersionDetailSerializer

    @extend_schema(
        request={"multipart/form-data": s.ModelVersionUploadSerializer}, responses={201: s.ModelVersionDetailSerializer}
    )
    def create(self, request: Request, model_pk: str) -> Response:
        model = self.parent(for_change=True)
        serializer = s.ModelVersionUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        upload = data.pop("file")
        version = actions.do_register_model_version(
            model, actor=acting_user(request.user), chunks=upload.chunks(), filename=upload.name or "", **data
        )
        # The action returns the version with everything the answer shows loaded: no need to read it back.
        return Response(s.ModelVersionDetailSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.TransitionRequestSerializer, responses={200: s.ModelVersionDetailSerializer})
    @action(detail=True, methods=["post"])
    def transitions(self, request: Request, model_pk: str, number: str) -> Response:
        """Move the version along its lifecycle: ``{"to_status": "in_review", "reason": "..."}``."""
        version = self.get_object()
        serializer = s.TransitionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actions.do_change_version_status(version, actor=acting_user(request.user), **serializer.validated_data)
        return Response(s.ModelVersionDetailSerializer(self.get_queryset().get(pk=version.pk)).data)

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(description="The ONNX file"),
            410: OpenApiResponse(description="The artifact was purged (retention or its owner); the version stays."),
        }
    )
    @action(detail=True, methods=["get"])
    def artifact(self, request: Request, model_pk: str, number: str) -> StreamingHttpResponse:
        """Download the ONNX file. Its SHA-256 is checked before the first byte and again as it streams. 410 Gone
        once the artifact was purged (a retention policy, or its owner's deletion): the version's record stays."""
        version = self.get_object()
        notice = purge_notice(version)
        if notice is not None:
            raise ArtifactPurged(f"The artifact of {version} was {notice}.")
        try:
            artifacts.verify(version.artifact_sha256)
            reader = artifacts.open_verified(version.artifact_sha256)
        except (artifacts.ArtifactCorrupted, artifacts.ArtifactMissing) as error:
            logger.error("artifact of %s failed its check: %s", version, error)
            actions.do_record_artifact_corruption(version, actor=acting_user(request.user), detail=str(error))
            raise ArtifactCorrupted() from None
        response = StreamingHttpResponse(iter(reader), content_type="application/octet-stream")
        filename = f"{version.model.name}-v{version.number}.onnx"
        response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
        response["Content-Length"] = str(version.artifact_size)
        response["ETag"] = f'"{version.artifact_sha256}"'
        digest = base64.b64encode(bytes.fromhex(version.artifact_sha256)).decode()
        response["Repr-Digest"] = f"sha-256=:{digest}:"
        response["X-Content-Type-Options"] = "nosniff"
        return response


# --- Feature views ------------------------------------------------------------------------------------------------


@extend_schema(responses=s.FeatureViewSerializer)
class FeatureViewViewSet(RegistryViewSet):
    """Feature views: features of one entity computed from one source dataset. Versions are under ``versions/``."""

    queryset = (
        FeatureView.objects.select_related("team", "owner", "created_by")
        .annotate(latest_version=Max("versions__number"))
        .order_by("team_id", "name")  # an aggregate drops Meta.ordering
    )
    serializer_class = s.FeatureViewSerializer
    read_serializer_class = s.FeatureViewSerializer
    update_serializer_class = s.FeatureViewUpdateSerializer
    filterset_class = FeatureViewFilterSet
    ordering_fields = ["name", "created_at", "updated_at"]

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        serializer = super().get_serializer(*args, **kwargs)
        fields = getattr(serializer, "fields", {})
        if "source_dataset" in fields:
            # The datasets of the user's teams, and those of other teams that the grant catalogue lists (every
            # dataset: registry.access); the action refuses another team's unless a data access grant covers it.
            fields["source_dataset"].queryset = Dataset.objects.all()
        return serializer

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        team = data.pop("team")
        created = actions.do_create_feature_view(team, actor=acting_user(self.request.user), **data)
        serializer.instance = self.get_queryset().get(pk=created.pk)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = actions.do_update_feature_view(
            serializer.instance, actor=acting_user(self.request.user), **serializer.validated_data
        )

    @extend_schema(
        request=MaterializationRequestSerializer,
        responses={
            202: JobSerializer,
            200: OpenApiResponse(JobSerializer, description="The job of an earlier request"),
        },
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def materialize(self, request: Request, pk: str | None = None) -> Response:
        """Start a Spark job that materializes the view from a version of its source dataset into a new
        feature-set version. Follow it at /api/v1/jobs/{id}/ (docs/spark-jobs.md)."""
        view = self.get_object()
        serializer = MaterializationRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _job_response(
            actions.do_request_materialization(view, actor=acting_user(request.user), **serializer.validated_data)
        )


class FeatureSetVersionViewSet(
    RestrictedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Any]
):
    """The immutable versions of one feature view, newest first. POST pins the view's definitions and inputs."""

    serializer_class = s.FeatureSetVersionSerializer
    queryset = FeatureSetVersion.objects.select_related("created_by", "job").prefetch_related("dataset_versions")
    lookup_field = "number"
    lookup_value_regex = r"[0-9]+"
    ordering_fields = ["number", "created_at"]

    def parent(self) -> FeatureView:
        queryset = FeatureView.objects.restrict(self.request.user, VIEW).select_related("team")
        return get_object_or_404(queryset, pk=self.kwargs["feature_view_pk"])

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return FeatureSetVersion.objects.none()
        return super().get_queryset().filter(feature_view_id=self.parent().pk)

    @extend_schema(request=s.FeatureSetVersionCreateSerializer, responses={201: s.FeatureSetVersionSerializer})
    def create(self, request: Request, feature_view_pk: str) -> Response:
        view = self.parent()
        _require_write(request, view)
        serializer = s.FeatureSetVersionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = actions.do_register_feature_set_version(
            view, actor=acting_user(request.user), **serializer.validated_data
        )
        return Response(s.FeatureSetVersionSerializer(version).data, status=status.HTTP_201_CREATED)
