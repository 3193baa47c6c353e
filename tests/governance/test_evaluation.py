"""Which signatures still count (governance.evaluation), with real keys, real envelopes and the real actions.

The policy of the world (tests/governance/factories.py) needs a legal and a technical approver, two people in all,
approvals valid for 30 days.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.choices import BoardRole
from governance import actions
from governance.evaluation import (
    CONFLICTED,
    EXPIRED,
    KEY_REVOKED,
    NOT_ON_BOARD,
    STALE,
    approval_states,
    release_state,
)
from governance.manifest import build_manifest, manifest_diff
from governance.models import BoardMember
from registry import actions as registry_actions
from tests.governance.factories import set_reasons
from tests.serving.factories import approve, submit

pytestmark = pytest.mark.django_db

LEGAL, TECHNICAL, RISK = BoardRole.LEGAL, BoardRole.TECHNICAL, BoardRole.RISK


def test_two_roles_approving_meet_the_policy(rw):
    # GIVEN a release nobody has signed
    state = release_state(rw.release)
    assert not state.approved
    assert not state.rejected
    assert state.roles_needed == {LEGAL: 1, TECHNICAL: 1}
    assert state.approvers_needed == 2
    # WHEN the legal and the technical reviewer approve
    approve(rw)
    # THEN the release is approved, every signature counts, nothing more is needed
    state = release_state(rw.release)
    assert state.approved
    assert not state.rejected
    assert [s.counts for s in state.approvals] == [True, True]
    assert state.roles_needed == {}
    assert state.approvers_needed == 0
    assert state.quorum.detail.startswith("met:")


def test_a_counted_reject_vetoes(rw):
    # GIVEN the quorum is met
    approve(rw)
    # WHEN the risk reviewer rejects
    submit(rw, rw.cast.reviewers[RISK], RISK, decision="reject")
    # THEN the release is rejected, not approved
    state = release_state(rw.release)
    assert state.rejected
    assert not state.approved
    assert "rejected by rita-risk (risk)" in state.quorum.detail


def test_one_person_in_two_roles_counts_once(rw):
    # GIVEN the legal reviewer also sits on the board as technical
    legal = rw.cast.reviewers[LEGAL]
    actions.do_add_board_member(rw.board, actor=rw.cast.compliance, user=legal, board_role=TECHNICAL)
    # WHEN they approve (one signature per person per manifest: in one of their roles)
    submit(rw, legal, LEGAL)
    # THEN legal is filled, technical is still needed: one person never fills two places
    state = release_state(rw.release)
    assert not state.approved
    assert state.roles_needed == {TECHNICAL: 1}
    assert state.approvers_needed == 1


def test_approvals_past_their_validity_stop_counting(rw):
    # GIVEN an approved release
    legal, technical = approve(rw)
    valid_until = technical.received_at + timedelta(days=30)
    # WHEN it is judged just before the first approval's 30 days are over, and just after (server time decides)
    before = release_state(rw.release, now=legal.received_at + timedelta(days=30) - timedelta(seconds=1))
    after = release_state(rw.release, now=valid_until)
    # THEN it counts before and not after, and each expired approval says so
    assert before.approved
    assert not after.approved
    assert [s.codes for s in after.approvals] == [[EXPIRED], [EXPIRED]]
    assert "expired on" in after.approvals[0].reasons[0]


def test_a_revoked_key_stops_its_approvals_counting_from_revocation(rw):
    # GIVEN an approved release
    _, last = approve(rw)
    signed_at = last.received_at  # both signatures are in, the key not yet revoked
    # WHEN the legal reviewer's key is revoked (a stolen laptop)
    _, key = rw.key_of(rw.cast.reviewers[LEGAL])
    actions.do_revoke_signing_key(key, actor=rw.cast.compliance, reason="Laptop stolen")
    # THEN the legal approval no longer counts, with the reason; judged at a moment before the revocation it did
    state = release_state(rw.release)
    assert not state.approved
    assert state.approvals[0].codes == [KEY_REVOKED]
    assert "Laptop stolen" in state.approvals[0].reasons[0]
    assert state.roles_needed == {LEGAL: 1}
    assert release_state(rw.release, now=signed_at).approved


def test_a_signer_unseated_from_the_board_no_longer_counts(rw):
    approve(rw)
    seat = BoardMember.objects.get(board=rw.board, user=rw.cast.reviewers[TECHNICAL], board_role=TECHNICAL)
    actions.do_remove_board_member(seat, actor=rw.cast.compliance)
    state = release_state(rw.release)
    assert not state.approved
    assert state.approvals[1].codes == [NOT_ON_BOARD]


def test_a_dataset_changed_after_approval_makes_the_approvals_stale(rw):
    # GIVEN an approved release
    approve(rw)
    # WHEN the training dataset's classification is changed
    dataset = rw.version.dataset_versions.get().dataset
    registry_actions.do_update_dataset(dataset, actor=rw.cast.engineer_a, classification="restricted")
    # THEN both approvals are stale: still shown, no longer counted; the release needs signing again
    state = release_state(rw.release)
    assert not state.approved
    assert [s.codes for s in state.approvals] == [[STALE], [STALE]]
    assert all(s.stale and not s.counts for s in state.approvals)
    assert state.current_digest != rw.release.manifest_digest


def test_a_reason_catalogue_changed_after_approval_makes_the_approvals_stale(rw):
    # GIVEN a model with a reason catalogue, and its release approved over the manifest that carries it
    first, _ = set_reasons(rw.version.model, rw.cast.engineer_a, "Your income is low")
    signed = build_manifest(rw.release)
    assert signed["reason_catalogue"]["digest"] == first.digest
    approve(rw)
    assert release_state(rw.release).approved
    # WHEN an engineer rewords the sentence a person is shown
    _, created = set_reasons(rw.version.model, rw.cast.engineer_a, "Your income is low for the limit requested")
    assert created
    # THEN both approvals are stale: the board reviewed other reasons than those now given
    state = release_state(rw.release)
    assert not state.approved
    assert [s.codes for s in state.approvals] == [[STALE], [STALE]]
    # AND the manifest's difference names the catalogue's new version and the reworded sentence
    changed = {change["path"] for change in manifest_diff(signed, build_manifest(rw.release))}
    assert {"reason_catalogue.number", "reason_catalogue.digest", "reason_catalogue.entries[0].text"} <= changed


def _seat_admin_as_risk(rw):
    """Team A's admin sits on the board as risk, and the policy now needs a risk approver too."""
    actions.do_add_board_member(rw.board, actor=rw.cast.compliance, user=rw.cast.admin_a, board_role=RISK)
    return rw.cast.admin_a


