"""``POST /api/v1/batch-scoring/``: score a dataset version with a deployed model version, as a Spark job
(serving.batch, docs/serving.md "Batch scoring").

The deployment is named by id (``deployment``: a primary or canary serving now) or by ``model`` (id) and
``environment`` (slug): that route's primary. What the caller cannot see is a 404 (the deployment, the model, the
environment, the dataset version); what they see but may not change is a 403; a deployment that does not serve is a
409; a dataset version whose columns do not feed the model's inputs, or a taken output name, is a 400 naming the
field. Nothing is written on any of these. The answer is the job (202; 200 with the first job when the same
``idempotency_key`` was sent before): follow it at /api/v1/jobs/{id}/.
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from core.actors import acting_user
from core.api.base import ApiViewMixin, StrictSerializer
from core.api.parsers import JSONParser
from core.api.serializers import IdempotencyKeyField, JobSerializer
from core.querysets import CHANGE, VIEW
from governance.models import Environment
from registry.models import DatasetVersion, RegisteredModel
from serving.batch import NotServing, do_request_batch_scoring, serving_deployment
from serving.models import Deployment


class NotServingConflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "not_serving"
    default_detail = "The deployment does not serve: only a route's primary or canary may batch-score."


class BatchScoringRequestSerializer(StrictSerializer):
    """The deployment (``deployment``, or ``model`` and ``environment``), the dataset version, the output's name."""

    deployment = serializers.IntegerField(min_value=1, required=False, help_text="A deployment serving now, by id.")
    model = serializers.IntegerField(min_value=1, required=False, help_text="With environment: the model's primary.")
    environment = serializers.SlugField(required=False, help_text="With model: the environment, by slug.")
    dataset_version = serializers.IntegerField(min_value=1, help_text="The dataset version to score, by id.")
    output_name = serializers.CharField(max_length=255, help_text="The name of the new dataset of predictions.")
    idempotency_key = IdempotencyKeyField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        by_deployment = "deployment" in attrs
        by_route = "model" in attrs or "environment" in attrs
        if by_deployment == by_route:
            raise serializers.ValidationError(
                {"deployment": ["Name either a deployment, or a model and an environment."]}
            )
        if by_route and not ("model" in attrs and "environment" in attrs):
            missing = "environment" if "model" in attrs else "model"
            raise serializers.ValidationError({missing: ["A model is named with its environment."]})
        return attrs


class BatchScoringView(ApiViewMixin, GenericAPIView[Any]):
    serializer_class = BatchScoringRequestSerializer
    parser_classes = [JSONParser]
    filter_backends: list[Any] = []
    pagination_class = None

    def deployment(self, data: dict[str, Any]) -> Deployment:
        user = self.request.user
        if "deployment" in data:
            queryset = Deployment.objects.restrict(user, VIEW).select_related(
                "environment", "model__team", "model_version"
            )
            found: Deployment = get_object_or_404(queryset, pk=data["deployment"])
            return found
        model = get_object_or_404(RegisteredModel.objects.restrict(user, VIEW), pk=data["model"])
        environment = get_object_or_404(Environment.objects.all(), slug=data["environment"])
        try:
            return serving_deployment(model.pk, environment.pk)
        except NotServing as error:
            raise NotServingConflict(str(error)) from None

    @extend_schema(
        operation_id="batch_scoring_create",
        request=BatchScoringRequestSerializer,
        responses={
            202: JobSerializer,
            200: OpenApiResponse(JobSerializer, description="The job of an earlier request"),
            409: OpenApiResponse(description="The deployment does not serve (retired, replaced, or a shadow)."),
        },
    )
    def post(self, request: Request) -> Response:
        """Start a Spark job that scores a dataset version with a deployed model version (ONNX Runtime per
        partition) and registers the predictions as a new dataset of the model's team, with lineage from the
        dataset version and the model version to it. Follow it at /api/v1/jobs/{id}/."""
        body = BatchScoringRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        deployment = self.deployment(data)
        if not RegisteredModel.objects.restrict(request.user, CHANGE).filter(pk=deployment.model_id).exists():
            raise PermissionDenied("Only engineers and admins of the model's team batch-score with it.")
        dataset_version = get_object_or_404(
            DatasetVersion.objects.restrict(request.user, VIEW).select_related("dataset__team"),
            pk=data["dataset_version"],
        )
        try:
            job, created = do_request_batch_scoring(
                deployment,
                actor=acting_user(request.user),
                dataset_version=dataset_version,
                output_name=data["output_name"],
                idempotency_key=data.get("idempotency_key", ""),
            )
        except NotServing as error:
            raise NotServingConflict(str(error)) from None
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)
