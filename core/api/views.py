from __future__ import annotations

from typing import Any, cast

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import RetrieveAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from core import actions, audit
from core.actors import acting_user
from core.api import serializers as s
from core.api.base import (
    FILTER_BACKENDS,
    ApiViewMixin,
    ReadOnlyRestrictedViewSet,
    RestrictedViewSetMixin,
    TeamScopedCreateMixin,
)
from core.api.permissions import (
    IsAuditReader,
    IsNotServiceAccount,
    IsSuperuser,
    IsSuperuserToCreate,
    RestrictedObjectPermission,
)
from core.filtersets import AuditEventFilterSet, JobFilterSet, MembershipFilterSet
from core.jobs import dispatch_job, do_cancel_job
from core.models import ApiToken, AuditCheckpoint, AuditEvent, GroupMapping, Job, Membership, ServiceAccount, Team
from core.querysets import CHANGE

User = get_user_model()

# Every view that writes: authenticated, and a 403 for objects the caller may read but not change.
WRITE_PERMISSIONS: list[Any] = [IsAuthenticated, RestrictedObjectPermission]


class MeView(ApiViewMixin, RetrieveAPIView[Any]):
    """The authenticated user, with their memberships. Nothing here is writable (PATCH says which field)."""

    serializer_class = s.MeSerializer

    def get_object(self) -> Any:
        return User.objects.prefetch_related("memberships__team").get(pk=self.request.user.pk or 0)

    def patch(self, request: Request) -> Response:
        user = self.get_object()
        serializer = self.get_serializer(user, data=request.data, partial=True)
        # Raises for any field sent; an empty body changes nothing and reads back the profile.
        serializer.is_valid(raise_exception=True)
        return Response(serializer.data)


