"""The attacks and bad inputs of the retention and hold API, beyond the permission matrix: deleting under a hold as
owner, admin or superuser (409, nothing lost, the refusal recorded), one officer releasing a hold alone, absurd
durations, foreign objects, a version not retired."""

from __future__ import annotations

from typing import Any

import pytest

from compliance import actions
from compliance.models import LegalHold, Purge, RetentionPolicy
from core.choices import AuditEventType
from core.models import AuditEvent
from registry import artifacts
from tests.compliance.conftest import Estate
from tests.registry.factories import make_dataset, make_model, make_model_version

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("persona", ["engineer_a", "admin_a", "superuser"])
@pytest.mark.parametrize("what", ["files", "artifact"])
def test_deleting_under_hold_is_409_and_nothing_is_lost(
    cast: Any, estate: Estate, api_as: Any, persona: str, what: str
) -> None:
    # GIVEN a hold on the team's records
    actions.do_place_hold(cast.team_a, actor=cast.compliance, scope="team", case_reference="LIT-3", reason="Court.")
    user = cast.all()[persona]
    url = (
        f"/api/v1/compliance/dataset-versions/{estate.version.pk}/delete-files/"
        if what == "files"
        else f"/api/v1/compliance/model-versions/{estate.model_version.pk}/delete-artifact/"
    )
    # WHEN the owner, an admin or a superuser deletes
    response = api_as(user).post(url, {"reason": "Space."}, format="json")
    # THEN 409 naming the hold, the refusal recorded, and every byte still there
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "under_legal_hold"
    assert "LIT-3" in response.json()["error"]["message"]
    assert not Purge.objects.exists()
    assert (estate.files / "part-0.parquet").read_bytes() == b"PAR1 rows PAR1"
    artifacts.verify(estate.model_version.artifact_sha256)
    refusal = AuditEvent.objects.filter(event_type=AuditEventType.RETENTION_DELETION_REFUSED).get()
    assert refusal.actor_id == user.pk


def test_one_officer_cannot_release_a_hold_alone(cast: Any, estate: Estate, api_as: Any) -> None:
    hold = actions.do_place_hold(cast.team_a, actor=cast.compliance, scope="team", case_reference="X", reason="r")
    client = api_as(cast.compliance)
    assert (
        client.post(f"/api/v1/compliance/holds/{hold.pk}/request-release/", {"note": "done"}, format="json").status_code
        == 200
    )
    response = client.post(f"/api/v1/compliance/holds/{hold.pk}/confirm-release/", {}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "same_officer"
    hold.refresh_from_db()
    assert hold.status == "release_requested"
    assert AuditEvent.objects.filter(event_type=AuditEventType.LEGAL_HOLD_REFUSED, actor_id=cast.compliance.pk).exists()


@pytest.mark.parametrize(
    ("keep_days", "field"),
    [(-1, "keep_days"), (0, "keep_days"), (36_501, "keep_days"), (10**30, "keep_days"), ("soon", "keep_days")],
)
def test_absurd_durations_are_400_naming_the_field(cast: Any, api_as: Any, keep_days: Any, field: str) -> None:
    response = api_as(cast.compliance).post(
        "/api/v1/compliance/retention/policies/",
        {
            "team": "team-a",
            "target_kind": "job_logs",
            "classification": "internal",
            "keep_days": keep_days,
            "counted_from": "finished",
        },
        format="json",
    )
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not RetentionPolicy.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"counted_from": "retired"}, "counted_from"),
        ({"on_expiry": "anonymise"}, "on_expiry"),
        ({"target_kind": "tapes"}, "target_kind"),
        ({"classification": "top-secret"}, "classification"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_other_bad_policy_fields(cast: Any, api_as: Any, body: dict[str, Any], field: str) -> None:
    data = {
        "team": "team-a",
        "target_kind": "dataset_version_files",
        "classification": "internal",
        "keep_days": 10,
        "counted_from": "created",
        **body,
    }
    response = api_as(cast.compliance).post("/api/v1/compliance/retention/policies/", data, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


@pytest.mark.parametrize("within", ["0", "-5", "36501", "soon"])
def test_expiring_window_is_bounded(cast: Any, api_as: Any, within: str) -> None:
    response = api_as(cast.compliance).get(f"/api/v1/compliance/retention/expiring/?within={within}")
    assert response.status_code == 400
    assert "within" in response.json()["error"]["fields"]


def test_a_hold_on_another_teams_dataset_reads_as_missing(cast: Any, api_as: Any) -> None:
    theirs = make_dataset(cast.team_b, cast.engineer_b, name="Theirs")
    response = api_as(cast.compliance).post(
        "/api/v1/compliance/holds/",
        {"team": "team-a", "scope": "dataset", "dataset": theirs.pk, "case_reference": "C", "reason": "r"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["dataset"] == [f'Invalid pk "{theirs.pk}" - object does not exist.']
    assert not LegalHold.objects.exists()


def test_an_artifact_in_use_is_not_deleted(cast: Any, estate: Estate, api_as: Any, onnx_path: Any) -> None:
    live = make_model_version(make_model(cast.team_a, cast.engineer_a, name="Live"), cast.engineer_a, onnx_path)
    response = api_as(cast.superuser).post(
        f"/api/v1/compliance/model-versions/{live.pk}/delete-artifact/", {"reason": "x"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_retired"
    artifacts.verify(live.artifact_sha256)


def test_running_every_team_is_for_platform_administrators(cast: Any, api_as: Any) -> None:
    response = api_as(cast.compliance).post(
        "/api/v1/compliance/retention/runs/", {"team": None, "dry_run": True}, format="json"
    )
    assert response.status_code == 403
