"""The gate's and serving's REST API: a release's gate preview, deploy and bundle, deployment history, routes, and
a model's promote, end-trial, retire and rollback in an environment.

The release sub-routes (``/releases/{id}/gate/``, ``deploy/``, ``bundle/``) are views of their own, beside
governance's release viewset rather than inside it. Views validate input and call the actions (serving.actions,
governance.gate, governance.actions); they never write models themselves. A release or model the caller cannot
see is a 404; one they see but may not deploy is a 403, answered before the body is read.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from audits.api.views import FORMAT, JSONErrorsOnly
from audits.statements import STATEMENT_STYLESHEET
from core.actors import acting_user
from core.api.base import ApiViewMixin, ReadOnlyRestrictedViewSet, RestrictedViewSetMixin
from core.models import ApiToken
from core.pdf import render_pdf
from core.querysets import CHANGE, VIEW
from governance.actions.releases import do_export_bundle
from governance.choices import EvaluationPurpose
from governance.gate import run_gate
from governance.models import Environment, GateEvaluation, Release
from registry.actions import do_record_artifact_corruption
from registry.models import RegisteredModel
from serving import actions
from serving.api import serializers as s
from serving.decisions import decision_statement_context
from serving.filtersets import DeploymentFilterSet, PredictionFilterSet, RouteFilterSet
from serving.models import DecisionRecord, Deployment, InferenceScope, PredictionLog, Route

logger = logging.getLogger(__name__)


class IdempotencyConflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_conflict"
    default_detail = "The idempotency key was already used for another deployment."


def _refusal_response(refused: actions.GateRefused) -> Response:
    evaluation = refused.evaluation
    names = ", ".join(check["name"] for check in refused.failed)
    return Response(
        {
            "error": {
                "code": "gate_refused",
                "message": f"The deployment gate refused release {evaluation.release_id}: {names} failed.",
                "gate_evaluation": evaluation.pk,
                "checks": evaluation.checks,
            }
        },
        status=status.HTTP_409_CONFLICT,
    )


def _deployments() -> QuerySet[Deployment]:
    return Deployment.objects.select_related(
        "environment", "release", "model__team", "model_version", "deployed_by"
    ).order_by("-deployed_at", "-id")


class ReleaseSubView(ApiViewMixin, GenericAPIView[Any]):
    """A view on one release the caller can see (``pk`` in the URL)."""

    filter_backends: list[Any] = []
    pagination_class = None

    def release(self) -> Release:
        queryset = Release.objects.restrict(self.request.user, VIEW).select_related(
            "model_version__model__team", "environment", "policy_version__policy"
        )
        release: Release = get_object_or_404(queryset, pk=self.kwargs["pk"])
        return release

    def deployable(self) -> Release:
        release = self.release()
        if not Release.objects.restrict(self.request.user, CHANGE).filter(pk=release.pk).exists():
            raise PermissionDenied("Only engineers and admins of the model's team deploy its releases.")
        return release


class ReleaseGateView(ReleaseSubView):
    serializer_class = s.GateEvaluationSerializer

    @extend_schema(
        operation_id="releases_gate_preview",
        parameters=[
            OpenApiParameter(
                "rehash",
                OpenApiTypes.BOOL,
                description="Re-hash the artifact's bytes as a deployment would (default true); false only checks "
                "that the stored file is there with the right size.",
            )
        ],
        responses={200: s.GateEvaluationSerializer},
    )
    def get(self, request: Request, pk: str) -> Response:
        """What the gate would say if the release were deployed now: every check with its verdict and reason.

        A preview is not stored and writes nothing (it is not a deployment attempt), except that an artifact found
        corrupted or missing is recorded as ``artifact.corrupted``, as on every path that reads the bytes.
        """
        release = self.release()
        flag = request.query_params.get("rehash", "true").lower()
        if flag not in ("true", "false", "1", "0"):
            raise serializers.ValidationError({"rehash": ["Must be true or false."]})
        run = run_gate(release, actor=request.user, purpose=EvaluationPurpose.PREVIEW, rehash=flag in ("true", "1"))
        if run.artifact is not None and run.artifact.fault and run.artifact.rehashed:
            do_record_artifact_corruption(
                run.release.model_version,
                actor=acting_user(request.user),
                detail=f"gate preview of release {release.pk}: {run.artifact.fault}",
            )
        run_by: Any = request.user
        preview = GateEvaluation(
            release=run.release,
            purpose=run.purpose,
            passed=run.passed,
            checks=run.checks,
            manifest_digest=run.manifest_digest,
            evaluated_at=run.evaluated_at,
            evaluated_by=run_by,
            duration_ms=run.duration_ms,
        )
        return Response(s.GateEvaluationSerializer(preview).data)


class ReleaseDeployView(ReleaseSubView):
    serializer_class = s.DeployRequestSerializer

    @extend_schema(
        operation_id="releases_deploy",
        request=s.DeployRequestSerializer,
        responses={
            201: s.DeploymentSerializer,
            409: OpenApiResponse(
                s.GateRefusalSerializer,
                description="The gate refused (every check listed, the evaluation stored, ``gate.failed`` "
                "written), or the idempotency key was used for another release.",
            ),
        },
    )
    def post(self, request: Request, pk: str) -> Response:
        """Deploy the release to its environment through the gate, as its primary (default), a canary taking
        ``traffic_percent`` (1 to 50) of the requests beside the primary, or a shadow scored beside it and never
        returned. A canary or shadow needs a primary of another version serving. The same ``idempotency_key``
        again returns the same deployment (201 again) instead of making a second."""
        release = self.deployable()
        body = s.DeployRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            data = body.validated_data
            deployment = actions.do_deploy(
                release,
                actor=acting_user(request.user),
                idempotency_key=data.get("idempotency_key", ""),
                role=data["role"],
                traffic_percent=data.get("traffic_percent"),
            )
        except actions.GateRefused as refused:
            return _refusal_response(refused)
        except actions.IdempotencyConflict as conflict:
            raise IdempotencyConflict(str(conflict)) from None
        return Response(s.DeploymentSerializer(_deployments().get(pk=deployment.pk)).data, status=201)


class ReleaseBundleView(ReleaseSubView):
    @extend_schema(
        operation_id="releases_bundle",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="The release bundle (docs/releases.md)")},
    )
    def get(self, request: Request, pk: str) -> Response:
        """The release bundle for offline verification (``assay verify-release``): the current manifest, the
        approvals that signed it, their public keys, the policy and the artifact digest. Each export is recorded
        (``release.bundle_exported``)."""
        bundle = do_export_bundle(self.release(), actor=acting_user(request.user))
        return Response(bundle)


@extend_schema(responses=s.DeploymentSerializer)
class DeploymentViewSet(ReadOnlyRestrictedViewSet):
    """Deployment history, newest first: who put which release of which model into which environment, and when.
    Filter by ``environment`` (slug) and ``model`` (id)."""

    queryset = _deployments()
    serializer_class = s.DeploymentSerializer
    filterset_class = DeploymentFilterSet
    ordering_fields = ["deployed_at"]


class ModelRollbackView(ApiViewMixin, GenericAPIView[Any]):
    serializer_class = s.RollbackRequestSerializer
    filter_backends: list[Any] = []
    pagination_class = None

    @extend_schema(
        operation_id="models_rollback",
        request=s.RollbackRequestSerializer,
        responses={
            201: s.DeploymentSerializer,
            409: OpenApiResponse(s.GateRefusalSerializer, description="The gate refused the earlier release."),
        },
    )
    def post(self, request: Request, pk: str) -> Response:
        """Return the model in ``environment`` to an earlier ``release`` that was deployed there before (default:
        the primary that the one serving now took over from). It goes through the gate again: its approvals must
        still count."""
        model = _deployable_model(request, pk)
        body = s.RollbackRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        environment = Environment.objects.filter(slug=data["environment"]).first()
        if environment is None:
            raise serializers.ValidationError({"environment": [f"No environment {data['environment']!r}."]})
        return _rollback(request, model, environment, data)


def _deployable_model(request: Request, pk: Any) -> RegisteredModel:
    """The model in the URL: a 404 when the caller cannot see it, a 403 when they see it but may not deploy it."""
    model: RegisteredModel = get_object_or_404(
        RegisteredModel.objects.restrict(request.user, VIEW).select_related("team"), pk=pk
    )
    if not RegisteredModel.objects.restrict(request.user, CHANGE).filter(pk=model.pk).exists():
        raise PermissionDenied("Only engineers and admins of the model's team deploy, promote and retire it.")
    return model


def _rollback(request: Request, model: RegisteredModel, environment: Environment, data: dict[str, Any]) -> Response:
    release = None
    if data.get("release") is not None:
        release = (
            Release.objects.restrict(request.user, VIEW)
            .filter(pk=data["release"], model_version__model_id=model.pk)
            .first()
        )
        if release is None:
            raise serializers.ValidationError({"release": [f"Model {model.pk} has no release {data['release']}."]})
    try:
        deployment = actions.do_rollback(
            model,
            environment,
            actor=acting_user(request.user),
            to_release=release,
            idempotency_key=data.get("idempotency_key", ""),
        )
    except actions.GateRefused as refused:
        return _refusal_response(refused)
    except actions.IdempotencyConflict as conflict:
        raise IdempotencyConflict(str(conflict)) from None
    return Response(s.DeploymentSerializer(_deployments().get(pk=deployment.pk)).data, status=201)


def _routes() -> QuerySet[Route]:
    return Route.objects.select_related(
        "environment",
        "model__team",
        "changed_by",
        "primary__model_version",
        "canary__model_version",
        "shadow__model_version",
    )


@extend_schema(responses=s.RouteSerializer)
class RouteViewSet(ReadOnlyRestrictedViewSet):
    """What serves where now: per model and environment, the primary, the canary (with its share) and the shadow.
    A route whose ``primary`` is null was retired. Filter by ``environment`` (slug) and ``model`` (id)."""

    queryset = _routes()
    serializer_class = s.RouteSerializer
    filterset_class = RouteFilterSet
    ordering_fields = ["changed_at"]


class ModelEnvironmentView(ApiViewMixin, GenericAPIView[Any]):
    """A change to what serves one model (``pk``) in one environment (``slug``): the model is a 404 when the caller
    cannot see it and a 403 when they may not deploy it, both before the body is read; an unknown slug is a 404."""

    filter_backends: list[Any] = []
    pagination_class = None

    def target(self) -> tuple[RegisteredModel, Environment]:
        model = _deployable_model(self.request, self.kwargs["pk"])
        environment = get_object_or_404(Environment.objects.all(), slug=self.kwargs["slug"])
        return model, environment

    def body(self) -> dict[str, Any]:
        serializer = self.get_serializer(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        return data

    def route(self, route: Route) -> Response:
        return Response(s.RouteSerializer(_routes().get(pk=route.pk)).data)


class PromoteView(ModelEnvironmentView):
    serializer_class = s.PromoteRequestSerializer

    @extend_schema(
        operation_id="models_environment_promote",
        responses={
            201: s.DeploymentSerializer,
            409: OpenApiResponse(s.GateRefusalSerializer, description="The gate refused the trial's release."),
        },
    )
    def post(self, request: Request, pk: str, slug: str) -> Response:
        """Make the canary's (or the shadow's) release the primary, through the gate again; the trial ends. A
        refusal leaves the route as it was."""
        model, environment = self.target()
        data = self.body()
        try:
            deployment = actions.do_promote(
                model,
                environment,
                actor=acting_user(request.user),
                role=data.get("role", ""),
                idempotency_key=data.get("idempotency_key", ""),
            )
        except actions.GateRefused as refused:
            return _refusal_response(refused)
        except actions.IdempotencyConflict as conflict:
            raise IdempotencyConflict(str(conflict)) from None
        return Response(s.DeploymentSerializer(_deployments().get(pk=deployment.pk)).data, status=201)


class EndTrialView(ModelEnvironmentView):
    serializer_class = s.EndTrialRequestSerializer

    @extend_schema(operation_id="models_environment_end_trial", responses={200: s.RouteSerializer})
    def post(self, request: Request, pk: str, slug: str) -> Response:
        """Stop the canary or the shadow (``role``): the primary takes every request again. No gate."""
        model, environment = self.target()
        data = self.body()
        route = actions.do_end_trial(model, environment, actor=acting_user(request.user), role=data["role"])
        return self.route(route)


class RetireView(ModelEnvironmentView):
    serializer_class = s.RetireRequestSerializer

    @extend_schema(operation_id="models_environment_retire", responses={200: s.RouteSerializer})
    def post(self, request: Request, pk: str, slug: str) -> Response:
        """Stop serving the model in the environment (primary, canary and shadow), with a ``reason``. A rollback
        brings the last primary back through the gate."""
        model, environment = self.target()
        data = self.body()
        route = actions.do_retire(model, environment, actor=acting_user(request.user), reason=data["reason"])
        return self.route(route)


class EnvironmentRollbackView(ModelEnvironmentView):
    serializer_class = s.EnvironmentRollbackRequestSerializer

    @extend_schema(
        operation_id="models_environment_rollback",
        responses={
            201: s.DeploymentSerializer,
            409: OpenApiResponse(s.GateRefusalSerializer, description="The gate refused the earlier release."),
        },
    )
    def post(self, request: Request, pk: str, slug: str) -> Response:
        """Return to the previous primary (or ``release``) through the gate again: one command, picked up by the
        inference service within seconds."""
        model, environment = self.target()
        return _rollback(request, model, environment, self.body())


# --- Inference scopes of service-account tokens ----------------------------------------------------------------------


class TokenInferenceScopeView(ApiViewMixin, GenericAPIView[Any]):
    """What a service-account token may score against in the inference service. The token is a 404 to whoever
    cannot see it (its owner, and admins of its service account's team, see it); setting the scope is for the
    team's admins (403 otherwise). Unknown environments or models are a 400 naming the field; nothing is written."""

    queryset = InferenceScope.objects.all()  # what the view serves (the token is looked up through restrict)
    serializer_class = s.InferenceScopeRequestSerializer
    filter_backends: list[Any] = []
    pagination_class = None

    def token(self) -> ApiToken:
        return get_object_or_404(ApiToken.objects.restrict(self.request.user), pk=self.kwargs["pk"])

    @extend_schema(operation_id="tokens_inference_scope_retrieve", responses={200: s.InferenceScopeSerializer})
    def get(self, request: Request, pk: str) -> Response:
        """The token's scope; 404 when it has none (it then scores nothing)."""
        scope = get_object_or_404(
            InferenceScope.objects.prefetch_related("environments", "registered_models"), token=self.token()
        )
        return Response(s.InferenceScopeSerializer(scope).data)

    @extend_schema(
        operation_id="tokens_inference_scope_set",
        request=s.InferenceScopeRequestSerializer,
        responses={200: s.InferenceScopeSerializer},
    )
    def put(self, request: Request, pk: str) -> Response:
        """Set (replace) the token's scope: ``environments`` (slugs, at least one), ``models`` (ids; none: every
        model of the team), ``requests_per_second`` and ``burst``. Audited; the inference service applies it within
        its token cache time."""
        token = self.token()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        slugs = list(dict.fromkeys(data["environments"]))
        environments = list(Environment.objects.filter(slug__in=slugs))
        unknown = sorted(set(slugs) - {environment.slug for environment in environments})
        if unknown:
            raise serializers.ValidationError({"environments": [f"No environment {unknown[0]!r}."]})
        ids = list(dict.fromkeys(data["models"]))
        models = list(RegisteredModel.objects.restrict(request.user).filter(pk__in=ids))
        missing = sorted(set(ids) - {model.pk for model in models})
        if missing:
            raise serializers.ValidationError({"models": [f"No model {missing[0]} that you can see."]})
        scope = actions.do_set_inference_scope(
            token,
            actor=acting_user(request.user),
            environments=environments,
            models=models,
            requests_per_second=data["requests_per_second"],
            burst=data["burst"],
        )
        return Response(s.InferenceScopeSerializer(scope).data)


# --- Prediction logs and decision records (read-only: the inference service writes them) ---------------------------


class PredictionViewSet(ReadOnlyRestrictedViewSet):
    """Prediction logs, newest first: every scoring of a request by a deployment, with its data quality. Visible
    to the members of the model's team. Filter by ``deployment``, ``model``, ``environment`` (slug), ``role``,
    ``request_id``, ``logged_after``/``logged_before`` and ``subject`` (a data subject's identifier, compared by
    its keyed hash)."""

    queryset = PredictionLog.objects.select_related("environment", "model__team", "model_version", "decision").order_by(
        "-logged_at", "-id"
    )
    serializer_class = s.PredictionSerializer
    filterset_class = PredictionFilterSet
    ordering_fields = ["logged_at"]


class DecisionRecordViewSet(RestrictedViewSetMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Any]):
    """Decision records by uid (the uid an explained response carried), and their statement of reasons."""

    queryset = DecisionRecord.objects.select_related(
        "prediction__environment",
        "prediction__model__team",
        "model_version__model__team",
        "explanation_report",
        "reason_catalogue",
    )
    serializer_class = s.DecisionRecordSerializer
    lookup_field = "uid"
    lookup_value_regex = "[0-9a-fA-F-]{36}"
    filter_backends: list[Any] = []
    pagination_class = None

    @extend_schema(
        parameters=[FORMAT],
        responses={(200, "text/html"): OpenApiTypes.STR, (200, "application/pdf"): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=["get"], content_negotiation_class=JSONErrorsOnly)
    def statement(self, request: Request, uid: str) -> HttpResponse:
        """The statement of reasons of the recorded decision, as it was made (not recomputed): the decision, the
        model version, the principal reasons in the catalogue's plain language and the catalogue's version; HTML,
        or PDF with ?format=pdf."""
        record: DecisionRecord = self.get_object()
        wanted = request.query_params.get("format", "html")
        if wanted not in ("html", "pdf"):
            raise serializers.ValidationError({"format": "Ask for html or pdf."})
        context = decision_statement_context(record)
        if wanted == "html":
            page = render_to_string("audits/statement.html", {**context, "link_stylesheet": True}, request=request)
            return HttpResponse(page, content_type="text/html; charset=utf-8")
        html = render_to_string("audits/statement.html", context, request=request)
        response = HttpResponse(render_pdf(html, STATEMENT_STYLESHEET), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="statement-{record.uid}.pdf"'
        return response
