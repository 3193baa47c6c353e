"""DPIA rules (compliance.actions.dpia): screening, the workflow and who may move it, immutability of an approved
version, versions, the pre-fill from the datasets' schemas, and bad input."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction

from compliance import actions
from compliance.dpia import version_digest
from compliance.dpia_rules import DpiaStatus, risk_level
from compliance.models import DpiaTransition, DpiaVersion
from core.choices import AuditEventType
from core.models import AuditEvent
from core.refusals import Refusal
from tests.compliance.dpia_factories import (
    RISK,
    SCREENING,
    in_days,
    make_approved,
    make_draft,
    make_personal_dataset,
    make_submitted,
)
from tests.registry.factories import make_use_case

pytestmark = pytest.mark.django_db


def events(kind: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=kind))


def test_a_draft_is_prefilled_from_the_schemas_of_its_datasets(cast):
    # GIVEN a dataset whose schema marks age (personal, protected) and income (personal), residing in eu-west-1
    # WHEN a compliance officer opens a DPIA covering it
    version = make_draft(cast)
    # THEN the categories and transfers list the columns and the residency, and the creation is audited
    [category] = version.data_categories
    assert category["personal_data"] == ["age", "income"]
    assert category["protected_attribute"] == ["age"]
    assert category["special_category"] == []
    assert version.transfers == [{"dataset": "Loan applications", "residency_region": "eu-west-1"}]
    assert version.status == DpiaStatus.DRAFT
    assert version.number == 1
    assert version.digest == version_digest(version)
    assert len(events(AuditEventType.DPIA_CREATED)) == 1


def test_screening_two_criteria_requires_a_full_dpia_and_says_why(cast):
    version = make_draft(cast)
    screened = actions.do_screen_dpia(version.dpia, actor=cast.compliance, criteria=SCREENING)
    assert screened.full_dpia_required is True
    assert "3 of the EDPB's nine criteria" in screened.screening_reason
    one = {key: {"answer": key == "large_scale", "note": ""} for key in SCREENING}
    screened = actions.do_screen_dpia(version.dpia, actor=cast.compliance, criteria=one)
    assert screened.full_dpia_required is False
    assert "Only one criterion" in screened.screening_reason
    assert len(events(AuditEventType.DPIA_SCREENED)) == 2


def test_the_risk_matrix_and_prior_consultation():
    assert risk_level("remote", "minimal") == "low"
    assert risk_level("possible", "significant") == "medium"
    assert risk_level("probable", "severe") == "high"


def test_a_high_residual_risk_needs_prior_consultation(cast):
    risk = {**RISK, "residual_likelihood": "probable", "residual_severity": "severe"}
    version = make_draft(cast, risks=[risk])
    assert version.risks[0]["residual_level"] == "high"
    assert version.risks[0]["level"] == "high"
    assert version.prior_consultation_required is True


def test_the_workflow_draft_submitted_approved_is_recorded_as_rows(cast):
    # GIVEN a screened, complete draft WHEN it is submitted and the privacy reviewer approves it
    version = make_approved(cast)
    # THEN the version is approved, each move a row, each with its event
    assert version.status == DpiaStatus.APPROVED
    moves = list(DpiaTransition.objects.filter(version=version).values_list("from_status", "to_status", "actor_name"))
    assert moves == [("draft", "submitted", "carol-compliance"), ("submitted", "approved", "rita-privacy")]
    assert len(events(AuditEventType.DPIA_SUBMITTED)) == 1
    assert len(events(AuditEventType.DPIA_APPROVED)) == 1


def test_a_returned_version_is_edited_and_submitted_again(cast):
    version = make_submitted(cast)
    with pytest.raises(ValidationError, match="Say what must change"):
        actions.do_review_dpia(version.dpia, actor=cast.reviewers["privacy"], decision="return", comment="")
    actions.do_review_dpia(version.dpia, actor=cast.reviewers["privacy"], decision="return", comment="Add a risk.")
    assert len(events(AuditEventType.DPIA_RETURNED)) == 1
    edited = actions.do_edit_dpia(version.dpia, actor=cast.compliance, risks=[RISK, {**RISK, "title": "Re-use"}])
    assert edited.status == DpiaStatus.RETURNED
    assert len(edited.risks) == 2
    again = actions.do_submit_dpia(version.dpia, actor=cast.compliance)
    assert again.status == DpiaStatus.SUBMITTED


def test_an_engineer_cannot_approve_and_the_refusal_is_recorded(cast):
    # GIVEN a submitted DPIA WHEN an engineer of the team (or a legal reviewer, or the platform admin) approves it
    version = make_submitted(cast)
    for person in (cast.engineer_a, cast.reviewers["legal"], cast.superuser, cast.compliance):
        with pytest.raises(Refusal, match="privacy/DPO board role") as refused:
            actions.do_review_dpia(version.dpia, actor=person, decision="approve")
        assert refused.value.status == 403
    # THEN it stays submitted and each refusal is on record
    assert DpiaVersion.objects.get(pk=version.pk).status == DpiaStatus.SUBMITTED
    assert len(events(AuditEventType.DPIA_REFUSED)) == 4


def test_the_author_cannot_approve_their_own_dpia(cast):
    # GIVEN the privacy reviewer is also a compliance officer of the team who wrote the DPIA
    from core import actions as core_actions

    privacy = cast.reviewers["privacy"]
    core_actions.do_grant_membership(cast.team_a, actor=cast.superuser, user=privacy, role="compliance_officer")
    use_case = make_use_case(cast.team_a, cast.engineer_a, name="Own", risk_tier="high")
    version = actions.do_create_dpia(use_case, actor=privacy, datasets=[make_personal_dataset(cast)], **{})
    actions.do_edit_dpia(version.dpia, actor=privacy, review_date=in_days(30))
    actions.do_screen_dpia(version.dpia, actor=privacy, criteria={k: {"answer": False} for k in SCREENING})
    actions.do_submit_dpia(version.dpia, actor=privacy)
    # WHEN they approve it THEN it is refused
    with pytest.raises(Refusal, match="You wrote version 1") as refused:
        actions.do_review_dpia(version.dpia, actor=privacy, decision="approve")
    assert refused.value.reason == "author_cannot_review"
    assert DpiaVersion.objects.get(pk=version.pk).status == DpiaStatus.SUBMITTED


def test_an_approved_dpia_cannot_be_edited_by_the_action_or_by_sql(cast):
    version = make_approved(cast)
    # WHEN the author edits it THEN the action refuses (409), on record
    with pytest.raises(Refusal, match="approved: a change is a new version") as refused:
        actions.do_edit_dpia(version.dpia, actor=cast.compliance, purposes="Something else.")
    assert refused.value.status == 409
    assert len(events(AuditEventType.DPIA_REFUSED)) == 1
    # AND the database itself refuses an UPDATE of the approved row
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        DpiaVersion.objects.filter(pk=version.pk).update(purposes="Tampered.")
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        DpiaVersion.objects.filter(pk=version.pk).update(status="draft")
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        DpiaTransition.objects.filter(version=version).update(comment="Tampered.")


def test_a_change_after_approval_is_a_new_version(cast):
    approved = make_approved(cast)
    # WHEN a new version is started THEN it is version 2, a draft copy, the approved one untouched
    draft = actions.do_new_dpia_version(approved.dpia, actor=cast.compliance)
    assert (draft.number, draft.status) == (2, DpiaStatus.DRAFT)
    assert draft.purposes == approved.purposes
    assert draft.digest != approved.digest
    assert DpiaVersion.objects.get(pk=approved.pk).status == DpiaStatus.APPROVED
    assert len(events(AuditEventType.DPIA_VERSION_CREATED)) == 1
    # AND another new version while the draft is open is refused
    with pytest.raises(Refusal, match="Version 2 is draft"):
        actions.do_new_dpia_version(approved.dpia, actor=cast.compliance)


def test_a_dpia_cannot_cover_another_teams_datasets(cast):
    # GIVEN a dataset of team B
    foreign = make_personal_dataset(cast, team=cast.team_b, name="Team B data")
    use_case = make_use_case(cast.team_a, cast.engineer_a, name="Mixed", risk_tier="high")
    # WHEN the platform admin (who sees both) covers it in team A's DPIA THEN it is refused naming the field
    with pytest.raises(Refusal, match="Team B data belong to another team") as refused:
        actions.do_create_dpia(use_case, actor=cast.superuser, datasets=[foreign])
    assert (refused.value.status, refused.value.field) == (400, "datasets")
    assert not DpiaVersion.objects.exists()


def test_a_review_date_in_the_past_is_refused_and_one_passed_cannot_be_approved(cast):
    with pytest.raises(ValidationError, match="is not after today") as error:
        make_draft(cast, review_date=in_days(-1))
    assert "review_date" in error.value.message_dict
    assert not DpiaVersion.objects.exists()


def test_a_submission_lacking_sections_names_each(cast):
    version = make_draft(cast, purposes="", risks=[], review_date=None)
    with pytest.raises(ValidationError, match="Screen the processing") as error:
        actions.do_submit_dpia(version.dpia, actor=cast.compliance)
    assert set(error.value.message_dict) == {"screening", "review_date"}
    actions.do_screen_dpia(version.dpia, actor=cast.compliance, criteria=SCREENING)
    with pytest.raises(ValidationError, match="A full DPIA") as error:
        actions.do_submit_dpia(version.dpia, actor=cast.compliance)
    assert set(error.value.message_dict) == {"purposes", "risks", "review_date"}


def test_only_compliance_officers_and_admins_write(cast):
    use_case = make_use_case(cast.team_a, cast.engineer_a, name="Who writes", risk_tier="high")
    for person in (cast.engineer_a, cast.auditor, cast.reviewers["privacy"], cast.engineer_b):
        with pytest.raises(PermissionDenied, match="Only compliance officers and admins of team team-a"):
            actions.do_create_dpia(use_case, actor=person, datasets=[])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("purposes", 5, "Text expected"),
        ("purposes", "x" * 20_001, "At most 20000 characters"),
        ("legal_basis", "because", "One of"),
        ("risks", "many", "A list of risks"),
        ("risks", [{"title": ""}], r"risks\[0\].title"),
        ("risks", [{**RISK, "likelihood": "sometimes"}], r"risks\[0\].likelihood"),
        ("risks", [{**RISK, "residual_severity": None}], r"risks\[0\].residual_severity"),
        ("risks", [{**RISK, "owner": "me"}], "unknown field"),
        ("review_date", "2030-01-01", "A date"),
        ("review_date", datetime.date(2000, 1, 1), "is not after today"),
        ("status", "approved", "cannot be edited"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(cast, field, value, message):
    version = make_draft(cast)
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError, match=message) as error:
        actions.do_edit_dpia(version.dpia, actor=cast.compliance, **{field: value})
    assert field in error.value.message_dict
    assert AuditEvent.objects.count() == before
    assert DpiaVersion.objects.get(pk=version.pk).digest == version.digest


def test_screening_must_answer_all_nine(cast):
    version = make_draft(cast)
    partial = dict(list(SCREENING.items())[:3])
    with pytest.raises(ValidationError, match="missing: sensitive_data, large_scale") as error:
        actions.do_screen_dpia(version.dpia, actor=cast.compliance, criteria=partial)
    assert "criteria" in error.value.message_dict
    with pytest.raises(ValidationError, match="answer"):
        actions.do_screen_dpia(
            version.dpia, actor=cast.compliance, criteria={**SCREENING, "large_scale": {"answer": "yes"}}
        )


def test_one_dpia_per_use_case(cast):
    version = make_draft(cast)
    with pytest.raises(ValidationError, match="already has a DPIA"):
        actions.do_create_dpia(version.dpia.use_case, actor=cast.compliance, datasets=[])
