from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.querysets import RestrictedQuerySet
from registry.models.base import TeamObject
from registry.models.datasets import SHA256_HEX
from registry.models.validators import validate_json_object
from registry.querysets import REGISTRY_POLICY


class FeatureView(TeamObject):
    """A named group of features computed for one entity from one source dataset (metadata: Assay does not
    materialize them yet).

    ``name``, ``entity`` and each feature's name follow the identifier convention (registry.naming.
    validate_identifier: lower snake_case ASCII, see docs/registry-rules.md), because they end up in code and SQL.
    ``source_dataset`` (of the same team) is where the rows come from and ``event_time_column`` the column that
    places each row in time. ``features`` lists ``{"name", "definition", "aggregation", "window", "description"}``:
    the expression computed, how it is aggregated (registry.choices.Aggregation) over which window (``7d``,
    ``24h``; empty for ``none``). ``description`` is the documentation.
    """

    team = models.ForeignKey("core.Team", on_delete=models.PROTECT, related_name="feature_views")
    name = models.CharField(max_length=63)
    entity = models.CharField(max_length=63)
    source_dataset = models.ForeignKey("registry.Dataset", on_delete=models.PROTECT, related_name="feature_views")
    event_time_column = models.CharField(max_length=128)
    features = models.JSONField(default=list)
    description = models.TextField(blank=True)

    class Meta(TeamObject.Meta):
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="feature_view_unique_name_per_team")]


class FeatureSetVersion(models.Model):
    """One immutable, numbered state of a feature view: the definitions and dataset versions it was built from.

    ``features`` is a copy of the view's definitions when the version was registered, ``dataset_versions`` the
    pinned inputs, ``fingerprint`` the SHA-256 of both (canonical JSON, with the datasets' content fingerprints), so
    that equal inputs give equal fingerprints. ``statistics`` maps feature names to numbers when known
    (``{"tenure_days": {"mean": 412.5, "null_fraction": 0.0}}``); a materialized version's statistics also hold
    ``quantiles`` and a ``histogram`` (lists of numbers), the baseline for drift monitoring.

    A version written by a materialization job (registry.pipelines.features) also records the ``job`` that produced
    it (at most one version per job, so a retried job registers nothing twice), the ``storage_location`` of its
    partitioned Parquet, the ``row_count`` and the ``output_fingerprint``: SHA-256 of the canonical JSON list of
    the output's files (relative path, size, SHA-256 of the bytes), so that re-hashing the files proves they are
    the ones registered. Those three are set together or not at all. Database triggers refuse any UPDATE.
    """

    feature_view = models.ForeignKey(FeatureView, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    features = models.JSONField()
    dataset_versions = models.ManyToManyField("registry.DatasetVersion", related_name="feature_set_versions")
    fingerprint = models.CharField(max_length=64)
    statistics = models.JSONField(default=dict, blank=True, validators=[validate_json_object])
    description = models.TextField(blank=True)
    job = models.ForeignKey("core.Job", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    storage_location = models.CharField(max_length=1024, blank=True)
    output_fingerprint = models.CharField(max_length=64, blank=True)
    row_count = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "feature_view__team_id"
    access_policy = REGISTRY_POLICY

    class Meta:
        ordering = ["feature_view_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["feature_view", "number"], name="feature_set_version_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="feature_set_version_number_positive"),
            models.CheckConstraint(condition=Q(fingerprint__regex=SHA256_HEX), name="feature_set_version_sha256"),
            # A job registers at most one version: a retried job finds the one it registered before it died.
            models.UniqueConstraint(fields=["job"], name="feature_set_version_unique_job"),
            models.CheckConstraint(
                condition=Q(output_fingerprint="") | Q(output_fingerprint__regex=SHA256_HEX),
                name="feature_set_version_output_sha256",
            ),
            models.CheckConstraint(
                condition=(Q(storage_location="") & Q(output_fingerprint="") & Q(row_count__isnull=True))
                | (~Q(storage_location="") & ~Q(output_fingerprint="") & Q(row_count__isnull=False)),
                name="feature_set_version_output_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.feature_view} v{self.number}"
