"""Datasets and their immutable versions: numbering, schema evolution, locations, and the database's guard."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction

from core.choices import AuditEventType
from core.models import AuditEvent
from core.refusals import Refusal
from registry import actions
from registry.models import DatasetVersion
from tests.registry.factories import SCHEMA, fingerprint, make_dataset, make_dataset_version

pytestmark = pytest.mark.django_db


def with_columns(*columns):
    return {"columns": [*SCHEMA["columns"], *columns]}


def without(name):
    return {"columns": [column for column in SCHEMA["columns"] if column["name"] != name]}


def test_versions_are_numbered_per_dataset_and_record_their_evolution(cast):
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    first = make_dataset_version(dataset, cast.engineer_a, row_count=100)
    second = make_dataset_version(
        dataset, cast.engineer_a, schema=with_columns({"name": "segment", "type": "string", "nullable": True})
    )
    other = make_dataset_version(make_dataset(cast.team_a, cast.engineer_a, name="Other"), cast.engineer_a)
    assert (first.number, second.number, other.number) == (1, 2, 1)
    assert first.evolution == {"breaking": False, "needs_review": False, "changes": []}
    assert second.evolution["breaking"] is False
    assert [change["kind"] for change in second.evolution["changes"]] == ["column_added"]
    assert first.schema_fingerprint != second.schema_fingerprint
    assert first.fingerprint_source == "supplied"
    event: Any = AuditEvent.objects.filter(event_type=AuditEventType.DATASET_VERSION_REGISTERED).order_by("seq").first()
    assert event.after["number"] == 1
    assert event.after["row_count"] == 100


def test_schema_flags_are_kept_per_column(cast):
    version = make_dataset_version(make_dataset(cast.team_a, cast.engineer_a), cast.engineer_a)
    age = next(column for column in version.schema["columns"] if column["name"] == "age")
    assert age["personal_data"] is True
    assert age["protected_attribute"] is True
    assert age["prohibited_input"] is False


def test_a_breaking_change_needs_the_flag_and_is_recorded(cast):
    # GIVEN a dataset whose version 1 has a "churned" column
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    make_dataset_version(dataset, cast.engineer_a)
    # WHEN version 2 drops it without the flag
    with pytest.raises(Refusal) as refused:
        make_dataset_version(dataset, cast.engineer_a, schema=without("churned"))
    # THEN it is refused on the schema, naming the column, nothing is stored, and the action recorded the refusal
    assert refused.value.field == "schema"
    assert "churned" in refused.value.message
    assert dataset.versions.count() == 1
    event = AuditEvent.objects.get(event_type=AuditEventType.DATASET_VERSION_REFUSED)
    assert (event.actor_id, event.target_id) == (cast.engineer_a.pk, str(dataset.pk))
    assert event.metadata["reason"] == "breaking_schema_change"
    # WHEN the engineer says they mean it
    version = make_dataset_version(dataset, cast.engineer_a, schema=without("churned"), allow_breaking_change=True)
    # THEN it is registered and marked as breaking
    assert version.number == 2
    assert version.breaking_change is True
    assert version.evolution["breaking"] is True
    latest: Any = AuditEvent.objects.filter(event_type=AuditEventType.DATASET_VERSION_REGISTERED).order_by("seq").last()
    assert latest.after["breaking_change"] is True


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ({"columns": []}, "columns"),
        ({"columns": [{"name": "a", "type": "varchar", "nullable": True}]}, "columns[0].type"),
        ({"columns": [{"name": "a", "type": "int64", "nullable": "yes"}]}, "columns[0].nullable"),
        ({"cols": []}, "cols"),
    ],
)
def test_a_malformed_schema_is_refused_naming_the_field(cast, schema, path):
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    with pytest.raises(ValidationError) as refused:
        make_dataset_version(dataset, cast.engineer_a, schema=schema)
    assert path in refused.value.message_dict["schema"][0]


@pytest.mark.parametrize("value", ["abc", "G" * 64, "", None])
def test_the_content_fingerprint_is_a_sha256(cast, value):
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    with pytest.raises(ValidationError) as refused:
        make_dataset_version(dataset, cast.engineer_a, content_fingerprint=value)
    assert "content_fingerprint" in refused.value.message_dict


def test_versions_cannot_be_updated_even_in_sql(cast):
    version = make_dataset_version(make_dataset(cast.team_a, cast.engineer_a), cast.engineer_a)
    changes: list[dict[str, Any]] = [
        {"row_count": 1},
        {"schema": {"columns": []}},
        {"content_fingerprint": fingerprint("forged")},
    ]
    for change in changes:
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
            DatasetVersion.objects.filter(pk=version.pk).update(**change)
    version.refresh_from_db()
    assert version.row_count is None


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "/data/customers",
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1/data",
        "https://10.0.0.8/data",
        "https://[::1]/data",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://localhost/data",
        "s3://AKIA:secret@bucket/data",
        "s3://user@bucket/data",
        "abfss://container:key@account.dfs.core.windows.net/x",
        "https://bucket.s3.amazonaws.com/data?X-Amz-Signature=abc&X-Amz-Credential=x",
        "https://account.blob.core.windows.net/c/data?sv=2020&sig=abc",
        "ftp://example.com/data",
        "s3://bucket/data with space",
        "s3://bucket/\u202edata",
    ],
)
def test_locations_that_could_leak_or_reach_inside_are_refused(cast, location):
    with pytest.raises(ValidationError) as refused:
        make_dataset(cast.team_a, cast.engineer_a, location=location)
    assert "location" in refused.value.message_dict


@pytest.mark.parametrize(
    "location",
    [
        "s3://lake/customers/",
        "gs://lake/customers",
        "abfss://lake@account.dfs.core.windows.net/customers",
        "hdfs://namenode:8020/data/customers",
        "dbfs:/mnt/lake/customers",
        "https://data.example.com/customers.parquet",
    ],
)
def test_ordinary_locations_are_accepted(cast, location):
    assert make_dataset(cast.team_a, cast.engineer_a, location=location).location == location


def test_dataset_names_clash_by_how_they_look(cast):
    make_dataset(cast.team_a, cast.engineer_a, name="Customers")
    with pytest.raises(ValidationError):
        make_dataset(cast.team_a, cast.engineer_a, name="customers")
    with pytest.raises(ValidationError):
        make_dataset(cast.team_a, cast.engineer_a, name="Custorners")  # "rn" looks like "m"


def test_only_writers_register_versions(cast):
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    for persona in (cast.compliance, cast.auditor, cast.engineer_b, cast.reviewers["legal"]):
        with pytest.raises(PermissionDenied):
            make_dataset_version(dataset, persona)
    assert not dataset.versions.exists()


def test_update_dataset_records_the_change(cast):
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    actions.do_update_dataset(dataset, actor=cast.admin_a, classification="restricted")
    event = AuditEvent.objects.get(event_type=AuditEventType.DATASET_UPDATED)
    assert (event.before, event.after) == ({"classification": "confidential"}, {"classification": "restricted"})