def test_a_signer_who_later_changes_what_the_release_covers_loses_their_approval(rw):
    # GIVEN the team admin, on the board as risk, approved
    admin = _seat_admin_as_risk(rw)
    approve(rw)
    submit(rw, admin, RISK)
    assert release_state(rw.release).approved
    # WHEN they then edit the model (its tags: not in the manifest, so nothing goes stale)
    registry_actions.do_update_model(rw.version.model, actor=admin, tags=["retagged"])
    # THEN their approval stops counting for separation of duties, and only theirs
    states = approval_states(rw.release)
    assert [s.codes for s in states] == [[], [], [CONFLICTED]]
    assert "may not judge this release" in states[2].reasons[0]
    assert release_state(rw.release).approved  # legal and technical still suffice


def test_a_conflicted_reject_still_vetoes(rw):
    admin = _seat_admin_as_risk(rw)
    approve(rw)
    submit(rw, admin, RISK, decision="reject")
    registry_actions.do_update_model(rw.version.model, actor=admin, tags=["retagged"])
    state = release_state(rw.release)
    assert state.approvals[2].counts
    assert state.rejected
    assert not state.approved


def test_the_number_of_queries_does_not_grow_with_the_approvals(rw, cast):
    # GIVEN a release with one approval
    submit(rw, cast.reviewers[LEGAL], LEGAL)
    with CaptureQueriesContext(connection) as one:
        release_state(rw.release)
    # WHEN the four other board roles approve too
    for role in (TECHNICAL, RISK, BoardRole.PRIVACY, BoardRole.COMPLIANCE):
        submit(rw, cast.reviewers[role], role)
    with CaptureQueriesContext(connection) as five:
        state = release_state(rw.release)
    # THEN judging it takes as many queries as before
    assert len(state.approvals) == 5
    assert state.approved
    assert len(five.captured_queries) == len(one.captured_queries), [q["sql"] for q in five.captured_queries]
