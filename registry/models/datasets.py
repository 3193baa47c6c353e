from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.querysets import RestrictedQuerySet
from registry.choices import Classification, FingerprintSource, LegalBasis, StorageFormat
from registry.models.base import NamedTeamObject, unique_name_per_team
from registry.models.validators import validate_json_object, validate_location, validate_string_list
from registry.querysets import REGISTRY_POLICY

SHA256_HEX = r"^[0-9a-f]{64}$"


class Dataset(NamedTeamObject):
    """A named body of data a team trains or evaluates on; its content and schema live in ``DatasetVersion`` rows.

    ``location`` is where the data lives, as metadata (a URI of an allowed scheme, never fetched from a request);
    ``partitioning`` lists the partition columns; ``residency_region`` is where the data must stay (``eu-west-1``);
    ``classification`` its confidentiality; ``legal_basis`` the GDPR ground for processing it. ``name_key`` is the
    name's uniqueness key (registry.naming.name_key), unique per team.
    """

    team = models.ForeignKey("core.Team", on_delete=models.PROTECT, related_name="datasets")
    description = models.TextField(blank=True)
    storage_format = models.CharField(max_length=16, choices=StorageFormat.choices)
    location = models.CharField(max_length=2048, validators=[validate_location])
    partitioning = models.JSONField(default=list, blank=True, validators=[validate_string_list])
    residency_region = models.CharField(max_length=64, blank=True)
    classification = models.CharField(max_length=16, choices=Classification.choices)
    legal_basis = models.CharField(max_length=32, choices=LegalBasis.choices)

    class Meta(NamedTeamObject.Meta):
        constraints = unique_name_per_team(name="dataset_unique_name_per_team", shape="dataset_unique_shape_per_team")


class DatasetVersion(models.Model):
    """One immutable state of a dataset. Database triggers refuse any UPDATE of the row (migration 0002).

    ``number`` counts from 1 per dataset, taken under a lock on the dataset. ``schema`` is the canonical JSON of
    registry.schema.parse_schema, ``schema_fingerprint`` its SHA-256. ``content_fingerprint`` identifies the data
    itself; ``fingerprint_source`` says whether Assay computed it or the client supplied it. ``evolution`` is the
    registry.schema diff against the previous version (``{"breaking", "needs_review", "changes"}``);
    ``breaking_change`` is true when a breaking change was registered with the explicit flag.

    ``files_digest`` pins the data as a job first read it (registry.pipelines.io.read_dataset_version): the SHA-256
    of the canonical list of its files (relative path, size, SHA-256), with when (``files_digest_at``) and by which
    job (``files_digest_job``). Set once, by a conditional UPDATE from empty, outside the frozen columns; every later
    read must find the same files. Empty until a job reads a local copy of the data.
    """

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    schema = models.JSONField(validators=[validate_json_object])
    schema_fingerprint = models.CharField(max_length=64)
    content_fingerprint = models.CharField(max_length=64)
    fingerprint_source = models.CharField(max_length=16, choices=FingerprintSource.choices)
    row_count = models.BigIntegerField(null=True, blank=True)
    evolution = models.JSONField(default=dict, blank=True, validators=[validate_json_object])
    breaking_change = models.BooleanField(default=False)
    description = models.TextField(blank=True)
    files_digest = models.CharField(max_length=64, blank=True, editable=False)
    files_digest_at = models.DateTimeField(null=True, blank=True, editable=False)
    files_digest_job = models.ForeignKey(
        "core.Job", on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "dataset__team_id"
    access_policy = REGISTRY_POLICY

    class Meta:
        ordering = ["dataset_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="dataset_version_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="dataset_version_number_positive"),
            models.CheckConstraint(
                condition=Q(row_count__isnull=True) | Q(row_count__gte=0), name="dataset_version_row_count_positive"
            ),
            models.CheckConstraint(
                condition=Q(content_fingerprint__regex=SHA256_HEX) & Q(schema_fingerprint__regex=SHA256_HEX),
                name="dataset_version_fingerprints_sha256",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset} v{self.number}"
