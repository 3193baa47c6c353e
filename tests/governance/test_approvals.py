"""Signed approvals, verified on receipt: the quorum that approves a version, and every attack of issue #4 that
belongs to receipt, each refused with a precise status and reason and recorded as APPROVAL_REFUSED (the reason,
never the envelope or its signature)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from assay_trust import dsse
from assay_trust import keys as trust_keys
from assay_trust import statement as trust_statement
from core.choices import AuditEventType
from core.models import AuditEvent
from core.refusals import Refusal
from governance import actions
from governance.evaluation import release_state
from governance.models import Approval, Release
from registry import actions as registry_actions
from registry.models import ModelVersion
from tests.api_cases import World
from tests.governance.factories import ReleaseWorld, make_client_key, make_policy, make_ready_version, sign

PASSPHRASE = "correct horse battery staple signing"


def refusals() -> list[Any]:
    return list(AuditEvent.objects.filter(event_type=AuditEventType.APPROVAL_REFUSED).order_by("seq"))


def refuse(rw: ReleaseWorld, user: Any, envelope: Any, match: str, release: Release | None = None) -> Refusal:
    """Submit ``envelope`` as ``user`` and return the refusal, whose message must match ``match``, checking that
    nothing was stored and that the refusal was recorded with its reason and without the envelope's signature."""
    before = Approval.objects.count()
    with pytest.raises(Refusal, match=match) as raised:
        actions.do_submit_approval(release or rw.release, actor=user, envelope=envelope)
    assert Approval.objects.count() == before
    event = refusals()[-1]
    assert event.actor_id == user.pk
    assert event.metadata["reason"] == raised.value.reason
    assert event.metadata["message"] == raised.value.message
    stored = json.dumps([event.metadata, event.before, event.after])
    for signature in envelope.get("signatures", []) if isinstance(envelope, dict) else []:
        if isinstance(signature, dict) and isinstance(signature.get("sig"), str) and len(signature["sig"]) > 20:
            assert signature["sig"][:20] not in stored
    return raised.value


def approve(rw: ReleaseWorld, role: str, **overrides: Any) -> Approval:
    user = rw.cast.reviewers[role]
    private, _ = rw.key_of(user)
    envelope = sign(rw.release, user, private, board_role=role, **overrides)
    return actions.do_submit_approval(rw.release, actor=user, envelope=envelope)


# --- The quorum ---------------------------------------------------------------------------------------------------


def test_two_board_members_in_the_required_roles_approve_the_version(rw: ReleaseWorld) -> None:
    # GIVEN a release needing legal and technical, two people
    legal = approve(rw, "legal", comment="Contract terms fine.")
    # THEN one signature is stored verbatim, with server time, and the version stays in review
    assert legal.envelope["payloadType"] == dsse.APPROVAL_PAYLOAD_TYPE
    assert legal.signed_via == "api"
    assert legal.manifest_digest == rw.release.manifest_digest
    assert legal.manifest == rw.release.manifest
    assert ModelVersion.objects.get(pk=rw.version.pk).status == "in_review"
    signed = AuditEvent.objects.get(event_type=AuditEventType.APPROVAL_SIGNED)
    assert (signed.after or {})["board_role"] == "legal"
    assert signed.actor_id == rw.cast.reviewers["legal"].pk
    # WHEN the technical reviewer approves THEN the quorum is met and the version is approved, by that signer
    approve(rw, "technical")
    assert release_state(rw.release).approved
    version = ModelVersion.objects.get(pk=rw.version.pk)
    assert version.status == "approved"
    transition = version.transitions.order_by("-id").first()
    assert transition is not None
    assert transition.actor == rw.cast.reviewers["technical"]
    assert "signatures meet policy" in transition.reason


def test_a_member_of_an_organisation_board_from_another_team_completes_the_quorum(
    cast: Any, artifact_root: Any, onnx_path: Any
) -> None:
    # GIVEN an organisation board whose technical member is team B's engineer (no role in team A)
    from tests.governance.factories import make_board, make_environment

    env = make_environment(cast.superuser)
    board = make_board(cast.superuser, None, {"legal": cast.reviewers["legal"], "technical": cast.engineer_b})
    make_policy(cast.superuser, None, env, board, name="Group default")
    version = make_ready_version(cast, onnx_path)
    release = actions.do_request_release(version, actor=cast.engineer_a, environment=env)
    for role, user in (("legal", cast.reviewers["legal"]), ("technical", cast.engineer_b)):
        private, _ = make_client_key(user)
        actions.do_submit_approval(release, actor=user, envelope=sign(release, user, private, board_role=role))
    # THEN the version is approved although the last signer may not review team A's registry
    assert ModelVersion.objects.get(pk=version.pk).status == "approved"


