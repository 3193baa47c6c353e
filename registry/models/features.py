from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.querysets import RestrictedQuerySet
from registry.models.datasets import SHA256_HEX
from registry.models.validators import validate_json_object
from registry.querysets import REGISTRY_POLICY


class FeatureView(models.Model):
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
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "team_id"
    access_policy = REGISTRY_POLICY

    class Meta:
        ordering = ["team_id", "name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="feature_view_unique_name_per_team")]

    def __str__(self) -> str:
        return self.name


class FeatureSetVersion(models.Model):
    """One immutable, numbered state of a feature view: the definitions and dataset versions it was built from.

    ``features`` is a copy of the view's definitions when the version was registered, ``dataset_versions`` the
    pinned inputs, ``fingerprint`` the SHA-256 of both (canonical JSON, with the datasets' content fingerprints), so
    that equal inputs give equal fingerprints. ``statistics`` maps feature names to numbers when known
    (``{"tenure_days": {"mean": 412.5, "null_fraction": 0.0}}``). Database triggers refuse any UPDATE.
    """

    feature_view = models.ForeignKey(FeatureView, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    features = models.JSONField()
    dataset_versions = models.ManyToManyField("registry.DatasetVersion", related_name="feature_set_versions")
    fingerprint = models.CharField(max_length=64)
    statistics = models.JSONField(default=dict, blank=True, validators=[validate_json_object])
    description = models.TextField(blank=True)
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
        ]

    def __str__(self) -> str:
        return f"{self.feature_view} v{self.number}"