class TeamViewSet(
    RestrictedViewSetMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet[Any]
):
    """Teams you belong to. Platform administrators create teams; team admins edit them."""

    queryset = Team.objects.all()
    serializer_class = s.TeamSerializer
    permission_classes = [*WRITE_PERMISSIONS, IsSuperuserToCreate]
    lookup_field = "slug"
    ordering_fields = ["slug", "name", "created_at"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        return s.TeamUpdateSerializer if self.action == "partial_update" else s.TeamSerializer

    def perform_create(self, serializer: BaseSerializer[Team]) -> None:
        serializer.instance = actions.do_create_team(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer: BaseSerializer[Team]) -> None:
        # An update always has its instance (DRF's UpdateModelMixin sets it from get_object()).
        serializer.instance = actions.do_update_team(
            cast(Team, serializer.instance), actor=self.request.user, **serializer.validated_data
        )

    @extend_schema(request=s.TeamUpdateSerializer, responses={200: s.TeamSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        super().partial_update(request, *args, **kwargs)
        return Response(s.TeamSerializer(self.get_object()).data)


class MembershipViewSet(
    TeamScopedCreateMixin,
    RestrictedViewSetMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.ReadOnlyModelViewSet[Any],
):
    """Who holds which role in which team. Team admins grant and revoke; DELETE revokes."""

    queryset = Membership.objects.select_related("team", "user", "granted_by")
    serializer_class = s.MembershipSerializer
    permission_classes = WRITE_PERMISSIONS
    filterset_class = MembershipFilterSet
    ordering_fields = ["created_at", "role"]

    def perform_create(self, serializer: BaseSerializer[Membership]) -> None:
        data = serializer.validated_data
        serializer.instance = actions.do_grant_membership(
            data["team"],
            actor=self.request.user,
            user=data["user"],
            role=data["role"],
            board_role=data.get("board_role", ""),
        )

    def perform_destroy(self, instance: Membership) -> None:
        actions.do_revoke_membership(instance, actor=self.request.user)


class ServiceAccountViewSet(
    TeamScopedCreateMixin, RestrictedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Any]
):
    """Non-human users for applications and CI, created by team admins. They hold tokens and cannot sign in."""

    queryset = ServiceAccount.objects.select_related("user", "team")
    serializer_class = s.ServiceAccountSerializer
    permission_classes = WRITE_PERMISSIONS
    ordering_fields = ["created_at"]

    def perform_create(self, serializer: BaseSerializer[ServiceAccount]) -> None:
        data = serializer.validated_data
        serializer.instance = actions.do_create_service_account(
            data["team"],
            actor=self.request.user,
            username=data["user"]["username"],
            description=data.get("description", ""),
            role=data["role"],
        )


class ApiTokenViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet[Any]
):
    """Your API tokens, and those of the service accounts of teams you administer. DELETE revokes."""

    serializer_class = s.ApiTokenSerializer
    filter_backends = FILTER_BACKENDS
    ordering_fields = ["created_at", "expires_at", "name"]

    def get_queryset(self) -> QuerySet[ApiToken]:
        return ApiToken.objects.restrict(self.request.user).select_related("user")

    @extend_schema(request=s.ApiTokenCreateSerializer, responses={201: s.ApiTokenCreatedSerializer})
    def create(self, request: Request) -> Response:
        """Create a token. The response is the only time its secret is shown."""
        if hasattr(request.user, "service_account"):
            raise PermissionDenied("A service account cannot create tokens; an admin of its team creates them.")
        serializer = s.ApiTokenCreateSerializer(data=request.data)
        # A service account you cannot administer reads as absent, like any object out of reach.
        serializer.fields["service_account"].queryset = ServiceAccount.objects.restrict(  # type: ignore[attr-defined]
            request.user, CHANGE
        ).select_related("user", "team")
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        owner = data["service_account"].user if "service_account" in data else None
        token, plaintext = actions.do_create_token(
            actor=request.user,
            name=data["name"],
            owner=owner,
            ttl_days=data.get("ttl_days"),
            presented_token=request.auth if isinstance(request.auth, ApiToken) else None,
        )
        body = s.ApiTokenCreatedSerializer(token).data
        body["token"] = plaintext
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(request=None, responses={200: s.ApiTokenSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        token = actions.do_revoke_token(self.get_object(), actor=request.user)
        return Response(s.ApiTokenSerializer(token).data)

    def perform_destroy(self, instance: ApiToken) -> None:
        actions.do_revoke_token(instance, actor=self.request.user)


class AuditEventViewSet(ReadOnlyRestrictedViewSet):
    """The audit log of the teams where you are a compliance officer, auditor or admin. Read only."""

    queryset = AuditEvent.objects.all()
    serializer_class = s.AuditEventSerializer
    permission_classes = [IsAuthenticated, IsAuditReader]
    filterset_class = AuditEventFilterSet
    lookup_field = "seq"
    lookup_value_regex = r"[0-9]+"
    ordering_fields = ["seq", "occurred_at"]

    @extend_schema(responses={200: s.ChainReportSerializer})
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def verify(self, request: Request) -> Response:
        """Verify the whole chain now and report intact, or the first broken row."""
        return Response(audit.verify_chain().as_dict())


class AuditCheckpointViewSet(viewsets.ReadOnlyModelViewSet[Any]):
    """Signed statements of the chain head. POST starts a job that signs the current head."""

    queryset = AuditCheckpoint.objects.all()
    serializer_class = s.AuditCheckpointSerializer
    permission_classes = [IsAuthenticated, IsAuditReader]
    filter_backends = FILTER_BACKENDS
    ordering_fields = ["seq", "created_at"]

    @extend_schema(request=s.JobRequestSerializer, responses={202: s.JobSerializer, 200: s.JobSerializer})
    def create(self, request: Request) -> Response:
        return _start_job("audit.checkpoint", request)

    @extend_schema(responses={200: OpenApiResponse(description="The checkpoint, self-contained, for keeping.")})
    @action(detail=True, methods=["get"])
    def export(self, request: Request, pk: str | None = None) -> Response:
        return Response(audit.export_checkpoint(self.get_object()))

    @extend_schema(responses={200: OpenApiResponse(description="Whether the signature and the chain agree.")})
    @action(detail=True, methods=["get"], url_path="verify")
    def verify_checkpoint(self, request: Request, pk: str | None = None) -> Response:
        ok, reason = audit.verify_checkpoint(audit.export_checkpoint(self.get_object()))
        return Response({"valid": ok, "reason": reason})


class JobViewSet(ReadOnlyRestrictedViewSet):
    """Background jobs you requested or that belong to your teams, with their progress and log.

    Cancelling is for the requester and the admins of the job's team (``Job.objects.restrict(user, "change")``).
    """

    queryset = Job.objects.select_related("team", "requested_by")
    serializer_class = s.JobSerializer
    permission_classes = WRITE_PERMISSIONS
    filterset_class = JobFilterSet
    lookup_field = "public_id"
    ordering_fields = ["created_at", "finished_at", "status"]

    def get_queryset(self) -> QuerySet[Any]:
        queryset = super().get_queryset()
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("log_lines")
        return queryset

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        return s.JobDetailSerializer if self.action == "retrieve" else s.JobSerializer

    @extend_schema(request=None, responses={200: s.JobSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, public_id: str | None = None) -> Response:
        return Response(s.JobSerializer(do_cancel_job(self.get_object(), actor=acting_user(request.user))).data)


class AuditVerificationViewSet(viewsets.GenericViewSet[Any]):
    """Start a background verification of the whole chain (for chains too long to verify within a request)."""

    permission_classes = [IsAuthenticated, IsAuditReader, IsNotServiceAccount]
    serializer_class = s.JobRequestSerializer

    @extend_schema(request=s.JobRequestSerializer, responses={202: s.JobSerializer, 200: s.JobSerializer})
    def create(self, request: Request) -> Response:
        return _start_job("audit.verify", request)


def _start_job(kind: str, request: Request) -> Response:
    """Start a job of ``kind`` for the requester: 202 with the new job, or 200 with the first one when the
    request's ``idempotency_key`` was seen before."""
    serializer = s.JobRequestSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    job, created = dispatch_job(
        kind, actor=request.user, idempotency_key=serializer.validated_data.get("idempotency_key", "")
    )
    return Response(s.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


def not_found_handler(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler404`` for the project: a path under /api/ that matches no route answers in the API's JSON shape."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": {"code": "not_found", "message": "No such endpoint. See /api/schema/ for the API's paths."}},
            status=404,
        )
    return defaults.page_not_found(request, exception or Http404())


def server_error_handler(request: HttpRequest) -> HttpResponse:
    """``handler500`` for the project: an unexpected error under /api/ answers JSON, never a Django HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": {"code": "server_error", "message": "An unexpected error occurred; it has been logged."}},
            status=500,
        )
    return defaults.server_error(request)


class GroupMappingViewSet(
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Any],
):
    """Identity-provider groups mapped to team roles (single sign-on, docs/sso.md). Platform administrators only."""

    serializer_class = s.GroupMappingSerializer
    permission_classes = [IsAuthenticated, IsSuperuser]
    filter_backends = FILTER_BACKENDS
    ordering_fields = ["idp_group", "created_at"]

    def get_queryset(self) -> QuerySet[GroupMapping]:
        return GroupMapping.objects.select_related("team", "created_by")

    def perform_create(self, serializer: BaseSerializer[GroupMapping]) -> None:
        data = serializer.validated_data
        serializer.instance = actions.do_create_group_mapping(
            actor=self.request.user,
            idp_group=data["idp_group"],
            team=data["team"],
            role=data["role"],
            board_role=data.get("board_role", ""),
        )

    def perform_destroy(self, instance: GroupMapping) -> None:
        actions.do_delete_group_mapping(instance, actor=self.request.user)
