"""What the lineage API reads and answers. Events themselves are validated by lineage.events against the OpenLineage
spec, not by a serializer; the read side (docs/lineage.md, "Reading the graph") returns names as stored: opaque
strings, escaped by whoever shows them."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.base import StrictModelSerializer, StrictSerializer
from lineage import links, presentation
from lineage.models import LineageDataset, LineageEvent, LineageJob, LineageRun, Namespace
from lineage.models.graph import MAX_NAME
from lineage.traversal import node_key


class EventErrorSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    field = serializers.CharField(help_text="Where in the event: run.runId, inputs[3].name ('' for the whole event).")
    message = serializers.CharField()


class EventResultSerializer(serializers.Serializer[Any]):
    index = serializers.IntegerField(help_text="The event's position in the batch, from 0.")
    status = serializers.CharField(help_text="stored, duplicate or refused (then error says why).")
    digest = serializers.CharField(required=False, help_text="SHA-256 of the event's canonical JSON (RFC 8785).")
    error = EventErrorSerializer(required=False)


class SingleResultSerializer(serializers.Serializer[Any]):
    status = serializers.CharField(help_text="stored (201), or duplicate (200: the same event was stored before).")
    digest = serializers.CharField()


class BatchReportSerializer(serializers.Serializer[Any]):
    received = serializers.IntegerField()
    stored = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    refused = serializers.IntegerField()
    results = EventResultSerializer(many=True)


class NamespaceSerializer(StrictModelSerializer):
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    claimed_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Namespace
        fields = ["id", "name", "team", "first_seen_at", "claimed_at", "claimed_by"]
        read_only_fields = fields


class AssignmentSerializer(StrictSerializer):
    team = serializers.SlugField(help_text="The slug of the team the namespace is given to.")


# --- The read side -----------------------------------------------------------------------------------------------

# The longest nodeId accepted: a kind, a namespace, a name and a field, each at most MAX_NAME.
MAX_NODE_ID = 3 * MAX_NAME + 32


class LineageDatasetSerializer(serializers.ModelSerializer[Any]):
    """A dataset node. ``registered``/``registry``: what it links to (lineage.links), resolved now."""

    namespace = serializers.CharField(source="namespace.name", read_only=True)
    node_id = serializers.SerializerMethodField()
    registered = serializers.SerializerMethodField()
    registry = serializers.SerializerMethodField()
    lineage_url = serializers.SerializerMethodField()

    class Meta:
        model = LineageDataset
        fields = [
            "id",
            "node_id",
            "namespace",
            "name",
            "registered",
            "registry",
            "facets",
            "first_seen_at",
            "last_seen_at",
            "lineage_url",
        ]

    def link(self, node: LineageDataset) -> links.Link:
        found: dict[int, links.Link] = self.context.get("links") or {}
        return found.get(node.pk) or links.link_of(node)

    def get_node_id(self, node: LineageDataset) -> str:
        return node_key("dataset", node.namespace.name, node.name)

    def get_registered(self, node: LineageDataset) -> bool:
        return self.link(node).target is not None

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_registry(self, node: LineageDataset) -> dict[str, Any] | None:
        return presentation.registry_reference(self.link(node))

    def get_lineage_url(self, node: LineageDataset) -> str:
        return reverse("lineage-page-dataset", args=[node.pk])


class RunSummarySerializer(serializers.ModelSerializer[Any]):
    run_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = LineageRun
        fields = ["run_id", "state", "state_at"]


class LineageJobSerializer(serializers.ModelSerializer[Any]):
    namespace = serializers.CharField(source="namespace.name", read_only=True)
    node_id = serializers.SerializerMethodField()
    lineage_url = serializers.SerializerMethodField()

    class Meta:
        model = LineageJob
        fields = ["id", "node_id", "namespace", "name", "facets", "first_seen_at", "last_seen_at", "lineage_url"]

    def get_node_id(self, job: LineageJob) -> str:
        return node_key("job", job.namespace.name, job.name)

    def get_lineage_url(self, job: LineageJob) -> str:
        return reverse("lineage-page-job", args=[job.pk])


class TransitionSerializer(serializers.Serializer[Any]):
    state = serializers.CharField(read_only=True)
    event_time = serializers.DateTimeField(read_only=True)


class LineageRunSerializer(serializers.ModelSerializer[Any]):
    """A run: its state folded from its events, its history, and where its events are."""

    job = serializers.SerializerMethodField()
    failed = serializers.SerializerMethodField()
    transitions = TransitionSerializer(many=True, read_only=True)
    events_url = serializers.SerializerMethodField()
    assay_job = serializers.UUIDField(source="assay_job.public_id", read_only=True, allow_null=True)

    class Meta:
        model = LineageRun
        fields = [
            "run_id",
            "job",
            "state",
            "failed",
            "state_at",
            "started_at",
            "ended_at",
            "parent_run_id",
            "facets",
            "assay_job",
            "transitions",
            "events_url",
        ]

    def get_job(self, run: LineageRun) -> str:
        return node_key("job", run.job.namespace.name, run.job.name)

    def get_failed(self, run: LineageRun) -> bool:
        return run.state in presentation.FAILED_STATES

    def get_events_url(self, run: LineageRun) -> str:
        return reverse("lineage-run-events", args=[run.run_id])


class LineageEventSerializer(serializers.ModelSerializer[Any]):
    """An event as it arrived (``payload``, verbatim)."""

    class Meta:
        model = LineageEvent
        fields = ["digest", "kind", "event_type", "event_time", "source", "received_at", "payload"]


# --- Query parameters --------------------------------------------------------------------------------------------


class GraphQuerySerializer(StrictSerializer):
    """``GET /lineage``: Marquez's ``nodeId`` and ``depth``, and the direction."""

    nodeId = serializers.CharField(max_length=MAX_NODE_ID, help_text="dataset:<namespace>:<name> or job:...")
    depth = serializers.IntegerField(required=False, min_value=0)
    direction = serializers.ChoiceField(choices=["upstream", "downstream", "both"], required=False, default="both")


class ColumnQuerySerializer(StrictSerializer):
    """``GET /lineage/column``: a dataset (``dataset:<namespace>:<name>``, one ``field`` of it or all) or one of
    its fields (``datasetField:<namespace>:<name>:<field>``)."""

    nodeId = serializers.CharField(max_length=MAX_NODE_ID)
    field = serializers.CharField(max_length=MAX_NAME, required=False)
    depth = serializers.IntegerField(required=False, min_value=0)
    direction = serializers.ChoiceField(choices=["upstream", "downstream", "both"], required=False, default="upstream")


class GraphSerializer(serializers.Serializer[Any]):
    """Marquez's lineage graph."""

    graph = serializers.ListField(child=serializers.DictField(), read_only=True)


class ClosureSerializer(GraphSerializer):
    """A model version's upstream closure: the graph, its runs, its raw inputs, whether it was cut short."""

    modelVersion = serializers.DictField(read_only=True)
    producingRun = serializers.DictField(read_only=True, allow_null=True)
    runs = serializers.ListField(child=serializers.DictField(), read_only=True)
    rawInputs = serializers.ListField(child=serializers.CharField(), read_only=True)
    truncated = serializers.BooleanField(read_only=True)
