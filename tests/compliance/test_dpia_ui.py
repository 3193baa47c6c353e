"""The DPIA pages (compliance/dpia_views.py): the list and the document, the forms that create, edit, screen and
submit a DPIA with refusals shown on their fields, the privacy reviewer's decision, and the PDF."""

from __future__ import annotations

import re
import zlib
from typing import Any

import pytest
from django.test import Client

from compliance.dpia_rules import DpiaStatus
from compliance.models import ColumnReclassification, Dpia, DpiaVersion
from core.choices import AuditEventType
from core.models import AuditEvent
from tests.compliance.dpia_factories import (
    SCREENING,
    in_days,
    make_approved,
    make_draft,
    make_personal_dataset,
    make_submitted,
)
from tests.registry.factories import make_use_case

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_list_shows_the_teams_dpias_only(cast):
    version = make_draft(cast)
    page = client_for(cast.auditor).get("/compliance/dpias/")
    assert page.status_code == 200
    assert f'data-dpia="{version.dpia_id}"' in page.content.decode()
    assert "Credit limit" not in client_for(cast.engineer_b).get("/compliance/dpias/").content.decode()
    assert client_for(cast.engineer_b).get(f"/compliance/dpias/{version.dpia_id}/").status_code == 404
    assert client_for(cast.auditor).get("/compliance/dpias/?status=bogus").status_code == 400


def test_the_document_reads_every_section_and_has_no_inline_style(cast):
    version = make_approved(cast)
    html = client_for(cast.auditor).get(f"/compliance/dpias/{version.dpia_id}/").content.decode()
    for heading in (
        "1. Overview",
        "2. Screening",
        "3. The processing",
        "4. Categories of personal data",
        "5. Necessity and proportionality",
        "6. Risks and mitigations",
        "7. Advice of the data",
        "8. Sign-off",
    ):
        assert heading in html
    assert "A full DPIA is required." in html
    assert "Discrimination by proxy" in html
    assert "rita-privacy" in html
    assert "style=" not in html
    assert "<style" not in html


