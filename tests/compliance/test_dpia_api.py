"""The DPIA API's rules beyond the permission matrix: every bad input is a 400 naming the field with nothing written,
an approved version is a 409, another team's dataset is refused on ``datasets``, and the detail reads in full."""

from __future__ import annotations

from typing import Any

import pytest

from compliance.dpia_rules import CRITERIA
from compliance.models import Dpia, DpiaVersion
from core.choices import AuditEventType
from core.models import AuditEvent
from tests.api_cases import assert_error_shape
from tests.compliance.dpia_factories import RISK, in_days, make_approved, make_draft, make_personal_dataset
from tests.registry.factories import make_use_case

pytestmark = pytest.mark.django_db


def audit_count() -> int:
    return AuditEvent.objects.count()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"purposes": ["a list"]}, "purposes"),
        ({"purposes": "x" * 20_001}, "purposes"),
        ({"legal_basis": "vibes"}, "legal_basis"),
        ({"review_date": "yesterday"}, "review_date"),
        ({"review_date": "2001-01-01"}, "review_date"),
        ({"risks": "many"}, "risks"),
        ({"risks": [{**RISK, "severity": "catastrophic"}]}, "risks"),
        ({"risks": [{**RISK, "title": ""}]}, "risks"),
        ({"datasets": [999999]}, "datasets"),
        ({"datasets": "1"}, "datasets"),
        ({"model": 999999}, "model"),
        ({"status": "approved"}, "status"),
        ({"digest": "0" * 64}, "digest"),
        ({"data_categories": []}, "data_categories"),
    ],
)
def test_bad_edits_are_400s_naming_the_field_and_write_nothing(cast, api_as, body: dict[str, Any], field: str):
    version = make_draft(cast)
    client = api_as(cast.compliance)
    before = audit_count()
    response = client.patch(f"/api/v1/dpias/{version.dpia_id}/", body, format="json")
    assert response.status_code == 400, response.content
    error = assert_error_shape(response)
    assert field in error["fields"], error
    assert audit_count() == before
    assert DpiaVersion.objects.get(pk=version.pk).digest == version.digest


def test_a_dpia_covering_another_teams_dataset_is_refused_on_datasets(cast, api_as):
    foreign = make_personal_dataset(cast, team=cast.team_b, name="Team B data")
    use_case = make_use_case(cast.team_a, cast.engineer_a, name="Mixed", risk_tier="high")
    response = api_as(cast.superuser).post(
        "/api/v1/dpias/", {"use_case": use_case.pk, "datasets": [foreign.pk]}, format="json"
    )
    assert response.status_code == 400
    error = assert_error_shape(response)
    assert error["code"] == "dataset_of_another_team"
    assert "datasets" in error["fields"]
    assert not Dpia.objects.exists()
    assert AuditEvent.objects.filter(event_type=AuditEventType.DPIA_REFUSED).count() == 1


def test_editing_an_approved_dpia_is_a_409(cast, api_as):
    version = make_approved(cast)
    response = api_as(cast.compliance).patch(f"/api/v1/dpias/{version.dpia_id}/", {"purposes": "x"}, format="json")
    assert response.status_code == 409
    assert assert_error_shape(response)["code"] == "dpia_not_editable"


def test_the_author_approving_is_a_403_naming_why(cast, api_as):
    from core import actions as core_actions

    privacy = cast.reviewers["privacy"]
    core_actions.do_grant_membership(cast.team_a, actor=cast.superuser, user=privacy, role="compliance_officer")
    use_case = make_use_case(cast.team_a, cast.engineer_a, name="Own", risk_tier="high")
    client = api_as(privacy)
    created = client.post(
        "/api/v1/dpias/",
        {"use_case": use_case.pk, "datasets": [make_personal_dataset(cast).pk], "review_date": in_days(30).isoformat()},
        format="json",
    )
    assert created.status_code == 201, created.content
    dpia_id = created.json()["id"]
    criteria = {key: {"answer": False, "note": ""} for key in CRITERIA}
    assert client.post(f"/api/v1/dpias/{dpia_id}/screen/", {"criteria": criteria}, format="json").status_code == 200
    assert client.post(f"/api/v1/dpias/{dpia_id}/submit/", {}, format="json").status_code == 200
    response = client.post(f"/api/v1/dpias/{dpia_id}/approve/", {}, format="json")
    assert response.status_code == 403
    assert assert_error_shape(response)["code"] == "author_cannot_review"


def test_screening_without_every_criterion_is_a_400_on_criteria(cast, api_as):
    version = make_draft(cast)
    response = api_as(cast.compliance).post(
        f"/api/v1/dpias/{version.dpia_id}/screen/", {"criteria": {"large_scale": {"answer": True}}}, format="json"
    )
    assert response.status_code == 400
    assert "criteria" in assert_error_shape(response)["fields"]


def test_submitting_an_incomplete_dpia_names_each_missing_field(cast, api_as):
    version = make_draft(cast, review_date=None)
    response = api_as(cast.compliance).post(f"/api/v1/dpias/{version.dpia_id}/submit/", {}, format="json")
    assert response.status_code == 400
    assert set(assert_error_shape(response)["fields"]) == {"screening", "review_date"}


def test_the_detail_reads_in_full(cast, api_as):
    version = make_approved(cast)
    body = api_as(cast.auditor).get(f"/api/v1/dpias/{version.dpia_id}/").json()
    latest = body["latest"]
    assert body["use_case_name"] == "Credit limit"
    assert latest["status"] == "approved"
    assert latest["digest"] == version.digest
    assert latest["risks"][0]["level"] == "high"
    assert latest["data_categories"][0]["personal_data"] == ["age", "income"]
    assert [move["to_status"] for move in latest["transitions"]] == ["submitted", "approved"]
    assert latest["reclassified_since"] == []
    assert latest["expired"] is False
    listed = api_as(cast.auditor).get("/api/v1/dpias/?status=approved").json()
    assert [item["id"] for item in listed["results"]] == [version.dpia_id]
    assert api_as(cast.auditor).get("/api/v1/dpias/?status=nope").status_code == 400
