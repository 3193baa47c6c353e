"""The data-subject request pages through Django's test client: who sees them, recording a request (and its
errors), the report after a search, its downloads (recorded), the erasure report with what was kept and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.test import Client

from compliance import subjects
from compliance.models import SubjectRequest, SubjectSearch
from core.choices import AuditEventType
from core.models import AuditEvent, Job
from tests.compliance.factories import SUBJECT, make_customers, make_request, run, search, write_customers

LIST = "/compliance/subject-requests/"


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_only_compliance_officers_see_the_pages_and_the_dashboard_link(cast: Any) -> None:
    request = make_request(cast)
    officer = client_for(cast.compliance)
    assert 'href="/compliance/subject-requests/"' in officer.get("/").content.decode()
    assert officer.get(f"{LIST}{request.pk}/").status_code == 200

    for persona in (cast.engineer_a, cast.admin_a, cast.auditor, cast.engineer_b):
        client = client_for(persona)
        assert client.get(f"{LIST}{request.pk}/").status_code == 404
        listing = client.get(LIST).content.decode()
        assert str(request.public_id) not in listing
        assert "Record a request" not in listing
    assert 'href="/compliance/subject-requests/"' not in client_for(cast.engineer_a).get("/").content.decode()


def test_the_officer_records_a_request_through_the_form(cast: Any) -> None:
    response = client_for(cast.compliance).post(
        LIST, {"team": "team-a", "kind": "access", "subject_identifier": SUBJECT, "asked_by": "Ana, by letter"}
    )

    created = SubjectRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{LIST}{created.pk}/"
    assert created.subject_identifier == SUBJECT


def test_a_bad_identifier_is_shown_on_its_field_and_nothing_is_written(cast: Any) -> None:
    response = client_for(cast.compliance).post(
        LIST, {"team": "team-a", "kind": "access", "subject_identifier": "ana\x07", "asked_by": "Ana"}
    )

    assert response.status_code == 400
    assert "U+0007" in response.content.decode()
    assert not SubjectRequest.objects.exists()


def test_the_page_shows_the_report_downloads_it_and_shows_the_erasure(cast: Any, lake: Path) -> None:
    # GIVEN the customers table, a hold on it, and a searched erasure request
    write_customers(lake)
    version = make_customers(cast)
    request = make_request(cast)
    search(request, cast.compliance)
    officer = client_for(cast.compliance)

    # THEN the page lists each file with its rows
    page = officer.get(f"{LIST}{request.pk}/").content.decode()
    assert "part-0.parquet" in page
    assert "part-1.parquet" in page
    assert "Confirm erasure" in page

    # AND the CSV download is the report, and recorded
    report = SubjectSearch.objects.get(request=request)
    download = officer.post(f"{LIST}{request.pk}/reports/{report.pk}/download/", {"format": "csv"})
    assert download.status_code == 200
    assert "part-0.parquet" in download.content.decode()
    assert AuditEvent.objects.filter(event_type=AuditEventType.SUBJECT_REPORT_EXPORTED).count() == 1

    # WHEN the officer confirms the erasure while a hold keeps the dataset
    subjects.register_erasure_keeper("ui-hold", lambda req, hit: ["legal hold CASE-9"])
    try:
        started = officer.post(f"{LIST}{request.pk}/erase/")
        assert started.status_code == 302
        run(Job.objects.get(kind="compliance.subject_erase"))
    finally:
        subjects.unregister_erasure_keeper("ui-hold")

    # THEN the page shows the record as kept, with why
    page = officer.get(f"{LIST}{request.pk}/").content.decode()
    assert "Erasure report" in page
    assert "legal hold CASE-9" in page
    assert str(version) in page


def test_erasing_an_access_request_from_the_page_is_refused_with_a_message(cast: Any) -> None:
    request = make_request(cast, kind="access")

    response = client_for(cast.compliance).post(f"{LIST}{request.pk}/erase/", follow=True)

    assert "access request" in response.content.decode()
    assert not Job.objects.exists()
