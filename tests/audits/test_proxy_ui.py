"""The justification form (templates/audits/_proxy_justify.html, audits.views.justify_proxy): a compliance officer
records a justification from the browser; a refusal shows on its field; anyone else is turned away."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from audits.models import ProxyJustification
from core.choices import AuditEventType
from core.models import AuditEvent
from tests.audits.factories import make_credit, make_report
from tests.audits.proxy_reports import make_proxy_report
from tests.registry import factories

_empty_cache = factories._empty_cache
artifact_root = factories.artifact_root

pytestmark = pytest.mark.django_db


@pytest.fixture
def credit(cast: Any, artifact_root: Path) -> dict[str, Any]:
    return make_credit(cast.team_a, cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")


@pytest.fixture
def report(cast: Any, credit: dict[str, Any]) -> Any:
    return make_proxy_report(credit["model_version"], credit["dataset_version"], cast.engineer_a)


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_compliance_officer_justifies_a_flagged_proxy_from_the_page(cast: Any, report: Any) -> None:
    client = signed_in(cast.compliance)
    # GIVEN the form, offering the flagged pair
    page = client.get(f"/audit-reports/{report.pk}/justify/")
    assert page.status_code == 200
    assert '<option value="income">income</option>' in page.content.decode()
    # WHEN the officer records a reason
    response = client.post(
        f"/audit-reports/{report.pk}/justify/",
        {"feature": "income", "attribute": "sex", "reason": "Income is what credit is about."},
    )
    # THEN back to the report, with the justification recorded and audited
    assert response.status_code == 302
    assert response["Location"] == f"/audit-reports/{report.pk}/"
    justification = ProxyJustification.objects.get()
    assert justification.justified_by == cast.compliance
    assert AuditEvent.objects.filter(event_type=AuditEventType.PROXY_JUSTIFIED).count() == 1
    # AND a second attempt shows the refusal on the feature field, writing nothing
    again = client.post(
        f"/audit-reports/{report.pk}/justify/", {"feature": "income", "attribute": "sex", "reason": "Again."}
    )
    assert again.status_code == 400
    assert 'id="id_feature_error">&#x27;income&#x27; as a proxy of &#x27;sex&#x27; was already justified' in (
        again.content.decode()
    )
    assert ProxyJustification.objects.count() == 1
    # AND the justification is listed on the form's page; the report page (which includes the form) still renders
    assert "Income is what credit is about." in client.get(f"/audit-reports/{report.pk}/justify/").content.decode()
    assert client.get(f"/audit-reports/{report.pk}/").status_code == 200


def test_a_reason_is_required(cast: Any, report: Any) -> None:
    response = signed_in(cast.compliance).post(
        f"/audit-reports/{report.pk}/justify/", {"feature": "income", "attribute": "sex", "reason": ""}
    )
    assert response.status_code == 400
    assert 'id="id_reason_error"' in response.content.decode()
    assert not ProxyJustification.objects.exists()


def test_no_one_else_may_justify(cast: Any, report: Any, credit: dict[str, Any]) -> None:
    data = {"feature": "income", "attribute": "sex", "reason": "I built it."}
    assert signed_in(cast.engineer_a).post(f"/audit-reports/{report.pk}/justify/", data).status_code == 403
    assert signed_in(cast.reviewers["compliance"]).get(f"/audit-reports/{report.pk}/justify/").status_code == 403
    assert signed_in(cast.engineer_b).post(f"/audit-reports/{report.pk}/justify/", data).status_code == 404
    assert Client().post(f"/audit-reports/{report.pk}/justify/", data).status_code == 302  # to sign in
    fairness = make_report(credit["model_version"], credit["dataset_version"], cast.engineer_a)
    assert signed_in(cast.compliance).get(f"/audit-reports/{fairness.pk}/justify/").status_code == 404
    assert not ProxyJustification.objects.exists()
