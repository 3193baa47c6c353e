"""Legal holds: what they cover, that nothing they cover is deleted by anyone, and that a release takes two
different compliance officers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from compliance import actions
from compliance.choices import HoldStatus
from compliance.holds import check_not_held, holds_covering
from compliance.models import LegalHold, LegalHoldEvent, Purge
from core.choices import AuditEventType
from core.models import AuditEvent
from core.refusals import Refusal
from registry import artifacts
from tests.compliance.conftest import Estate
from tests.registry.factories import make_dataset, make_dataset_version, make_use_case

pytestmark = pytest.mark.django_db


def hold_dataset(cast: Any, estate: Estate, **extra: Any) -> LegalHold:
    return actions.do_place_hold(
        cast.team_a,
        actor=cast.compliance,
        scope="dataset",
        dataset=estate.dataset,
        case_reference="CASE-2026-17",
        reason="Litigation about credit refusals.",
        **extra,
    )


def test_a_dataset_hold_covers_its_versions_not_others(cast: Any, estate: Estate) -> None:
    # GIVEN a hold on the credit dataset
    hold = hold_dataset(cast, estate)
    # THEN it covers the dataset's version, and nothing of another dataset
    assert holds_covering(estate.version) == [hold]
    other = make_dataset(cast.team_a, cast.engineer_a, name="Marketing", legal_basis="not_applicable")
    assert holds_covering(make_dataset_version(other, cast.engineer_a)) == []
    assert holds_covering(estate.model_version) == []
    event = AuditEvent.objects.get(event_type=AuditEventType.LEGAL_HOLD_PLACED)
    assert event.actor_id == cast.compliance.pk
    assert (event.after or {})["case_reference"] == "CASE-2026-17"
    assert list(LegalHoldEvent.objects.filter(hold=hold).values_list("action", flat=True)) == ["placed"]


def test_team_model_use_case_and_subject_scopes(cast: Any, estate: Estate) -> None:
    use_case = make_use_case(cast.team_a, cast.engineer_a)
    by_model = actions.do_place_hold(
        cast.team_a, actor=cast.compliance, scope="model", model=estate.model, case_reference="M-1", reason="r"
    )
    assert holds_covering(estate.model_version) == [by_model]
    by_subject = actions.do_place_hold(
        cast.team_a,
        actor=cast.compliance,
        scope="subject",
        subject_identifier="cust-42",
        case_reference="S",
        reason="x",
    )
    # The credit data holds personal data (legal basis: contract): a subject hold covers it, the model artifact not.
    assert holds_covering(estate.version) == [by_subject]
    assert holds_covering(estate.version, subject="cust-7") == []
    assert holds_covering(estate.model_version) == [by_model]
    by_team = actions.do_place_hold(cast.team_a, actor=cast.compliance, scope="team", case_reference="T", reason="r")
    assert by_team in holds_covering(estate.model_version)
    by_use_case = actions.do_place_hold(
        cast.team_a, actor=cast.compliance, scope="use_case", use_case=use_case, case_reference="U", reason="r"
    )
    assert by_use_case not in holds_covering(estate.model_version)  # the model serves no use case


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"scope": "dataset"}, "dataset"),
        ({"scope": "team", "subject_identifier": "x"}, "subject_identifier"),
        ({"scope": "subject"}, "subject_identifier"),
        ({"scope": "galaxy"}, "scope"),
        ({"scope": "team", "case_reference": ""}, "case_reference"),
    ],
)
def test_bad_holds_are_refused_naming_the_field(cast: Any, fields: dict[str, Any], field: str) -> None:
    values = {"case_reference": "C-1", "reason": "why", **fields}
    with pytest.raises(ValidationError, match=field):
        actions.do_place_hold(cast.team_a, actor=cast.compliance, **values)
    assert not LegalHold.objects.exists()


def test_another_teams_dataset_cannot_be_held_and_engineers_place_no_hold(cast: Any, estate: Estate) -> None:
    theirs = make_dataset(cast.team_b, cast.engineer_b, name="Theirs")
    with pytest.raises(ValidationError, match="does not exist"):
        actions.do_place_hold(
            cast.team_a, actor=cast.compliance, scope="dataset", dataset=theirs, case_reference="C", reason="r"
        )
    with pytest.raises(PermissionDenied, match="compliance officers"):
        actions.do_place_hold(cast.team_a, actor=cast.engineer_a, scope="team", case_reference="C", reason="r")
    assert not LegalHold.objects.exists()


@pytest.mark.parametrize("persona", ["owner", "admin", "superuser"])
def test_deleting_a_held_dataset_version_is_refused_and_nothing_is_lost(
    cast: Any, estate: Estate, persona: str
) -> None:
    # GIVEN a hold on the dataset
    hold_dataset(cast, estate)
    actor = {"owner": cast.engineer_a, "admin": cast.admin_a, "superuser": cast.superuser}[persona]
    # WHEN its owner, a team admin or a superuser deletes the version's files
    with pytest.raises(Refusal, match="under legal hold") as refused:
        actions.do_delete_record_bytes(estate.version, actor=actor, reason="tidy up")
    # THEN 409, recorded, and the files are still there
    assert refused.value.status == 409
    assert (estate.files / "part-0.parquet").read_bytes() == b"PAR1 rows PAR1"
    assert not Purge.objects.exists()
    refusal = AuditEvent.objects.get(event_type=AuditEventType.RETENTION_DELETION_REFUSED)
    assert refusal.actor_id == actor.pk
    assert refusal.metadata["reason"] == "under_legal_hold"


def test_deleting_a_held_model_artifact_is_refused(cast: Any, estate: Estate) -> None:
    actions.do_place_hold(cast.team_a, actor=cast.compliance, scope="team", case_reference="T-9", reason="audit")
    with pytest.raises(Refusal, match="T-9"):
        actions.do_delete_record_bytes(estate.model_version, actor=cast.superuser, reason="space")
    artifacts.verify(estate.model_version.artifact_sha256)


def test_check_not_held_is_the_one_test(cast: Any, estate: Estate) -> None:
    check_not_held(estate.version)  # no hold: returns
    hold_dataset(cast, estate)
    with pytest.raises(Refusal, match="CASE-2026-17"):
        check_not_held(estate.version)


def test_releasing_takes_two_different_officers(cast: Any, estate: Estate, officer_2: Any) -> None:
    # GIVEN a hold
    hold = hold_dataset(cast, estate)
    # WHEN one officer requests its release and then tries to confirm it alone
    actions.do_request_hold_release(hold, actor=cast.compliance, note="The case settled.")
    with pytest.raises(Refusal, match="second compliance officer") as refused:
        actions.do_confirm_hold_release(hold, actor=cast.compliance)
    # THEN it is refused (recorded) and the hold still holds
    assert refused.value.status == 403
    hold.refresh_from_db()
    assert hold.status == HoldStatus.RELEASE_REQUESTED
    assert holds_covering(estate.version) == [hold]
    assert AuditEvent.objects.filter(event_type=AuditEventType.LEGAL_HOLD_REFUSED).count() == 1
    # WHEN a second officer confirms THEN it is released, with its history
    actions.do_confirm_hold_release(hold, actor=officer_2, note="Checked with legal.")
    hold.refresh_from_db()
    assert hold.status == HoldStatus.RELEASED
    assert holds_covering(estate.version) == []
    assert list(hold.events.values_list("action", "actor_name")) == [
        ("placed", "carol-compliance"),
        ("release_requested", "carol-compliance"),
        ("released", "olga-compliance"),
    ]
    released = AuditEvent.objects.get(event_type=AuditEventType.LEGAL_HOLD_RELEASED)
    assert released.actor_id == officer_2.pk
    assert released.metadata["requested_by"] == "carol-compliance"
    assert AuditEvent.objects.filter(event_type=AuditEventType.LEGAL_HOLD_RELEASE_REQUESTED).count() == 1


def test_confirm_without_request_and_request_twice_refused(cast: Any, estate: Estate, officer_2: Any) -> None:
    hold = hold_dataset(cast, estate)
    with pytest.raises(Refusal, match="No release"):
        actions.do_confirm_hold_release(hold, actor=officer_2)
    actions.do_request_hold_release(hold, actor=cast.compliance, note="done")
    with pytest.raises(Refusal, match="only an active hold"):
        actions.do_request_hold_release(hold, actor=officer_2, note="again")
    with pytest.raises(ValidationError, match="note"):
        actions.do_request_hold_release(hold_dataset(cast, estate), actor=cast.compliance, note=" ")


def test_an_engineer_cannot_release(cast: Any, estate: Estate) -> None:
    hold = hold_dataset(cast, estate)
    with pytest.raises(PermissionDenied, match="compliance officers"):
        actions.do_request_hold_release(hold, actor=cast.engineer_a, note="please")


def test_unheld_manual_deletion_purges_with_a_tombstone(cast: Any, estate: Estate, tmp_path: Path) -> None:
    purge = actions.do_delete_record_bytes(estate.version, actor=cast.engineer_a, reason="Consent withdrawn.")
    assert purge.state == "done"
    assert not estate.files.exists()
    assert purge.detail["bytes"] == "deleted"
    assert purge.notice.startswith("purged by erin-engineer on ")
    assert [e.event_type for e in AuditEvent.objects.filter(target_id=str(estate.version.pk)).order_by("seq")][-2:] == [
        AuditEventType.RETENTION_PURGE_STARTED,
        AuditEventType.RETENTION_PURGED,
    ]
    with pytest.raises(Refusal, match="already purged"):
        actions.do_delete_record_bytes(estate.version, actor=cast.engineer_a, reason="again")