def test_a_compliance_officer_creates_screens_edits_and_submits_in_the_browser(cast):
    client = client_for(cast.compliance)
    use_case = make_use_case(cast.team_a, cast.engineer_a, name="Fraud alerts", risk_tier="high")
    dataset = make_personal_dataset(cast, name="Transactions")
    response = client.post("/compliance/dpias/new/", {"use_case": use_case.pk, "datasets": [dataset.pk]})
    assert response.status_code == 302
    dpia = Dpia.objects.get(use_case=use_case)
    # WHEN they submit before screening THEN the page says what is missing, on the form, with a 400
    response = client.post(f"/compliance/dpias/{dpia.pk}/submit/", {"comment": ""})
    assert response.status_code == 400
    assert "Screen the processing against the nine criteria first." in response.content.decode()
    # Screening: two criteria met
    answers: dict[str, str] = {}
    for key, item in SCREENING.items():
        answers[f"{key}__answer"] = "yes" if item["answer"] else "no"
        answers[f"{key}__note"] = item["note"]
    assert client.post(f"/compliance/dpias/{dpia.pk}/screen/", answers).status_code == 302
    # The assessment, with one risk row
    form = {
        "processing_description": "Scoring card transactions.",
        "purposes": "Stop fraud.",
        "legal_basis": "legitimate_interests",
        "data_subjects": "Card holders.",
        "recipients": "",
        "retention": "",
        "necessity": "Needed.",
        "proportionality": "Only transaction features.",
        "dpo_advice": "",
        "review_date": in_days(90).isoformat(),
        "datasets": [dataset.pk],
        "model": "",
        "risks-TOTAL_FORMS": "2",
        "risks-INITIAL_FORMS": "0",
        "risks-0-title": "False accusation",
        "risks-0-likelihood": "possible",
        "risks-0-severity": "significant",
        "risks-0-residual_likelihood": "remote",
        "risks-0-residual_severity": "significant",
    }
    response = client.post(f"/compliance/dpias/{dpia.pk}/edit/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    version = DpiaVersion.objects.get(dpia=dpia)
    assert version.risks[0]["level"] == "medium"
    assert client.post(f"/compliance/dpias/{dpia.pk}/submit/", {"comment": "Ready"}).status_code == 302
    assert DpiaVersion.objects.get(dpia=dpia).status == DpiaStatus.SUBMITTED


def test_a_review_date_in_the_past_is_shown_on_its_field(cast):
    version = make_draft(cast)
    client = client_for(cast.compliance)
    form = {"review_date": "2001-01-01", "risks-TOTAL_FORMS": "0", "risks-INITIAL_FORMS": "0"}
    response = client.post(f"/compliance/dpias/{version.dpia_id}/edit/", form)
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(r'id="id_review_date_error">The review date 2001-01-01 is not after today', html)


def test_the_privacy_reviewer_approves_and_nobody_else_may(cast):
    version = make_submitted(cast)
    url = f"/compliance/dpias/{version.dpia_id}/review/"
    assert client_for(cast.engineer_a).post(url, {"decision": "approve"}).status_code == 403
    assert AuditEvent.objects.filter(event_type=AuditEventType.DPIA_REFUSED).count() == 1
    page = client_for(cast.reviewers["privacy"]).get(f"/compliance/dpias/{version.dpia_id}/").content.decode()
    assert 'id="review-form"' in page
    assert client_for(cast.reviewers["privacy"]).post(url, {"decision": "approve"}).status_code == 302
    assert DpiaVersion.objects.get(pk=version.pk).status == DpiaStatus.APPROVED


def test_a_returned_dpia_needs_a_comment_shown_on_its_field(cast):
    version = make_submitted(cast)
    url = f"/compliance/dpias/{version.dpia_id}/review/"
    response = client_for(cast.reviewers["privacy"]).post(url, {"decision": "return", "comment": ""})
    assert response.status_code == 400
    assert "Say what must change" in response.content.decode()


def test_a_new_version_from_the_page(cast):
    version = make_approved(cast)
    response = client_for(cast.compliance).post(f"/compliance/dpias/{version.dpia_id}/new-version/")
    assert response.status_code == 302
    assert DpiaVersion.objects.filter(dpia_id=version.dpia_id).count() == 2
    older = client_for(cast.auditor).get(f"/compliance/dpias/{version.dpia_id}/?version=1").content.decode()
    assert "an older version" in older


def test_engineers_get_no_forms(cast):
    version = make_draft(cast)
    client = client_for(cast.engineer_a)
    assert client.get(f"/compliance/dpias/{version.dpia_id}/edit/").status_code == 403
    assert client.get(f"/compliance/dpias/{version.dpia_id}/screen/").status_code == 403
    assert client.get("/compliance/dpias/new/").status_code == 200  # offers no use case to pick
    assert 'id="dpia-edit"' not in client.get(f"/compliance/dpias/{version.dpia_id}/").content.decode()


def test_reclassifying_a_column_in_the_browser(cast):
    dataset = make_personal_dataset(cast)
    client = client_for(cast.compliance)
    response = client.post(
        "/compliance/reclassify/",
        {"dataset": dataset.pk, "column": "nope", "personal_data": "on", "reason": "x"},
    )
    assert response.status_code == 400
    assert "has no column" in response.content.decode()
    response = client.post(
        "/compliance/reclassify/",
        {"dataset": dataset.pk, "column": "customer_id", "personal_data": "on", "reason": "Account number."},
    )
    assert response.status_code == 302
    assert ColumnReclassification.objects.get().after["personal_data"] is True


def pdf_text(data: bytes) -> bytes:
    """The PDF's bytes with every Flate stream inflated: where WeasyPrint keeps its bookmarks and metadata."""
    parts = [data]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"\n".join(parts)


def test_the_pdf_is_a_real_pdf_with_the_sections(cast):
    version = make_approved(cast)
    response = client_for(cast.auditor).get(f"/compliance/dpias/{version.dpia_id}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f"dpia-team-a-{version.dpia_id}-v1.pdf" in response["Content-Disposition"]
    data = response.content
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    assert b"/Type /Page" in pdf_text(data) or b"/Type/Page" in pdf_text(data)
    text = pdf_text(data)
    # The sections are bookmarks (PDF outline entries), whose titles are text strings
    for title in ("Overview", "Screening", "Risks and mitigations", "Sign-off"):
        assert title.encode() in text or title.encode("utf-16-be") in text, title