# --- Attacks (issue #4), each refused on receipt ------------------------------------------------------------------


def test_self_approval_is_refused_but_the_requester_may_reject(rw: ReleaseWorld) -> None:
    # GIVEN the engineer who requested (and built) the release, seated on the board as technical
    engineer = rw.cast.engineer_a
    actions.do_add_board_member(rw.board, actor=rw.cast.compliance, user=engineer, board_role="technical")
    private, _ = rw.key_of(engineer)
    # WHEN they approve THEN 403, separation of duties, with the reason
    refusal = refuse(
        rw,
        engineer,
        sign(rw.release, engineer, private, board_role="technical"),
        r"^Separation of duties: you requested this release, so you may not approve",
    )
    assert refusal.status == 403
    assert refusal.reason == "conflict_of_interest"
    assert "you requested this release" in refusal.message
    # WHEN they reject THEN it is accepted: a veto needs no independence
    rejection = actions.do_submit_approval(
        rw.release,
        actor=engineer,
        envelope=sign(rw.release, engineer, private, board_role="technical", decision="reject"),
    )
    assert rejection.decision == "reject"


def test_a_reviewer_signing_with_another_users_key_is_refused(rw: ReleaseWorld) -> None:
    legal, technical = rw.cast.reviewers["legal"], rw.cast.reviewers["technical"]
    technical_private, _ = rw.key_of(technical)
    # The technical reviewer's key, a statement in legal's name, submitted by legal
    refusal = refuse(
        rw,
        legal,
        sign(rw.release, legal, technical_private),
        r"^Key sha256:[0-9a-f]{64} is not yours: sign with your own key\.",
    )
    assert (refusal.status, refusal.reason) == (403, "not_your_key")
    # The technical reviewer's own envelope, submitted by legal
    refusal = refuse(
        rw,
        legal,
        sign(rw.release, technical, technical_private, board_role="technical"),
        r"^Key sha256:[0-9a-f]{64} is not yours: sign with your own key\.",
    )
    assert refusal.reason == "not_your_key"


def test_a_statement_in_another_signers_name_is_refused(rw: ReleaseWorld) -> None:
    legal = rw.cast.reviewers["legal"]
    private, _ = rw.key_of(legal)
    refusal = refuse(
        rw,
        legal,
        sign(rw.release, legal, private, signer_username="rita-technical"),
        r"^The statement is signed for 'rita-technical', but you are 'rita-legal'\.",
    )
    assert (refusal.status, refusal.reason) == (403, "signer_mismatch")


def test_a_role_the_signer_does_not_hold_is_refused(rw: ReleaseWorld) -> None:
    legal = rw.cast.reviewers["legal"]
    private, _ = rw.key_of(legal)
    refusal = refuse(
        rw,
        legal,
        sign(rw.release, legal, private, board_role="technical"),
        r"^You do not sit on board release-board as technical\.",
    )
    assert (refusal.status, refusal.reason) == (403, "role_not_held")
    assert "You do not sit on board release-board as technical" in refusal.message


def test_the_same_approval_twice_or_re_signed_counts_once(rw: ReleaseWorld) -> None:
    legal = rw.cast.reviewers["legal"]
    private, _ = rw.key_of(legal)
    envelope = sign(rw.release, legal, private)
    actions.do_submit_approval(rw.release, actor=legal, envelope=envelope)
    # The same bytes again
    assert (
        refuse(
            rw, legal, envelope, r"^You already signed this manifest of this release: one signature per person\."
        ).reason
        == "duplicate"
    )
    # Re-signed: another comment, another key of the same person
    second_private, _ = make_client_key(legal, name="second laptop")
    refusal = refuse(
        rw,
        legal,
        sign(rw.release, legal, second_private, comment="Really approve."),
        r"^You already signed this manifest of this release: one signature per person\.",
    )
    assert (refusal.status, refusal.reason) == (409, "duplicate")
    assert Approval.objects.count() == 1


