"""The audits' REST API: start an audit (a job), read reports. Views validate input and call audits.actions.

Reports are restricted in SQL by the model's team (``AuditReport.objects.restrict(user, "view")``): another team's
report is a 404. A model version named in a request body that the caller cannot see reads like a missing one (a
400 on ``model_version``); one they see but may not change is a 403.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from audits.actions import (
    do_delete_audit_plan,
    do_justify_proxy,
    do_request_audit,
    do_set_audit_plan,
    do_set_reason_catalogue,
)
from audits.api import serializers as s
from audits.choices import AuditKind
from audits.filtersets import AuditReportFilterSet
from audits.local_explanations import NotExplainable, explain_rows
from audits.models import AuditPlan, AuditReport, ProxyJustification, ReasonCatalogue
from audits.reasons import current_catalogue
from audits.statements import STATEMENT_STYLESHEET, statement_context, statement_filename
from core.actors import acting_user
from core.api.base import RestrictedViewSetMixin
from core.api.parsers import JSONParser
from core.api.serializers import JobSerializer
from core.pdf import render_pdf
from core.querysets import VIEW
from registry.models import ModelVersion, RegisteredModel


@extend_schema(responses=s.AuditReportSerializer)
class AuditReportViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet[Any]):
    """Immutable audit reports, newest first; the detail holds every figure."""

    queryset = AuditReport.objects.select_related("model_version", "job")
    serializer_class = s.AuditReportSerializer
    filterset_class = AuditReportFilterSet
    ordering_fields = ["created_at"]

    def get_serializer_class(self) -> Any:
        return s.AuditReportDetailSerializer if self.action == "retrieve" else s.AuditReportSerializer

    def get_queryset(self) -> Any:
        reports = super().get_queryset()
        return reports.prefetch_related("justifications__justified_by") if self.action == "retrieve" else reports

    @extend_schema(responses=s.AuditReportDetailSerializer)
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)


def request_audit(
    request: Request,
    kind: AuditKind,
    serializer: s.AuditRequestSerializer,
) -> Response:
    """Check a request to start a ``kind`` audit and ask audits.actions for its job (the views below)."""
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
        kind=kind,
        actor=acting_user(request.user),
        dataset_version=data["dataset_version"],
        params=serializer.audit_params(),
        idempotency_key=data.get("idempotency_key", ""),
    )
    return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


STARTED = {202: JobSerializer, 200: OpenApiResponse(JobSerializer, description="The job of an earlier request")}


class StartAuditView(GenericAPIView[Any]):
    """What the views that start an audit share: JSON in, any signed-in user (the action checks the team)."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]


class FairnessAuditView(StartAuditView):
    """Start a fairness audit."""

    serializer_class = s.FairnessAuditRequestSerializer

    @extend_schema(request=s.FairnessAuditRequestSerializer, responses=STARTED)
    def post(self, request: Request) -> Response:
        """Start a Spark job that scores the evaluation dataset version with the model version and registers a
        fairness report. Follow it at /api/v1/jobs/{id}/ (docs/audits.md)."""
        return request_audit(request, AuditKind.FAIRNESS, s.FairnessAuditRequestSerializer(data=request.data))


class ProxyAuditView(StartAuditView):
    """Start a proxy detection audit."""

    serializer_class = s.ProxyAuditRequestSerializer

    @extend_schema(request=s.ProxyAuditRequestSerializer, responses=STARTED)
    def post(self, request: Request) -> Response:
        """Start a Spark job that measures how strongly each model input is associated with each protected or
        prohibited attribute, and registers a proxy report. Follow it at /api/v1/jobs/{id}/ (docs/audits.md)."""
        return request_audit(request, AuditKind.PROXY, s.ProxyAuditRequestSerializer(data=request.data))


