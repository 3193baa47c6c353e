"""The lineage API's write side: Assay as an OpenLineage backend (``POST /api/v1/lineage``, what the OpenLineage
HTTP transport sends) and the namespaces teams own. Views parse and call lineage.actions; they write nothing
themselves. docs/lineage.md, "Ingest", has the request and answer shapes and why."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import acting_user
from core.api.base import ReadOnlyRestrictedViewSet
from core.api.throttling import UserRateThrottle
from core.models import Team
from core.querysets import VIEW
from lineage import actions
from lineage.api import serializers as s
from lineage.api.parsers import Events, NDJSONParser, OpenLineageParser
from lineage.filtersets import NamespaceFilterSet
from lineage.models import LineageEvent, Namespace


class LineageRateThrottle(UserRateThrottle):
    """Producers send one request per event: their own budget (``API_THROTTLE_LINEAGE``), not the API's."""

    scope = "lineage"


class IngestView(APIView):
    """Receive OpenLineage events (RunEvent, DatasetEvent, JobEvent), one per request or in a batch."""

    queryset = LineageEvent.objects.none()  # the model this endpoint writes (tests/test_coverage_meta.py)
    permission_classes = [IsAuthenticated]
    parser_classes = [OpenLineageParser, NDJSONParser]
    throttle_classes = [LineageRateThrottle]

    @extend_schema(
        operation_id="lineage_ingest",
        request={
            "application/json": OpenApiTypes.OBJECT,
            "application/x-ndjson": OpenApiTypes.STR,
        },
        parameters=[
            OpenApiParameter(
                "team",
                str,
                description="The team to claim unclaimed namespaces for, when you write for several teams.",
            )
        ],
        responses={
            201: s.SingleResultSerializer,
            200: OpenApiResponse(
                s.BatchReportSerializer,
                description="A batch (an array or NDJSON): each event's result. A single duplicate event: "
                "{status: duplicate, digest}.",
            ),
            413: OpenApiResponse(description="The body is over LINEAGE_MAX_BODY_BYTES (compressed or not)."),
        },
    )
    def post(self, request: Request) -> Response:
        """An event (a JSON object) answers 201 when stored, 200 when it was stored before (a duplicate), or the
        API's error shape naming the field at fault. A batch (a JSON array, or NDJSON) answers 200 with a result per
        event: a good event is stored even when another is refused. gzip bodies are accepted."""
        events = request.data
        if not isinstance(events, Events):
            raise ParseError("Send an OpenLineage event (JSON) or a batch (a JSON array, or NDJSON).")
        report = actions.do_ingest_events(events.items, actor=acting_user(request.user), team=self._team(request))
        if events.batch:
            body: dict[str, Any] = {"received": len(events.items), **report.counts}
            body["results"] = [result.as_dict() for result in report.results]
            return Response(body, status=status.HTTP_200_OK)
        (result,) = report.results
        if result.status == actions.REFUSED:
            return Response(
                {
                    "error": {
                        "code": result.code,
                        "message": f"{result.field}: {result.message}" if result.field else result.message,
                        "fields": {result.field or "non_field_errors": [result.message]},
                    }
                },
                status=result.http_status,
            )
        return Response({"status": result.status, "digest": result.digest}, status=result.http_status)

    @staticmethod
    def _team(request: Request) -> Team | None:
        slug = request.query_params.get("team")
        if slug is None:
            return None
        team = Team.objects.restrict(request.user, VIEW).filter(slug=slug).first()
        if team is None:
            raise serializers.ValidationError({"team": [f"Object with slug={slug} does not exist."]})
        return team


class NamespaceViewSet(ReadOnlyRestrictedViewSet):
    """The OpenLineage namespaces of your teams (a platform admin sees every one, unclaimed ones included).

    A namespace is claimed by the first team that writes into it; a platform admin may assign it to another."""

    queryset = Namespace.objects.select_related("team", "claimed_by")
    serializer_class = s.NamespaceSerializer
    filterset_class = NamespaceFilterSet
    ordering_fields = ["name", "first_seen_at", "claimed_at"]

    @extend_schema(request=s.AssignmentSerializer, responses={200: s.NamespaceSerializer})
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str | None = None) -> Response:
        """Give the namespace to a team (platform admins only): its writers are that team's from now on."""
        namespace = self.get_object()
        serializer = s.AssignmentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team = get_object_or_404(Team, slug=serializer.validated_data["team"])
        namespace = actions.do_assign_namespace(namespace, team, actor=acting_user(request.user))
        return Response(s.NamespaceSerializer(namespace).data)

    def get_serializer_class(self) -> Any:
        return s.AssignmentSerializer if self.action == "assign" else super().get_serializer_class()