def test_a_signature_from_release_a_replayed_on_release_b_is_refused(rw: ReleaseWorld) -> None:
    # GIVEN a second release (same version, staging) and a legal signature over release A
    staging = actions.do_create_environment(actor=rw.cast.superuser, slug="staging", name="Staging")
    make_policy(rw.cast.compliance, rw.cast.team_a, staging, rw.board, name="Staging high")
    release_b = actions.do_request_release(rw.version, actor=rw.cast.engineer_a, environment=staging)
    legal = rw.cast.reviewers["legal"]
    private, _ = rw.key_of(legal)
    envelope_a = sign(rw.release, legal, private)
    # WHEN it is submitted on release B THEN refused, naming both releases
    refusal = refuse(
        rw,
        legal,
        envelope_a,
        r"^The statement is about release [0-9a-f-]{36}, not this one \([0-9a-f-]{36}\)\.",
        release=release_b,
    )
    assert (refusal.status, refusal.reason) == (400, "wrong_release")
    assert str(rw.release.uid) in refusal.message
    # AND it still counts where it belongs
    actions.do_submit_approval(rw.release, actor=legal, envelope=envelope_a)


def test_a_signature_over_an_older_manifest_is_refused(rw: ReleaseWorld) -> None:
    legal = rw.cast.reviewers["legal"]
    private, _ = rw.key_of(legal)
    # GIVEN a reviewer who fetched the manifest and signed it
    envelope = sign(rw.release, legal, private)
    # WHEN the dataset's classification changes before they submit
    dataset = rw.version.dataset_versions.get().dataset
    registry_actions.do_update_dataset(dataset, actor=rw.cast.admin_a, classification="restricted")
    # THEN 409: fetch it again
    refusal = refuse(rw, legal, envelope, r"^the manifest changed since you fetched it; fetch it again$")
    assert (refusal.status, refusal.reason) == (409, "stale_manifest")
    assert refusal.message == "the manifest changed since you fetched it; fetch it again"
    # AND signing the current manifest works
    actions.do_submit_approval(rw.release, actor=legal, envelope=sign(rw.release, legal, private))


def test_an_approval_goes_stale_when_the_dataset_changes_after_it(rw: ReleaseWorld) -> None:
    approve(rw, "legal")
    dataset = rw.version.dataset_versions.get().dataset
    registry_actions.do_update_dataset(dataset, actor=rw.cast.admin_a, classification="restricted")
    (state,) = release_state(rw.release).approvals
    assert not state.counts
    assert state.stale


def test_the_same_bytes_under_another_payload_type_are_refused(rw: ReleaseWorld) -> None:
    legal = rw.cast.reviewers["legal"]
    private, _ = rw.key_of(legal)
    # Signed as an in-toto statement of a generic type: the payload type is bound into the signature
    other = sign(rw.release, legal, private, payload_type="application/vnd.in-toto+json")
    refusal = refuse(
        rw, legal, other, r"^envelope\.payloadType: an approval is signed as application/vnd\.assay\.approval\.v1\+json"
    )
    assert (refusal.status, refusal.reason) == (400, "wrong_payload_type")
    # Our envelope with only its payloadType field relabelled
    ours = sign(rw.release, legal, private)
    relabelled = {**ours, "payloadType": "application/vnd.in-toto+json"}
    assert (
        refuse(
            rw,
            legal,
            relabelled,
            r"^envelope\.payloadType: an approval is signed as application/vnd\.assay\.approval\.v1\+json",
        ).reason
        == "wrong_payload_type"
    )
    # And the other envelope relabelled as ours: its signature does not cover our type
    forged = {**other, "payloadType": dsse.APPROVAL_PAYLOAD_TYPE}
    assert (
        refuse(
            rw,
            legal,
            forged,
            r"^The signature does not verify: the signature does not verify with key sha256:[0-9a-f]{64}\.",
        ).reason
        == "bad_signature"
    )