class ProxyJustificationView(GenericAPIView[Any]):
    """Justify a pair a proxy report flagged (compliance officers of the model's team)."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    serializer_class = s.ProxyJustificationSerializer
    queryset = ProxyJustification.objects.all()

    @extend_schema(request=s.ProxyJustificationRequestSerializer, responses={201: s.ProxyJustificationSerializer})
    def post(self, request: Request, pk: int) -> Response:
        """Record why a flagged feature is acceptable despite its association with the attribute: the proxy check
        then passes for that pair (also at the gate, which judges the report again). Once per pair; audited."""
        report = get_object_or_404(
            AuditReport.objects.restrict(request.user, VIEW).select_related("model_version__model__team"), pk=pk
        )
        serializer = s.ProxyJustificationRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        justification = do_justify_proxy(
            report,
            feature=data["feature"],
            attribute=data["attribute"],
            reason=data["reason"],
            actor=acting_user(request.user),
        )
        return Response(s.ProxyJustificationSerializer(justification).data, status=status.HTTP_201_CREATED)


class ValidationAuditView(StartAuditView):
    """Start a validation audit."""

    serializer_class = s.ValidationAuditRequestSerializer

    @extend_schema(request=s.ValidationAuditRequestSerializer, responses=STARTED)
    def post(self, request: Request) -> Response:
        """Start a Spark job that scores the evaluation dataset version with the model version and registers a
        validation report: performance overall, per segment and on a time-ordered holdout, calibration, business
        cost, edge cases and monotonic constraints. Follow it at /api/v1/jobs/{id}/ (docs/audits.md)."""
        return request_audit(request, AuditKind.VALIDATION, s.ValidationAuditRequestSerializer(data=request.data))


class ExplanationAuditView(StartAuditView):
    """Start a global explanation audit."""

    serializer_class = s.ExplanationAuditRequestSerializer

    @extend_schema(request=s.ExplanationAuditRequestSerializer, responses=STARTED)
    def post(self, request: Request) -> Response:
        """Start a Spark job that draws a background and a sample of the evaluation dataset version, explains the
        sample with the shap explainer that fits the model, and registers a global explanation report: importance,
        SHAP distributions, dependence, importance per protected group, and the background the model version's
        local explanations use. Follow it at /api/v1/jobs/{id}/ (docs/audits.md, "Explanations")."""
        return request_audit(request, AuditKind.EXPLANATION, s.ExplanationAuditRequestSerializer(data=request.data))


KIND = OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=AuditKind.values, description="The audit kind.")


class AuditPlanViewSet(viewsets.GenericViewSet[Any]):
    """A model's audit plans, one per kind: how a release request whose policy requires that kind of audit runs it
    (docs/audits.md, "Release policies and the gate"). Readers of the model read them; engineers and admins of its
    team set (PUT) and remove (DELETE) them. A model out of sight is a 404."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    queryset = AuditPlan.objects.select_related("created_by")
    serializer_class = s.AuditPlanSerializer
    pagination_class = None
    filter_backends: list[Any] = []  # a model has one plan per kind: nothing to filter or page

    def model(self) -> RegisteredModel:
        found: RegisteredModel = get_object_or_404(
            RegisteredModel.objects.restrict(self.request.user, VIEW).select_related("team"),
            pk=self.kwargs["model_pk"],
        )
        return found

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return AuditPlan.objects.none()
        return super().get_queryset().filter(model=self.model())

    def list(self, request: Request, model_pk: int) -> Response:
        """The model's audit plans, by kind."""
        return Response(s.AuditPlanSerializer(self.get_queryset(), many=True).data)

    @extend_schema(parameters=[KIND])
    def retrieve(self, request: Request, model_pk: int, kind: str) -> Response:
        """The model's plan of this kind."""
        plan = get_object_or_404(self.get_queryset(), kind=kind)
        return Response(s.AuditPlanSerializer(plan).data)

    @extend_schema(
        request=s.AuditPlanWriteSerializer,
        responses={200: s.AuditPlanSerializer, 201: s.AuditPlanSerializer},
        parameters=[KIND],
    )
    def update(self, request: Request, model_pk: int, kind: str) -> Response:
        """Set the plan of this kind: its parameters are checked now against the dataset's newest version and the
        model's newest version (a 400 naming the field), and again when a release request starts the audit."""
        model = self.model()
        serializer = s.AuditPlanWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        plan, created = do_set_audit_plan(
            model,
            kind=kind,
            actor=acting_user(request.user),
            dataset=serializer.validated_data["dataset"],
            params=serializer.validated_data["params"],
        )
        return Response(
            s.AuditPlanSerializer(plan).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(responses={204: None}, parameters=[KIND])
    def destroy(self, request: Request, model_pk: int, kind: str) -> Response:
        """Remove the plan: release requests no longer start this kind of audit of the model."""
        plan = get_object_or_404(self.get_queryset().select_related("model__team"), kind=kind)
        do_delete_audit_plan(plan, actor=acting_user(request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReasonCatalogueViewSet(viewsets.GenericViewSet[Any]):
    """A model's reason catalogue (docs/audits.md, "Reason catalogues"): the version in force, its history, and a
    new version (PUT). Readers of the model read it; engineers and admins of its team write it. A model out of sight
    is a 404."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    queryset = ReasonCatalogue.objects.select_related("created_by")
    serializer_class = s.ReasonCatalogueSerializer
    filter_backends: list[Any] = []  # versions, newest first: nothing to filter

    def model(self) -> RegisteredModel:
        found: RegisteredModel = get_object_or_404(
            RegisteredModel.objects.restrict(self.request.user, VIEW).select_related("team"),
            pk=self.kwargs["model_pk"],
        )
        return found

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return ReasonCatalogue.objects.none()
        return super().get_queryset().filter(model=self.model()).order_by("-number")

    def current(self, request: Request, model_pk: int) -> Response:
        """The catalogue in force (the newest version); a 404 saying so when the model has none."""
        model = self.model()
        catalogue = current_catalogue(model)
        if catalogue is None:
            raise NotFound(f"{model} has no reason catalogue yet: PUT /api/v1/models/{model.pk}/reasons/ writes one.")
        return Response(s.ReasonCatalogueSerializer(catalogue).data)

    @extend_schema(
        request=s.ReasonCatalogueWriteSerializer,
        responses={
            201: s.ReasonCatalogueSerializer,
            200: OpenApiResponse(s.ReasonCatalogueSerializer, description="Unchanged: the catalogue in force"),
        },
    )
    def update(self, request: Request, model_pk: int) -> Response:
        """Write a new version of the catalogue: every entry's feature must be one of the model's and never a
        protected, special-category or prohibited column (a 400 naming the field: ``entries[3].feature``). Sending
        the catalogue in force again writes nothing (200)."""
        model = self.model()
        serializer = s.ReasonCatalogueWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        catalogue, created = do_set_reason_catalogue(model, actor=acting_user(request.user), **data)
        answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.ReasonCatalogueSerializer(catalogue).data, status=answer)

    def list(self, request: Request, model_pk: int) -> Response:
        """Every version of the catalogue, newest first."""
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.ReasonCatalogueSerializer(page, many=True).data)

    def retrieve(self, request: Request, model_pk: int, number: int) -> Response:
        """One version of the catalogue."""
        return Response(s.ReasonCatalogueSerializer(get_object_or_404(self.get_queryset(), number=number)).data)


class Unexplained(exceptions.APIException):
    """A ``NotExplainable`` as an HTTP answer: its status (409, 413), code and message."""

    def __init__(self, problem: NotExplainable) -> None:
        self.status_code = problem.status
        super().__init__(detail=problem.message, code=problem.code)


def explainable_version(request: Request, pk: int) -> ModelVersion:
    """The model version, if the caller may read it (another team's is a 404, like a missing one)."""
    found: ModelVersion = get_object_or_404(
        ModelVersion.objects.restrict(request.user, VIEW).select_related("model__team"), pk=pk
    )
    return found


class ExplainView(GenericAPIView[Any]):
    """Local explanations of a model version's scores (docs/audits.md, "Local explanations and the statement of
    reasons")."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    serializer_class = s.ExplainRequestSerializer

    @extend_schema(
        request=s.ExplainRequestSerializer,
        responses={
            200: s.ExplanationSerializer,
            409: OpenApiResponse(description="No explanation report of this version, or no single numeric score"),
            413: OpenApiResponse(description="More rows than EXPLAIN_MAX_ROWS"),
            503: OpenApiResponse(description="The explainer is being built: retry after Retry-After seconds"),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        """Explain each row's score with the explainer of the version's newest explanation report: the SHAP value
        of each feature, the base value, their sum checked against the model's output (with the tolerance), the
        decision under the reason catalogue in force and the principal reasons (never a protected attribute).
        Nothing is written."""
        version = explainable_version(request, pk)
        serializer = s.ExplainRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            return Response(explain_rows(version, data["rows"], top=data["top"]))
        except NotExplainable as problem:
            raise Unexplained(problem) from None


class JSONErrorsOnly(DefaultContentNegotiation):
    """The statement answers HTML or PDF itself (``?format=``, not DRF's format override); errors are JSON."""

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        return renderers[0], renderers[0].media_type


FORMAT = OpenApiParameter("format", str, OpenApiParameter.QUERY, enum=["html", "pdf"], description="html (default)")


class StatementView(GenericAPIView[Any]):
    """A statement of reasons for one decision, as a person is given it."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    content_negotiation_class = JSONErrorsOnly
    serializer_class = s.StatementRequestSerializer

    @extend_schema(
        request=s.StatementRequestSerializer,
        parameters=[FORMAT],
        responses={(200, "text/html"): OpenApiTypes.STR, (200, "application/pdf"): OpenApiTypes.BINARY},
    )
    def post(self, request: Request, pk: int) -> HttpResponse:
        """The statement of reasons of the row's decision: the decision, the date, the model version, the
        principal reasons in the catalogue's plain language (never a protected or prohibited attribute) and the
        catalogue's version; HTML, or PDF with ?format=pdf."""
        version = explainable_version(request, pk)
        serializer = s.StatementRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        wanted = request.query_params.get("format", "html")
        if wanted not in ("html", "pdf"):
            raise ValidationError({"format": "Ask for html or pdf."})
        try:
            data = serializer.validated_data
            context = statement_context(version, data["row"], data["reference"])
        except NotExplainable as problem:
            raise Unexplained(problem) from None
        if wanted == "html":
            page = render_to_string("audits/statement.html", {**context, "link_stylesheet": True}, request=request)
            return HttpResponse(page, content_type="text/html; charset=utf-8")
        html = render_to_string("audits/statement.html", context, request=request)
        response = HttpResponse(render_pdf(html, STATEMENT_STYLESHEET), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{statement_filename(context)}"'
        return response
