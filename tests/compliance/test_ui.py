"""The retention and legal-hold pages through Django's test client: who sees what, the forms and their errors
(bad durations, a release confirmed by the officer who asked), deletion from the registry's pages refused under a
hold, and the purge notice on a version's page."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from compliance import actions
from compliance.models import LegalHold, Purge, RetentionPolicy
from tests.compliance.conftest import Estate

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_retention_page_shows_policies_expiring_records_and_a_form_for_officers(cast: Any, estate: Estate) -> None:
    actions.do_create_retention_policy(
        cast.team_a,
        actor=cast.compliance,
        target_kind="dataset_version_files",
        classification="confidential",
        keep_days=20,
        counted_from="created",
    )
    page = client_for(cast.compliance).get("/compliance/retention/").content.decode()
    assert "Dataset version files" in page
    assert str(estate.version) in page  # expires within 30 days
    assert 'id="policy-form"' in page
    engineer = client_for(cast.engineer_a).get("/compliance/retention/").content.decode()
    assert 'id="policy-form"' not in engineer
    assert "Dataset version files" in engineer
    outsider = client_for(cast.engineer_b).get("/compliance/retention/").content.decode()
    assert str(estate.version) not in outsider
    assert "No retention policy you can see." in outsider


def test_a_negative_duration_on_the_form_is_refused_on_its_field(cast: Any) -> None:
    response = client_for(cast.compliance).post(
        "/compliance/retention/",
        {
            "team": "team-a",
            "target_kind": "job_logs",
            "classification": "internal",
            "keep_days": "-3",
            "counted_from": "finished",
            "on_expiry": "delete",
        },
    )
    assert response.status_code == 400
    assert "Keep records between 1 and 36500 days" in response.content.decode()
    assert not RetentionPolicy.objects.exists()


def test_a_policy_is_created_and_changed_from_the_pages(cast: Any) -> None:
    client = client_for(cast.compliance)
    response = client.post(
        "/compliance/retention/",
        {
            "team": "team-a",
            "target_kind": "job_logs",
            "classification": "internal",
            "keep_days": "90",
            "counted_from": "finished",
            "on_expiry": "delete",
        },
    )
    policy = RetentionPolicy.objects.get()
    assert response.status_code == 302
    response = client.post(
        f"/compliance/retention/policies/{policy.pk}/",
        {"keep_days": "180", "counted_from": "finished", "on_expiry": "delete", "active": "on", "note": "Longer."},
    )
    assert response.status_code == 302
    assert list(policy.versions.values_list("keep_days", flat=True)) == [180, 90]
    assert client_for(cast.engineer_a).post(f"/compliance/retention/policies/{policy.pk}/", {}).status_code == 403


def test_holds_are_placed_and_released_by_two_officers_on_the_pages(cast: Any, estate: Estate, officer_2: Any) -> None:
    client = client_for(cast.compliance)
    response = client.post(
        "/compliance/holds/",
        {
            "team": "team-a",
            "scope": "dataset",
            "dataset": str(estate.dataset.pk),
            "case_reference": "CASE-UI",
            "reason": "Litigation.",
        },
    )
    hold = LegalHold.objects.get()
    assert response.status_code == 302
    assert "CASE-UI" in client_for(cast.auditor).get("/compliance/holds/").content.decode()
    assert client_for(cast.engineer_b).get(f"/compliance/holds/{hold.pk}/").status_code == 404
    client.post(f"/compliance/holds/{hold.pk}/request-release/", {"note": "Settled."})
    alone = client.post(f"/compliance/holds/{hold.pk}/confirm-release/", {"note": ""})
    assert alone.status_code == 403
    assert "a second compliance officer must confirm it" in alone.content.decode()
    hold.refresh_from_db()
    assert hold.status == "release_requested"
    confirmed = client_for(officer_2).post(f"/compliance/holds/{hold.pk}/confirm-release/", {"note": "OK."})
    assert confirmed.status_code == 302
    hold.refresh_from_db()
    assert hold.status == "released"
    assert client_for(cast.engineer_a).post(f"/compliance/holds/{hold.pk}/request-release/", {}).status_code == 403


def test_a_bad_hold_form_names_the_field(cast: Any) -> None:
    response = client_for(cast.compliance).post(
        "/compliance/holds/", {"team": "team-a", "scope": "dataset", "case_reference": "C", "reason": "r"}
    )
    assert response.status_code == 400
    assert "A hold on a dataset names one." in response.content.decode()
    assert not LegalHold.objects.exists()


def test_deleting_from_the_pages_is_refused_under_hold_and_shown_once_purged(cast: Any, estate: Estate) -> None:
    hold = actions.do_place_hold(cast.team_a, actor=cast.compliance, scope="team", case_reference="T-UI", reason="r")
    url = f"/compliance/dataset-versions/{estate.version.pk}/delete-files/"
    owner = client_for(cast.engineer_a)
    assert "Under legal hold" in owner.get(url).content.decode()
    refused = owner.post(url, {"reason": "Tidy."})
    assert refused.status_code == 409
    assert "under legal hold" in refused.content.decode()
    assert (estate.files / "part-0.parquet").exists()
    assert client_for(cast.auditor).post(url, {"reason": "x"}).status_code == 403
    assert client_for(cast.engineer_b).get(url).status_code == 404
    # Released (two officers), the owner deletes; the version page says so

    actions.do_request_hold_release(hold, actor=cast.compliance, note="done")
    actions.do_confirm_hold_release(hold, actor=cast.superuser)
    done = owner.post(url, {"reason": "Consent withdrawn."})
    assert done.status_code == 302
    assert Purge.objects.get().state == "done"
    page = owner.get(f"/datasets/{estate.dataset.pk}/versions/{estate.version.number}/").content.decode()
    assert "were purged by erin-engineer on" in page


def test_a_purged_artifact_answers_410_and_its_page_says_why(cast: Any, estate: Estate, api_as: Any) -> None:
    version = estate.model_version
    actions.do_delete_record_bytes(version, actor=cast.admin_a, reason="Retired.")
    response = api_as(cast.engineer_a).get(f"/api/v1/models/{estate.model.pk}/versions/{version.number}/artifact/")
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "artifact_purged"
    detail = api_as(cast.engineer_a).get(f"/api/v1/models/{estate.model.pk}/versions/{version.number}/").json()
    assert detail["purged"].startswith("purged by alice-admin on ")
    page = client_for(cast.engineer_a).get(f"/models/{estate.model.pk}/versions/{version.number}/").content.decode()
    assert "was purged by alice-admin" in page
