from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Cast

from core.querysets import RestrictedQuerySet
from registry.choices import VersionStatus
from registry.models.base import NamedTeamObject, unique_name_per_team
from registry.models.datasets import SHA256_HEX
from registry.models.validators import (
    validate_json_object,
    validate_numeric_map,
    validate_string_list,
    validate_tags,
)
from registry.querysets import REGISTRY_POLICY


class RegisteredModel(NamedTeamObject):
    """A model a team builds and answers for; its trained artifacts are ``ModelVersion`` rows.

    ``owner`` answers for it; ``on_call`` is who to page when it misbehaves and ``escalation_path`` who comes
    next. ``use_case`` (of the same team) is why it exists. ``intended_use``, ``limitations`` and ``assumptions``
    are the model-card statements; ``upstream_dependencies`` names the systems and models it depends on; ``tags``
    are short lower-case labels for search, kept as ``RegisteredModelTag`` rows too (by the model's actions) so that
    a tag filter is an index lookup. ``name_key`` is the name's uniqueness key (registry.naming.name_key), unique
    per team, and what an exact name filter compares.
    """

    team = models.ForeignKey("core.Team", on_delete=models.PROTECT, related_name="registered_models")
    on_call = models.CharField(max_length=256, blank=True)
    escalation_path = models.TextField(blank=True)
    use_case = models.ForeignKey(
        "registry.UseCase", on_delete=models.PROTECT, null=True, blank=True, related_name="registered_models"
    )
    description = models.TextField(blank=True)
    intended_use = models.TextField(blank=True)
    limitations = models.TextField(blank=True)
    assumptions = models.TextField(blank=True)
    upstream_dependencies = models.JSONField(default=list, blank=True, validators=[validate_string_list])
    tags = models.JSONField(default=list, blank=True, validators=[validate_tags])

    class Meta(NamedTeamObject.Meta):
        constraints = unique_name_per_team(name="registered_model_unique_name", shape="registered_model_unique_shape")


class RegisteredModelTag(models.Model):
    """One of a registered model's ``tags``, as a row: the unique (``tag``, ``model``) index is what the tag filters
    of the model and version lists look up. Written only by the model's actions, in step with ``tags``, which stays
    the model's own record (its audit events and API show that list)."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="tag_rows")
    tag = models.CharField(max_length=63)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tag", "model"], name="registered_model_tag_unique")]

    def __str__(self) -> str:
        return f"{self.model_id}: {self.tag}"


class ModelVersion(models.Model):
    """One trained, immutable artifact of a registered model, numbered from 1 under a lock on the model.

    ``artifact_sha256`` names the ONNX file in the content-addressed store (registry.artifacts) and
    ``artifact_size`` its length; ``artifact_filename`` is the client's file name, sanitized, for display only.
    ``interface`` is the contract registry.onnx_validation read from the graph (inputs and outputs with names,
    types and shapes, opsets, producer). ``training_params`` are the hyper-parameters, ``metrics`` numbers only.
    ``dataset_versions``, ``feature_set_versions`` and ``authors`` record what it was trained on and who made it.
    ``status`` is the current lifecycle state; every change is a ``ModelVersionTransition`` row. ``job`` is the
    training job that produced it (none for an upload); one job registers at most one version, so that a retried
    job finds its version instead of registering a second. Database triggers refuse an UPDATE of any column but
    ``status`` (migrations 0002, 0008).
    """

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    artifact_sha256 = models.CharField(max_length=64)
    artifact_size = models.BigIntegerField()
    artifact_filename = models.CharField(max_length=255, blank=True)
    interface = models.JSONField(validators=[validate_json_object])
    training_params = models.JSONField(default=dict, blank=True, validators=[validate_json_object])
    metrics = models.JSONField(default=dict, blank=True, validators=[validate_numeric_map])
    description = models.TextField(blank=True)
    dataset_versions = models.ManyToManyField("registry.DatasetVersion", blank=True, related_name="model_versions")
    feature_set_versions = models.ManyToManyField(
        "registry.FeatureSetVersion", blank=True, related_name="model_versions"
    )
    authors = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    job = models.OneToOneField(
        "core.Job", on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="model_version"
    )
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.REGISTERED)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "model__team_id"
    access_policy = REGISTRY_POLICY

    class Meta:
        ordering = ["model_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="model_version_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="model_version_number_positive"),
            models.CheckConstraint(condition=Q(artifact_size__gte=0), name="model_version_size_positive"),
            models.CheckConstraint(condition=Q(artifact_sha256__regex=SHA256_HEX), name="model_version_sha256"),
        ]
        indexes = [
            models.Index(fields=["artifact_sha256"], name="model_version_artifact"),
            # The version lists' order (newest first), across models and within one: read backwards, an index
            # serves the first page without sorting every match.
            models.Index(fields=["created_at", "id"], name="model_version_created"),
            models.Index(fields=["model", "created_at", "id"], name="model_version_model_created"),
        ]

    # Set by load_links (or by the action that made them): what the version links to, for display.
    links: dict[str, list[Any]]

    def __str__(self) -> str:
        return f"{self.model} v{self.number}"


# A version's links as they are shown: the column of each link table, read in the order the links were made.
LINK_COLUMNS = {
    "dataset_versions": "datasetversion_id",
    "feature_set_versions": "featuresetversion_id",
    "authors": "user__username",
}


def version_links(version_ids: Iterable[int]) -> dict[int, dict[str, list[Any]]]:
    """What each version links to, as shown: ``{"dataset_versions": [ids], "feature_set_versions": [ids],
    "authors": [usernames]}``, each in the order given at registration; one query for all the versions and kinds.

    Cheaper than ``prefetch_related`` for a page of versions: one statement instead of three, no model instance per
    linked row, and no queryset per version to hold them.
    """
    links: dict[int, dict[str, list[Any]]] = {pk: {name: [] for name in LINK_COLUMNS} for pk in version_ids}
    if not links:
        return links
    names = list(LINK_COLUMNS)
    parts = []
    for kind, (name, column) in enumerate(LINK_COLUMNS.items()):
        through: Any = getattr(ModelVersion, name).through
        parts.append(
            through.objects.filter(modelversion_id__in=list(links))
            .annotate(kind=Value(kind), shown=Cast(column, models.CharField()))
            .values_list("kind", "id", "modelversion_id", "shown")
        )
    for kind, _, version_id, shown in parts[0].union(*parts[1:], all=True).order_by("kind", "id"):
        name = names[kind]
        links[version_id][name].append(shown if name == "authors" else int(shown))
    return links


def load_links(versions: Iterable[ModelVersion]) -> None:
    """Set ``links`` (see ``version_links``) on each of these versions."""
    by_id = {version.pk: version for version in versions}
    for pk, links in version_links(by_id).items():
        by_id[pk].links = links


class ModelVersionTransition(models.Model):
    """One change of a model version's status: who (``actor``), from what, to what, why, and when."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=16, choices=VersionStatus.choices)
    to_status = models.CharField(max_length=16, choices=VersionStatus.choices)
    reason = models.TextField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    actor_name = models.CharField(max_length=150)
    occurred_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "version__model__team_id"
    access_policy = REGISTRY_POLICY

    class Meta:
        ordering = ["version_id", "occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.version}: {self.from_status} -> {self.to_status}"
