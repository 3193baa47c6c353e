"""Datasets and their immutable versions: numbering, schema evolution, locations, and the database's guard."""

from __future__ import annotations

import re
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
    with pytest.raises(
        Refusal,
        match=r"breaking schema change \(set the breaking-change flag to register it anyway\): churned: dropped",
    ) as refused:
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
    with pytest.raises(ValidationError, match=re.escape(f"{path}: ")) as refused:
        make_dataset_version(dataset, cast.engineer_a, schema=schema)
    assert path in refused.value.message_dict["schema"][0]


@pytest.mark.parametrize("value", ["abc", "G" * 64, "", None])
def test_the_content_fingerprint_is_a_sha256(cast, value):
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    with pytest.raises(ValidationError, match=r"Must be a SHA-256 digest: 64 hexadecimal characters\.") as refused:
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
    ("location", "refusal"),
    [
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("/data/customers", "scheme '(none)' is not allowed"),
        ("http://169.254.169.254/latest/meta-data/", "scheme 'http' is not allowed"),
        (
            "https://169.254.169.254/latest/meta-data/",
            "address 169.254.169.254 is a cloud metadata service and is refused.",
        ),
        ("https://127.0.0.1/data", "address 127.0.0.1 is not a public address and is refused."),
        ("https://10.0.0.8/data", "address 10.0.0.8 is not a public address and is refused."),
        ("https://[::1]/data", "address ::1 is not a public address and is refused."),
        (
            "https://metadata.google.internal/computeMetadata/v1/",
            "host 'metadata.google.internal' is internal and is refused.",
        ),
        ("https://localhost/data", "host 'localhost' is internal and is refused."),
        ("s3://AKIA:secret@bucket/data", "must not contain credentials (user information before '@')."),
        ("s3://user@bucket/data", "must not contain credentials (user information before '@')."),
        (
            "abfss://container:key@account.dfs.core.windows.net/x",
            "must not contain credentials (user information before '@').",
        ),
        (
            "https://bucket.s3.amazonaws.com/data?X-Amz-Signature=abc&X-Amz-Credential=x",
            "must not contain credentials (query parameter 'X-Amz-Signature').",
        ),
        (
            "https://account.blob.core.windows.net/c/data?sv=2020&sig=abc",
            "must not contain credentials (query parameter 'sv').",
        ),
        ("ftp://example.com/data", "scheme 'ftp' is not allowed"),
        (
            "s3://bucket/data with space",
            "must be a URI of at most 2048 visible characters without spaces or backslashes.",
        ),
        ("s3://bucket/\u202edata", "must be a URI of at most 2048 visible characters without spaces or backslashes."),
    ],
)
def test_locations_that_could_leak_or_reach_inside_are_refused(cast, location, refusal):
    with pytest.raises(ValidationError, match=re.escape(refusal)) as refused:
        make_dataset(cast.team_a, cast.engineer_a, location=location)
    assert list(refused.value.message_dict) == ["location"]
    assert refusal in refused.value.message_dict["location"][0]


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
    with pytest.raises(
        ValidationError, match=r"'customers' looks the same as the existing Customers in team team-a"
    ) as invalid:
        make_dataset(cast.team_a, cast.engineer_a, name="customers")
    assert list(invalid.value.message_dict) == ["name"]
    with pytest.raises(
        ValidationError, match=r"'Custorners' looks the same as the existing Customers in team team-a"
    ) as invalid:
        make_dataset(cast.team_a, cast.engineer_a, name="Custorners")  # "rn" looks like "m"
    assert list(invalid.value.message_dict) == ["name"]


def test_only_writers_register_versions(cast):
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    for persona in (cast.compliance, cast.auditor, cast.engineer_b, cast.reviewers["legal"]):
        with pytest.raises(PermissionDenied, match=r"^You may not change registry objects of team team-a\.$"):
            make_dataset_version(dataset, persona)
    assert not dataset.versions.exists()


def test_update_dataset_records_the_change(cast):
    dataset = make_dataset(cast.team_a, cast.engineer_a)
    actions.do_update_dataset(dataset, actor=cast.admin_a, classification="restricted")
    event = AuditEvent.objects.get(event_type=AuditEventType.DATASET_UPDATED)
    assert (event.before, event.after) == ({"classification": "confidential"}, {"classification": "restricted"})
