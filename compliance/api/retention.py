"""The retention API: policies (a change is a new version), the registered target kinds, what expires soon, the
tombstones, a run of the retention job, and the manual deletion of a dataset version's files or a retired model
version's artifact (through the same purge as the job, refused with 409 under a legal hold).

Reads are restricted in SQL to the caller's teams; writes are for the team's compliance officers (deletions: the
owner, a team admin or a superuser). Views validate input and call compliance.actions.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance import actions
from compliance.actions.retention import MAX_KEEP_DAYS, may_delete
from compliance.api import retention_serializers as s
from compliance.api.access import officer_teams, visible_team_ids
from compliance.filtersets import PurgeFilterSet, RetentionPolicyFilterSet
from compliance.models import Purge, RetentionPolicy, RetentionPolicyVersion
from compliance.retention import targets
from core.actors import acting_user
from core.api.base import ReadOnlyRestrictedViewSet, RestrictedViewSetMixin, TeamScopedCreateMixin
from core.api.permissions import RestrictedObjectPermission
from core.api.serializers import JobSerializer
from core.models import Team
from core.querysets import VIEW
from registry.models import DatasetVersion, ModelVersion

WRITE_PERMISSIONS: list[Any] = [IsAuthenticated, RestrictedObjectPermission]
EXPIRING_WINDOWS = (30, 90)


class RetentionPolicyViewSet(
    TeamScopedCreateMixin, RestrictedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Any]
):
    """Retention policies: how long a team keeps one kind of record of one classification, counted from what, and
    what happens then. Every change is a new version (``versions/``), recorded and audited."""

    queryset = RetentionPolicy.objects.select_related("team", "created_by").prefetch_related(
        Prefetch("versions", queryset=RetentionPolicyVersion.objects.select_related("created_by"))
    )
    serializer_class = s.RetentionPolicySerializer
    permission_classes = WRITE_PERMISSIONS
    filterset_class = RetentionPolicyFilterSet
    ordering_fields = ["target_kind", "classification", "created_at"]
    team_writers = "compliance officers"

    def writable_teams(self, action: str) -> QuerySet[Any]:
        return officer_teams(self.request.user) if action != VIEW else super().writable_teams(action)

    def get_serializer_class(self) -> Any:
        return s.RetentionPolicyCreateSerializer if self.action == "create" else s.RetentionPolicySerializer

    @extend_schema(request=s.RetentionPolicyCreateSerializer, responses={201: s.RetentionPolicySerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().create(request, *args, **kwargs)
        response.data = s.RetentionPolicySerializer(self.created).data
        return response

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        team = data.pop("team")
        created = actions.do_create_retention_policy(team, actor=acting_user(self.request.user), **data)
        self.created = self.get_queryset().get(pk=created.pk)

    @extend_schema(request=s.RetentionPolicyChangeSerializer, responses={201: s.RetentionPolicySerializer})
    @action(detail=True, methods=["post"])
    def versions(self, request: Request, pk: str | None = None) -> Response:
        """A new version of the policy: ``{"keep_days": 730, "note": "why"}`` (what is left out is kept)."""
        policy = self.get_object()
        serializer = s.RetentionPolicyChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actions.do_change_retention_policy(policy, actor=acting_user(request.user), **serializer.validated_data)
        return Response(
            s.RetentionPolicySerializer(self.get_queryset().get(pk=policy.pk)).data, status=status.HTTP_201_CREATED
        )


class PurgeViewSet(ReadOnlyRestrictedViewSet):
    """Tombstones: what was purged (or is being), when, under which policy or by whom, and what its bytes were."""

    queryset = Purge.objects.select_related("team", "policy_version__policy", "job")
    serializer_class = s.PurgeSerializer
    filterset_class = PurgeFilterSet
    ordering_fields = ["started_at", "completed_at"]


class RetentionTargetsView(APIView):
    """The kinds of record retention can expire, with the dates each counts from and what it can do at the end."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: s.RetentionTargetSerializer(many=True)})
    def get(self, request: Request) -> Response:
        rows = [
            {
                "kind": t.kind,
                "label": t.label,
                "description": t.description,
                "counted_from": list(t.counted_from),
                "on_expiry": list(t.on_expiry),
            }
            for t in targets().values()
        ]
        return Response(s.RetentionTargetSerializer(rows, many=True).data)


class WithinSerializer(serializers.Serializer[Any]):
    within = serializers.IntegerField(min_value=1, max_value=MAX_KEEP_DAYS, required=False, default=30)


class ExpiringView(APIView):
    """What the policies expire in the next ``within`` days (30 by default; 90 for the longer view), oldest first,
    with the holds that will keep a record past its date. Already expired records waiting for the next run too."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[OpenApiParameter("within", int, description="Days ahead (1 to 36500).")],
        responses={200: s.ExpiringSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        query = WithinSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = actions.expiring(visible_team_ids(request.user), within_days=query.validated_data["within"])
        return Response(s.ExpiringSerializer(rows, many=True).data)


class RetentionRunView(APIView):
    """Start the retention job for a team (its compliance officers) or every team (platform administrators):
    ``{"team": "risk", "dry_run": true}``. A dry run lists what would go in the job's result; nothing is deleted."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.RetentionRunSerializer, responses={202: JobSerializer, 200: JobSerializer})
    def post(self, request: Request) -> Response:
        slug = request.data.get("team") if isinstance(request.data, dict) else None
        if isinstance(slug, str) and not officer_teams(request.user).filter(slug=slug).exists():
            if Team.objects.restrict(request.user, VIEW).filter(slug=slug).exists():
                raise PermissionDenied(f"Only compliance officers of team {slug} run its retention.")
            raise serializers.ValidationError({"team": [f"Object with slug={slug} does not exist."]})
        serializer = s.RetentionRunSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job, created = actions.do_request_retention_run(
            data["team"],
            actor=acting_user(request.user),
            dry_run=data["dry_run"],
            idempotency_key=data.get("idempotency_key", ""),
        )
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


def _delete(request: Request, record: DatasetVersion | ModelVersion) -> Response:
    # "You may see it but not delete it" is answered before the body is read (core.api.permissions).
    if not may_delete(acting_user(request.user), record):
        raise PermissionDenied("Only the owner, a team admin or a superuser may delete these bytes.")
    serializer = s.DeletionSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    purge = actions.do_delete_record_bytes(
        record, actor=acting_user(request.user), reason=serializer.validated_data["reason"]
    )
    return Response(s.PurgeSerializer(purge).data, status=status.HTTP_200_OK)


class DatasetVersionFilesView(APIView):
    """Delete a dataset version's files (the owner, a team admin or a superuser): the row stays with a tombstone.
    409 under a legal hold, with nothing deleted."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.DeletionSerializer, responses={200: s.PurgeSerializer})
    def post(self, request: Request, pk: int) -> Response:
        queryset = DatasetVersion.objects.restrict(request.user, VIEW).select_related("dataset__team")
        return _delete(request, get_object_or_404(queryset, pk=pk))


class ModelVersionArtifactView(APIView):
    """Delete a retired model version's artifact (the owner, a team admin or a superuser): the row stays with a
    tombstone, the download answers 410 Gone. 409 under a legal hold, or for a version not retired."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.DeletionSerializer, responses={200: s.PurgeSerializer})
    def post(self, request: Request, pk: int) -> Response:
        queryset = ModelVersion.objects.restrict(request.user, VIEW).select_related("model__team")
        return _delete(request, get_object_or_404(queryset, pk=pk))
