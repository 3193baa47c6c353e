"""The lineage API (docs/lineage.md). The write side: Assay as an OpenLineage backend (``POST /api/v1/lineage``, what
the OpenLineage HTTP transport sends) and the namespaces teams own; views parse and call lineage.actions, they write
nothing themselves ("Ingest" has the request and answer shapes). The read side ("Reading the graph"): the graph
around a node in Marquez's shape (``GET /api/v1/lineage``), column lineage, a run's events, a model version's
upstream closure, and lists of datasets, jobs and runs. What a reader sees is decided in SQL (lineage.querysets):
the starting node must be theirs (else 404, as a missing one); other teams' nodes a walk reaches are opaque
(lineage.presentation)."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, OpenApiTypes, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import acting_user
from core.api.base import ApiViewMixin, ReadOnlyRestrictedViewSet
from core.api.throttling import UserRateThrottle
from core.models import Team
from core.querysets import VIEW
from lineage import actions, links, nodeids, presentation, traversal
from lineage.api import serializers as s
from lineage.api.parsers import Events, NDJSONParser, OpenLineageParser
from lineage.filtersets import LineageDatasetFilterSet, LineageJobFilterSet, LineageRunFilterSet, NamespaceFilterSet
from lineage.models import LineageDataset, LineageEvent, LineageJob, LineageRun, Namespace, RunTransition
from lineage.querysets import visible_datasets, visible_jobs
from registry.models import ModelVersion


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


# --- The read side ------------------------------------------------------------------------------------------------

GRAPH_PARAMETERS = [
    OpenApiParameter("nodeId", OpenApiTypes.STR, required=True, description="dataset:<namespace>:<name> or job:..."),
    OpenApiParameter("depth", OpenApiTypes.INT, description=f"Jobs away, 0..{traversal.MAX_DEPTH} (default 3)"),
    OpenApiParameter("direction", OpenApiTypes.STR, enum=list(traversal.WAYS), description="Default both"),
]


def read_query(serializer_class: type[serializers.Serializer[Any]], request: Request) -> dict[str, Any]:
    """The query parameters, validated (unknown ones refused); depth beyond the maximum is a 400 naming it."""
    query = serializer_class(data=request.query_params.dict())
    query.is_valid(raise_exception=True)
    data: dict[str, Any] = dict(query.validated_data)
    depth = data.get("depth", traversal.DEFAULT_DEPTH)
    if depth > traversal.MAX_DEPTH:
        raise serializers.ValidationError({"depth": [f"At most {traversal.MAX_DEPTH}."]})
    data["depth"] = depth
    return data


def find_node(node_id: str, request: Request) -> nodeids.Found:
    try:
        found = nodeids.find(node_id, request.user)
    except nodeids.BadNodeId as bad:
        raise serializers.ValidationError({"nodeId": [str(bad)]}) from None
    if found is None:
        raise Http404("No such node.")
    return found


class LineageView(IngestView):
    """``/lineage``: POST events in (IngestView), GET the graph around a dataset or a job, Marquez's shape (the
    same path as Marquez's, so that its users and the OpenLineage HTTP transport both find it)."""

    @extend_schema(operation_id="lineage_graph", parameters=GRAPH_PARAMETERS, responses=s.GraphSerializer)
    def get(self, request: Request) -> Response:
        """The datasets and jobs around ``nodeId``, upstream, downstream or both, to ``depth`` jobs away. Every
        node says whether it is registered (and links to its registry object), failed or holds personal data;
        another team's nodes are opaque (``"visible": false``)."""
        query = read_query(s.GraphQuerySerializer, request)
        found = find_node(query["nodeId"], request)
        if query["nodeId"].startswith("datasetField:"):
            raise serializers.ValidationError({"nodeId": ["A field's lineage is at /api/v1/lineage/column."]})
        graph = traversal.lineage_graph(found.node, way=query["direction"], depth=query["depth"])
        return Response(presentation.describe(graph.nodes, graph.edges, request.user))


class ColumnGraphView(ApiViewMixin):
    """``GET /lineage/column``: column-level lineage, Marquez's column-lineage shape."""

    filter_backends: list[Any] = []
    pagination_class = None
    serializer_class = s.GraphSerializer

    @extend_schema(
        operation_id="lineage_column_graph",
        parameters=[
            OpenApiParameter(
                "nodeId",
                OpenApiTypes.STR,
                required=True,
                description="dataset:<namespace>:<name> or datasetField:<namespace>:<name>:<field>",
            ),
            OpenApiParameter("field", OpenApiTypes.STR, description="One field of the dataset (default: all)"),
            OpenApiParameter("depth", OpenApiTypes.INT, description=f"0..{traversal.MAX_DEPTH} (default 3)"),
            OpenApiParameter("direction", OpenApiTypes.STR, enum=list(traversal.WAYS), description="Default upstream"),
        ],
        responses=s.GraphSerializer,
    )
    def get(self, request: Request) -> Response:
        """The fields a dataset's fields derive from (upstream), feed (downstream) or both, from the
        ``columnLineage`` facets, with their transformations."""
        query = read_query(s.ColumnQuerySerializer, request)
        found = find_node(query["nodeId"], request)
        if not isinstance(found.node, LineageDataset):
            raise serializers.ValidationError({"nodeId": ["Column lineage starts at a dataset or a dataset field."]})
        field_name = found.field or query.get("field")
        graph = traversal.column_graph(found.node, field_name=field_name, way=query["direction"], depth=query["depth"])
        return Response(presentation.describe_columns(graph.nodes, graph.edges, request.user))