def test_a_revoked_key_is_refused_at_submission_and_stops_counting(rw: ReleaseWorld) -> None:
    legal = rw.cast.reviewers["legal"]
    private, key = rw.key_of(legal)
    approval = approve(rw, "legal")
    actions.do_revoke_signing_key(key, actor=rw.cast.compliance, reason="Laptop stolen")
    (state,) = release_state(rw.release).approvals
    assert state.approval == approval
    assert not state.counts
    # A new signature with the revoked key (after the manifest changed, so not a duplicate) is refused
    registry_actions.do_update_model(rw.version.model, actor=rw.cast.admin_a, assumptions="Weekly data.")
    refusal = refuse(rw, legal, sign(rw.release, legal, private), r"^Key sha256:[0-9a-f]{64} was revoked on ")
    assert (refusal.status, refusal.reason) == (403, "key_revoked")


@pytest.mark.parametrize("claimed", ["2099-01-01T00:00:00Z", "2001-01-01T00:00:00Z"])
def test_client_timestamps_are_kept_but_server_time_decides(rw: ReleaseWorld, claimed: str) -> None:
    approval = approve(rw, "legal", signed_at=claimed)
    assert approval.claimed_signed_at == claimed
    assert approval.received_at.year == Approval.objects.get().received_at.year
    assert abs((approval.received_at - rw.release.requested_at).total_seconds()) < 60
    (state,) = release_state(rw.release).approvals
    assert state.counts  # neither "expired" (2001) nor "not yet valid" (2099): the claim is not read


def test_malformed_and_unverifiable_envelopes_are_refused_precisely(rw: ReleaseWorld) -> None:
    legal = rw.cast.reviewers["legal"]
    private, _ = rw.key_of(legal)
    good = sign(rw.release, legal, private)
    # Not an envelope
    refusal = refuse(rw, legal, {"payload": good["payload"]}, r"^envelope: missing payloadType, signatures$")
    assert (refusal.reason, refusal.status) == ("invalid_envelope", 400)
    assert "missing payloadType, signatures" in refusal.message
    # An unknown key
    stranger = trust_keys.generate_private_key()
    assert (
        refuse(
            rw, legal, sign(rw.release, legal, stranger), r"^No signing key sha256:[0-9a-f]{64} is registered\."
        ).reason
        == "unknown_key"
    )
    # A payload altered after signing
    body = json.loads(base64.b64decode(good["payload"]))
    body["predicate"]["comment"] = "changed"
    tampered = {**good, "payload": base64.b64encode(trust_statement.statement_bytes(body)).decode()}
    assert (
        refuse(
            rw,
            legal,
            tampered,
            r"^The signature does not verify: the signature does not verify with key sha256:[0-9a-f]{64}\.",
        ).reason
        == "bad_signature"
    )
    # A signed payload that is not our statement
    junk = dsse.sign_envelope(private, dsse.APPROVAL_PAYLOAD_TYPE, b'{"hello": "world"}')
    assert (
        refuse(
            rw,
            legal,
            junk,
            r"^The signed statement is not valid: statement: missing _type, predicate, predicateType, subject\.",
        ).reason
        == "invalid_statement"
    )
    # The subject's digest of another artifact
    refusal = refuse(
        rw,
        legal,
        sign(rw.release, legal, private, artifact_sha256="0" * 64),
        r"^The statement's subject is not team-a/Limit scorer@v1 with sha256 [0-9a-f]{64}\.",
    )
    assert refusal.reason == "wrong_subject"
    assert len(refusals()) == 5


def test_an_engineer_is_not_a_signer(rw: ReleaseWorld) -> None:
    engineer = rw.cast.engineer_a
    private = trust_keys.generate_private_key()  # an engineer holds no registered key: only board members do
    refusal = refuse(
        rw,
        engineer,
        sign(rw.release, engineer, private, board_role="technical"),
        r"^Only members of the release's review board sign it\.",
    )
    assert (refusal.status, refusal.reason) == (403, "not_on_board")


def test_a_closed_release_takes_no_signatures(rw: ReleaseWorld) -> None:
    legal = rw.cast.reviewers["legal"]
    private, _ = rw.key_of(legal)
    envelope = sign(rw.release, legal, private)
    actions.do_withdraw_release(rw.release, actor=rw.cast.engineer_a, reason="Wrong version")
    refusal = refuse(rw, legal, envelope, r"^Release \d+ is withdrawn: it takes no more signatures\.")
    assert (refusal.status, refusal.reason) == (409, "release_closed")


# --- Web signing --------------------------------------------------------------------------------------------------


