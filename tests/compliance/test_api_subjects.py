"""The data-subject request API beyond the permission matrix: bad input (a 400 naming the field, nothing written),
the report downloads, and the erasure's idempotence over HTTP."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from compliance.models import SubjectRequest
from core.choices import AuditEventType
from core.models import AuditEvent, Job
from tests.api_cases import assert_error_shape
from tests.compliance.factories import SUBJECT, make_customers, make_request, run, search, write_customers

URL = "/api/v1/subject-requests/"
BODY = {"team": "team-a", "kind": "access", "subject_identifier": SUBJECT, "asked_by": "Ana"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"subject_identifier": ""}, "subject_identifier"),
        ({"subject_identifier": "   "}, "subject_identifier"),
        ({"subject_identifier": "a" * 257}, "subject_identifier"),
        ({"subject_identifier": "ana\u0007@example.com"}, "subject_identifier"),
        ({"subject_identifier": "ana@example.com\r\n"}, "subject_identifier"),
        ({"subject_identifier": "\u202eana"}, "subject_identifier"),
        ({"subject_identifier": 42}, "subject_identifier"),
        ({"subject_identifier": None}, "subject_identifier"),
        ({"kind": "rectification"}, "kind"),
        ({"asked_by": ""}, "asked_by"),
        ({"received_at": "2999-01-01T00:00:00Z"}, "received_at"),
        ({"received_at": "2026-01-10T00:00:00Z", "due_at": "2026-01-01T00:00:00Z"}, "due_at"),
        ({"received_at": "2026-01-10T00:00:00Z", "due_at": "2026-12-01T00:00:00Z"}, "due_at"),
        ({"status": "erased"}, "status"),
        ({"subject_digest": "0" * 64}, "subject_digest"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(
    cast: Any, api_as: Any, changes: dict[str, Any], field: str
) -> None:
    client = api_as(cast.compliance)
    events = AuditEvent.objects.count()

    response = client.post(URL, {**BODY, **changes}, format="json")

    assert response.status_code == 400, response.content
    error = assert_error_shape(response)
    assert field in error["fields"], error
    assert not SubjectRequest.objects.exists()
    assert AuditEvent.objects.count() == events


def test_an_engineer_of_the_team_gets_a_403_and_nothing_is_written(cast: Any, api_as: Any) -> None:
    client = api_as(cast.engineer_a)

    response = client.post(URL, BODY, format="json")

    assert response.status_code == 403
    assert "compliance officers" in assert_error_shape(response)["message"]
    assert not SubjectRequest.objects.exists()


def test_the_officer_records_searches_and_downloads_the_report(cast: Any, api_as: Any, lake: Path) -> None:
    # GIVEN the customers table and an access request recorded over the API
    write_customers(lake)
    version = make_customers(cast)
    client = api_as(cast.compliance)
    created = client.post(URL, BODY, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["subject_identifier"] == SUBJECT
    request_id = created.json()["id"]

    # WHEN the officer starts the search and the job runs
    started = client.post(f"{URL}{request_id}/search/", {}, format="json")
    assert started.status_code == 202, started.content

    job = run(Job.objects.get(public_id=started.json()["id"]))
    report_id = job.result["search"]

    # THEN the report lists the version's files, and downloads as JSON and CSV (each recorded)
    detail = client.get(f"/api/v1/subject-searches/{report_id}/").json()
    assert detail["hits"][0]["object_id"] == version.pk
    as_json = client.post(f"/api/v1/subject-searches/{report_id}/export/", {"format": "json"}, format="json")
    assert as_json.status_code == 200
    assert "attachment" in as_json["Content-Disposition"]
    document = json.loads(as_json.content)
    assert (document["subject_identifier"], document["digest"]) == (SUBJECT, detail["digest"])
    as_csv = client.post(f"/api/v1/subject-searches/{report_id}/export/", {"format": "csv"}, format="json")
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode())))
    assert [(row["file"], row["rows"]) for row in rows] == [("part-0.parquet", "2"), ("part-1.parquet", "1")]
    assert AuditEvent.objects.filter(event_type=AuditEventType.SUBJECT_REPORT_EXPORTED).count() == 2
    bad = client.post(f"/api/v1/subject-searches/{report_id}/export/", {"format": "xml"}, format="json")
    assert bad.status_code == 400
    assert "format" in assert_error_shape(bad)["fields"]


def test_erasing_twice_over_the_api_returns_the_first_job(cast: Any, api_as: Any, lake: Path) -> None:
    request = make_request(cast)
    search(request, cast.compliance)
    client = api_as(cast.compliance)

    first = client.post(f"{URL}{request.pk}/erase/", {}, format="json")
    assert first.status_code == 202

    run(Job.objects.get(public_id=first.json()["id"]))
    again = client.post(f"{URL}{request.pk}/erase/", {}, format="json")

    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]


def test_erasing_an_access_request_is_a_409(cast: Any, api_as: Any) -> None:
    request = make_request(cast, kind="access")

    response = api_as(cast.compliance).post(f"{URL}{request.pk}/erase/", {}, format="json")

    assert response.status_code == 409
    assert assert_error_shape(response)["code"] == "not_an_erasure_request"