class ModelVersionLineageView(ApiViewMixin):
    """``GET /model-versions/{id}/lineage/``: a model version's upstream closure back to its raw sources."""

    filter_backends: list[Any] = []
    pagination_class = None
    serializer_class = s.ClosureSerializer

    @extend_schema(operation_id="model_versions_lineage", responses=s.ClosureSerializer)
    def get(self, request: Request, pk: int) -> Response:
        """The run that produced the version, that run's inputs, the runs that produced those, and so on: the graph,
        the runs nearest first with the dataset versions they read, the raw inputs, and whether the walk was cut
        short at its depth (``truncated``)."""
        queryset = ModelVersion.objects.restrict(request.user, VIEW).select_related("model__team")
        version = get_object_or_404(queryset, pk=pk)
        closure = traversal.upstream_closure(version)
        document = presentation.describe_closure(closure, request.user)
        document["modelVersion"] = {
            "id": version.pk,
            "model": version.model.name,
            "number": version.number,
            "artifactSha256": version.artifact_sha256,
        }
        return Response(document)


class LineageDatasetViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet[Any]):
    """Dataset nodes of your teams' namespaces (filter by ``namespace``, ``name``, ``q``, ``registered``,
    ``registry_dataset`` id); each says what registry object it resolves to now."""

    queryset = LineageDataset.objects.select_related(*presentation.LINK_JOINS)
    serializer_class = s.LineageDatasetSerializer
    filterset_class = LineageDatasetFilterSet
    ordering_fields = ["name", "first_seen_at", "last_seen_at"]

    def get_queryset(self) -> QuerySet[Any]:
        return super().get_queryset().filter(visible_datasets(self.request.user))

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        context["links"] = getattr(self, "page_links", {})
        return context

    def paginate_queryset(self, queryset: Any) -> Any:
        page = super().paginate_queryset(queryset)
        self.page_links = links.lookup(list(page)) if page is not None else {}
        return page

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        node = self.get_object()
        self.page_links = links.lookup([node])
        return Response(self.get_serializer(node).data)


class LineageJobViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet[Any]):
    """Jobs of your teams' namespaces (filter by ``namespace``, ``name``, ``q``)."""

    queryset = LineageJob.objects.select_related("namespace")
    serializer_class = s.LineageJobSerializer
    filterset_class = LineageJobFilterSet
    ordering_fields = ["name", "first_seen_at", "last_seen_at"]

    def get_queryset(self) -> QuerySet[Any]:
        return super().get_queryset().filter(visible_jobs(self.request.user))


class LineageRunViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet[Any]):
    """Runs of your teams' jobs, latest first (filter by ``namespace``, ``job``, ``state``, ``after``,
    ``before``); ``failed`` flags FAIL and ABORT."""

    queryset = LineageRun.objects.select_related("job__namespace", "assay_job").prefetch_related(
        Prefetch("transitions", queryset=RunTransition.objects.order_by("event_time", "pk"))
    )
    serializer_class = s.LineageRunSerializer
    filterset_class = LineageRunFilterSet
    ordering_fields = ["state_at", "started_at", "ended_at"]
    lookup_field = "run_id"
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    def get_queryset(self) -> QuerySet[Any]:
        return super().get_queryset().filter(visible_jobs(self.request.user, prefix="job__"))


class RunEventsViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet[Any]):
    """``GET /lineage/runs/{runId}/events``: a run's events as they arrived, in event-time order."""

    queryset = LineageEvent.objects.all()
    serializer_class = s.LineageEventSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return LineageEvent.objects.none()
        runs = LineageRun.objects.filter(visible_jobs(self.request.user, prefix="job__"))
        run = get_object_or_404(runs, run_id=self.kwargs["run_id"])
        events: QuerySet[Any] = LineageEvent.objects.restrict(self.request.user, VIEW)
        return events.filter(run_id=run.run_id).order_by("event_time", "pk")


class LineageSlashView(LineageView):
    """``/lineage/``: the same endpoint for clients configured with a trailing slash; documented once, without."""

    schema = None