def test_web_signing_opens_the_sealed_key_and_goes_through_the_same_checks(rw: ReleaseWorld) -> None:
    legal = rw.cast.reviewers["legal"]
    key = actions.do_create_web_signing_key(actor=legal, passphrase=PASSPHRASE)
    # A wrong passphrase: 400 and a recorded refusal, nothing signed
    with pytest.raises(Refusal, match=r"^Wrong signing passphrase\.$") as raised:
        actions.do_sign_release_web(
            rw.release, actor=legal, board_role="legal", decision="approve", comment="", passphrase="not the passphrase"
        )
    assert (raised.value.status, raised.value.reason) == (400, "wrong_passphrase")
    assert refusals()[-1].metadata["reason"] == "wrong_passphrase"
    assert "not the passphrase" not in json.dumps(refusals()[-1].metadata)
    # The right one: an approval signed with the server key, via the web
    approval = actions.do_sign_release_web(
        rw.release, actor=legal, board_role="legal", decision="approve", comment="Fine.", passphrase=PASSPHRASE
    )
    assert approval.signed_via == "web"
    assert approval.key == key
    assert approval.comment == "Fine."
    assert approval.claimed_signed_at.endswith("Z")
    # The same checks: a role not held is refused the same way
    with pytest.raises(
        Refusal, match=r"^You have no web-signing key: create one \(with a passphrase\) first\.$"
    ) as raised:
        actions.do_sign_release_web(
            rw.release,
            actor=rw.cast.reviewers["risk"],
            board_role="risk",
            decision="approve",
            comment="",
            passphrase=PASSPHRASE,
        )
    assert raised.value.reason == "no_web_key"


def test_a_web_signature_s_invalid_choice_is_refused_on_the_field_that_made_it(rw: ReleaseWorld) -> None:
    legal = rw.cast.reviewers["legal"]
    actions.do_create_web_signing_key(actor=legal, passphrase=PASSPHRASE)
    for choices, field in [({"comment": "x" * 2001}, "comment"), ({"decision": "maybe"}, "decision")]:
        arguments = {"board_role": "legal", "decision": "approve", "comment": "", **choices}
        with pytest.raises(Refusal, match=rf"^predicate\.{field}: ") as raised:
            actions.do_sign_release_web(rw.release, actor=legal, passphrase=PASSPHRASE, **arguments)
        assert (raised.value.reason, raised.value.field) == ("invalid_statement", field)
        assert refusals()[-1].metadata["reason"] == "invalid_statement"


def test_web_signing_refuses_a_role_not_held(rw: ReleaseWorld) -> None:
    legal = rw.cast.reviewers["legal"]
    actions.do_create_web_signing_key(actor=legal, passphrase=PASSPHRASE)
    with pytest.raises(Refusal, match=r"^You do not sit on board release-board as risk\.$") as raised:
        actions.do_sign_release_web(
            rw.release, actor=legal, board_role="risk", decision="approve", comment="", passphrase=PASSPHRASE
        )
    assert raised.value.reason == "role_not_held"


# --- Through the API ----------------------------------------------------------------------------------------------


def test_refusals_over_the_api_answer_with_their_status_and_reason(world: World, rw: ReleaseWorld) -> None:
    legal = rw.cast.reviewers["legal"]
    private, _ = rw.key_of(legal)
    client = world.client("reviewer_legal")
    url = f"/api/v1/releases/{rw.release.pk}/approvals/"
    stale = sign(rw.release, legal, private)
    registry_actions.do_update_model(rw.version.model, actor=rw.cast.admin_a, assumptions="Weekly data.")
    response = client.post(url, {"envelope": stale}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "error": {"code": "stale_manifest", "message": "the manifest changed since you fetched it; fetch it again"}
    }
    response = client.post(url, {"envelope": sign(rw.release, legal, private, board_role="risk")}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "role_not_held"
    response = client.post(url, {"envelope": "not an object"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_envelope"
    assert error["fields"] == {"envelope": [error["message"]]}  # the field at fault, as other invalid input says
    response = client.post(url, {"envelope": sign(rw.release, legal, private)}, format="json")
    assert response.status_code == 201
    listed = client.get(url).json()["results"]
    assert [(item["signer"], item["counts"], item["reasons"]) for item in listed] == [("rita-legal", True, [])]
    detail = client.get(f"/api/v1/releases/{rw.release.pk}/").json()
    assert detail["release_state"]["roles_needed"] == {"technical": 1}
    assert detail["release_state"]["approved"] is False
