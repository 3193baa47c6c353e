"""The audits' REST API: start an audit (a job), read reports. Views validate input and call audits.actions.

Reports are restricted in SQL by the model's team (``AuditReport.objects.restrict(user, "view")``): another team's
report is a 404. A model version named in a request body that the caller cannot see reads like a missing one (a
400 on ``model_version``); one they see but may not change is a 403.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from audits.actions import do_request_audit
from audits.api import serializers as s
from audits.choices import AuditKind
from audits.filtersets import AuditReportFilterSet
from audits.models import AuditReport
from core.actors import acting_user
from core.api.base import RestrictedViewSetMixin
from core.api.parsers import JSONParser
from core.api.serializers import JobSerializer
from core.querysets import VIEW
from registry.models import ModelVersion


@extend_schema(responses=s.AuditReportSerializer)
class AuditReportViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet[Any]):
    """Immutable audit reports, newest first; the detail holds every figure."""

    queryset = AuditReport.objects.select_related("model_version", "job")
    serializer_class = s.AuditReportSerializer
    filterset_class = AuditReportFilterSet
    ordering_fields = ["created_at"]

    def get_serializer_class(self) -> Any:
        return s.AuditReportDetailSerializer if self.action == "retrieve" else s.AuditReportSerializer

    @extend_schema(responses=s.AuditReportDetailSerializer)
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)


class FairnessAuditView(GenericAPIView[Any]):
    """Start a fairness audit."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    serializer_class = s.FairnessAuditRequestSerializer

    @extend_schema(
        request=s.FairnessAuditRequestSerializer,
        responses={
            202: JobSerializer,
            200: OpenApiResponse(JobSerializer, description="The job of an earlier request"),
        },
    )
    def post(self, request: Request) -> Response:
        """Start a Spark job that scores the evaluation dataset version with the model version and registers a
        fairness report. Follow it at /api/v1/jobs/{id}/ (docs/audits.md)."""
        serializer = s.FairnessAuditRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        version = (
            ModelVersion.objects.restrict(request.user, VIEW)
            .select_related("model__team", "model__use_case")
            .filter(pk=data["model_version"])
            .first()
        )
        if version is None:
            raise ValidationError({"model_version": f'Invalid pk "{data["model_version"]}" - object does not exist.'})
        job, created = do_request_audit(
            version,
            kind=AuditKind.FAIRNESS,
            actor=acting_user(request.user),
            dataset_version=data["dataset_version"],
            params=serializer.audit_params(),
            idempotency_key=data.get("idempotency_key", ""),
        )
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


class ValidationAuditView(GenericAPIView[Any]):
    """Start a validation audit."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    serializer_class = s.ValidationAuditRequestSerializer

    @extend_schema(
        request=s.ValidationAuditRequestSerializer,
        responses={
            202: JobSerializer,
            200: OpenApiResponse(JobSerializer, description="The job of an earlier request"),
        },
    )
    def post(self, request: Request) -> Response:
        """Start a Spark job that scores the evaluation dataset version with the model version and registers a
        validation report: performance overall, per segment and on a time-ordered holdout, calibration, business
        cost, edge cases and monotonic constraints. Follow it at /api/v1/jobs/{id}/ (docs/audits.md)."""
        serializer = s.ValidationAuditRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        version = (
            ModelVersion.objects.restrict(request.user, VIEW)
            .select_related("model__team", "model__use_case")
            .filter(pk=data["model_version"])
            .first()
        )
        if version is None:
            raise ValidationError({"model_version": f'Invalid pk "{data["model_version"]}" - object does not exist.'})
        job, created = do_request_audit(
            version,
            kind=AuditKind.VALIDATION,
            actor=acting_user(request.user),
            dataset_version=data["dataset_version"],
            params=serializer.audit_params(),
            idempotency_key=data.get("idempotency_key", ""),
        )
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)
