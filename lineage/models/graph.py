"""The lineage graph, folded from events (lineage.models.events): what the traversals and the gate read.

Datasets and jobs are identified as OpenLineage identifies them, by (namespace, name); names are stored opaque
(never parsed as paths) and escaped wherever shown. A dataset may resolve to a registry object (a dataset version,
a feature-set version or a model version): that link is what makes a node "registered".
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.querysets import RestrictedQuerySet
from lineage.choices import Direction, RunState
from registry.querysets import REGISTRY_POLICY

# Longest namespace and name accepted (the ingestion endpoint refuses longer ones with a 400 naming the field).
MAX_NAME = 1024


class Namespace(models.Model):
    """An OpenLineage namespace (``postgres://db:5432``, ``s3://bucket``, ``assay``) and the team that owns it.

    A namespace is claimed by the first team whose token writes into it (a job's namespace, an output's), or
    assigned by a platform admin; only that team's tokens may write into it afterwards. ``team`` is null while the
    namespace has only been named as somebody's input (read from, never written). ``claimed_by`` is who claimed or
    assigned it (null once deleted), ``claimed_at`` when.
    """

    name = models.CharField(max_length=MAX_NAME, unique=True)
    team = models.ForeignKey(
        "core.Team", on_delete=models.PROTECT, null=True, blank=True, related_name="lineage_namespaces"
    )
    first_seen_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "team_id"
    access_policy = REGISTRY_POLICY

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LineageDataset(models.Model):
    """A dataset as lineage knows it: (namespace, name), the facets last seen (verbatim) and the registry object it
    resolves to, if any (lineage.naming has the conventions; at most one of the three links is set; none:
    "unregistered"). A registry dataset is one node whatever its versions: which version a run read or wrote is on
    the run's edge (``RunEdge.dataset_version``). Feature-set and model versions are a node each."""

    namespace = models.ForeignKey(Namespace, on_delete=models.PROTECT, related_name="datasets")
    name = models.CharField(max_length=MAX_NAME)
    facets = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    registry_dataset = models.ForeignKey(
        "registry.Dataset", on_delete=models.SET_NULL, null=True, blank=True, related_name="lineage_nodes"
    )
    feature_set_version = models.ForeignKey(
        "registry.FeatureSetVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="lineage_nodes"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="lineage_nodes"
    )

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "namespace__team_id"
    access_policy = REGISTRY_POLICY

    class Meta:
        ordering = ["namespace_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], name="lineage_dataset_unique_name"),
            models.CheckConstraint(
                condition=(
                    models.Q(registry_dataset__isnull=True, feature_set_version__isnull=True)
                    | models.Q(registry_dataset__isnull=True, model_version__isnull=True)
                    | models.Q(feature_set_version__isnull=True, model_version__isnull=True)
                ),
                name="lineage_dataset_one_link",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.namespace.name}/{self.name}"


class DatasetSchema(models.Model):
    """One schema a dataset has had over time (the ``schema`` facet's fields, verbatim), first seen in ``event``;
    ``digest`` is the SHA-256 of the fields' canonical JSON, so a schema seen again is not stored twice."""

    dataset = models.ForeignKey(LineageDataset, on_delete=models.CASCADE, related_name="schemas")
    digest = models.CharField(max_length=64)
    fields = models.JSONField(default=list)
    first_seen_at = models.DateTimeField()
    event = models.ForeignKey("lineage.LineageEvent", on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        ordering = ["dataset_id", "first_seen_at"]
        constraints = [models.UniqueConstraint(fields=["dataset", "digest"], name="lineage_schema_unique_digest")]

    def __str__(self) -> str:
        return f"{self.dataset_id}@{self.digest[:12]}"


class LineageJob(models.Model):
    """A job as lineage knows it: (namespace, name) and the job facets last seen, verbatim."""

    namespace = models.ForeignKey(Namespace, on_delete=models.PROTECT, related_name="jobs")
    name = models.CharField(max_length=MAX_NAME)
    facets = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "namespace__team_id"
    access_policy = REGISTRY_POLICY

    class Meta:
        ordering = ["namespace_id", "name"]
        constraints = [models.UniqueConstraint(fields=["namespace", "name"], name="lineage_job_unique_name")]

    def __str__(self) -> str:
        return f"{self.namespace.name}/{self.name}"


class LineageRun(models.Model):
    """One run of a job (OpenLineage ``runId``). ``state`` is folded from its transitions whatever order they
    arrived in: a terminal state (COMPLETE, ABORT, FAIL) wins over START/RUNNING, otherwise the latest by event
    time. ``job`` (an Assay job record) is set when Assay's own job emitted the run."""

    run_id = models.UUIDField(unique=True)
    job = models.ForeignKey(LineageJob, on_delete=models.PROTECT, related_name="runs")
    state = models.CharField(max_length=16, choices=RunState.choices)
    state_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    parent_run_id = models.UUIDField(null=True, blank=True)
    facets = models.JSONField(default=dict, blank=True)
    assay_job = models.ForeignKey(
        "core.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="lineage_runs"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "job__namespace__team_id"
    access_policy = REGISTRY_POLICY

    class Meta:
        ordering = ["-state_at"]
        indexes = [models.Index(fields=["job", "state_at"], name="lineage_run_job_time")]

    def __str__(self) -> str:
        return str(self.run_id)


class RunTransition(models.Model):
    """A state a run reported (one per run event), in event-time order: the run's state history."""

    run = models.ForeignKey(LineageRun, on_delete=models.CASCADE, related_name="transitions")
    state = models.CharField(max_length=16, choices=RunState.choices)
    event_time = models.DateTimeField()
    event = models.ForeignKey("lineage.LineageEvent", on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["run_id", "event_time", "pk"]
        constraints = [models.UniqueConstraint(fields=["run", "event"], name="lineage_transition_unique_event")]

    def __str__(self) -> str:
        return f"{self.state} at {self.event_time:%Y-%m-%dT%H:%M:%SZ}"


class RunEdge(models.Model):
    """A run read (``input``) or wrote (``output``) a dataset; ``schema`` is the dataset's schema as that run saw
    it and ``facets`` the dataset's facets in that event (input/output facets included), verbatim. ``version`` is
    the dataset version the event named (the ``version`` facet's ``datasetVersion``) and ``dataset_version`` the
    registry dataset version it resolves to (lineage.naming). Traversals walk these: upstream from a dataset is the
    runs that output it, then their inputs."""

    run = models.ForeignKey(LineageRun, on_delete=models.CASCADE, related_name="edges")
    dataset = models.ForeignKey(LineageDataset, on_delete=models.PROTECT, related_name="edges")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    schema = models.ForeignKey(DatasetSchema, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    facets = models.JSONField(default=dict, blank=True)
    version = models.CharField(max_length=256, blank=True)
    dataset_version = models.ForeignKey(
        "registry.DatasetVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="lineage_edges"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "dataset", "direction"], name="lineage_edge_unique"),
        ]
        indexes = [
            models.Index(fields=["dataset", "direction"], name="lineage_edge_dataset"),
            # lineage.traversal: the producer of the version a run read
            models.Index(fields=["dataset", "direction", "version"], name="lineage_edge_dataset_version"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id} {self.direction} {self.dataset_id}"


class ColumnEdge(models.Model):
    """A field of an output dataset derived from a field of an input dataset (the ``columnLineage`` facet), with
    the transformations as the facet gave them. ``run`` is null when a DatasetEvent carried the facet."""

    run = models.ForeignKey(LineageRun, on_delete=models.CASCADE, null=True, blank=True, related_name="column_edges")
    output_dataset = models.ForeignKey(LineageDataset, on_delete=models.PROTECT, related_name="column_edges_in")
    output_field = models.CharField(max_length=MAX_NAME)
    input_dataset = models.ForeignKey(LineageDataset, on_delete=models.PROTECT, related_name="column_edges_out")
    input_field = models.CharField(max_length=MAX_NAME)
    transformations = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "output_dataset", "output_field", "input_dataset", "input_field"],
                name="lineage_column_edge_unique",
                condition=models.Q(run__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["output_dataset", "output_field", "input_dataset", "input_field"],
                name="lineage_column_edge_unique_no_run",
                condition=models.Q(run__isnull=True),
            ),
        ]
        indexes = [
            models.Index(fields=["output_dataset", "output_field"], name="lineage_column_output"),
            # lineage.traversal: column lineage walked downstream
            models.Index(fields=["input_dataset", "input_field"], name="lineage_column_input"),
        ]

    def __str__(self) -> str:
        return f"{self.input_dataset_id}.{self.input_field} -> {self.output_dataset_id}.{self.output_field}"
