"""Signed approvals: verified on receipt, stored verbatim, refused with a precise reason and an audit event.

``do_submit_approval`` takes a DSSE envelope signed anywhere (the CLI with a local key); ``do_sign_release_web``
opens the reviewer's sealed web-signing key with their passphrase, signs the same statement on the server and
passes the envelope through the same verification. The checks, in order, are listed in docs/releases.md
("Approvals"); each refusal raises ``core.refusals.Refusal`` (status 400, 403 or 409) after recording
APPROVAL_REFUSED with the reason, never with the envelope or its signature.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from assay_trust import dsse
from assay_trust import keys as trust_keys
from assay_trust import statement as trust_statement
from assay_trust.errors import EnvelopeError, KeyFormatError, SignatureError, StatementError
from core.audit import record_event
from core.choices import AuditEventType
from core.refusals import Refusal, refusals_recorded
from governance import keywrap, notifications
from governance.actions.keys import refuse_private_keys
from governance.actions.releases import move_version_on_quorum
from governance.choices import Decision, KeyKind, ReleaseStatus, SignedVia
from governance.evaluation import release_state
from governance.manifest import build_manifest, conflicted_users, manifest_digest, subject_name
from governance.models import Approval, BoardMember, Release, SigningKey
from governance.querysets import SIGN
from registry.choices import VersionStatus

STALE_MESSAGE = "the manifest changed since you fetched it; fetch it again"
# The statement fields a web signer chooses, by the request field that chose each (do_sign_release_web).
WEB_SIGNER_FIELDS = {
    "predicate.board_role": "board_role",
    "predicate.decision": "decision",
    "predicate.comment": "comment",
}


def _refused(reason: str, message: str, *, status: int = 400, field: str = "envelope") -> Refusal:
    return Refusal(
        reason,
        message,
        event_type=AuditEventType.APPROVAL_REFUSED,
        status=status,
        field=field,
        metadata={"reason": reason, "message": message},
    )


def _refusals_recorded(release: Release, *, actor: User, via: str) -> AbstractContextManager[None]:
    return refusals_recorded(actor=actor, target=release, team=release.model_version.model.team, context={"via": via})


def do_submit_approval(release: Release, *, actor: User, envelope: Any, via: str = SignedVia.API) -> Approval:
    """Verify ``envelope`` as ``actor``'s decision on ``release`` and store it (docs/releases.md, "Approvals").

    Refusals roll back everything and are then recorded as APPROVAL_REFUSED (reason and message only)."""
    refuse_private_keys(envelope, actor=actor, where="envelope", event_type=AuditEventType.APPROVAL_REFUSED)
    with _refusals_recorded(release, actor=actor, via=via):
        return _verify_and_store(release, actor=actor, envelope=envelope, via=via)


@transaction.atomic
def _verify_and_store(release: Release, *, actor: User, envelope: Any, via: str) -> Approval:
    # Lock the release: approvals of one release are judged one at a time, so that a duplicate, a withdrawal or the
    # approval that completes the quorum cannot slip between a check and the insert.
    release = (
        Release.objects.select_for_update(of=("self",))
        .select_related(
            "model_version__model__team",
            "model_version__model__use_case",
            "environment",
            "policy_version__policy__board",
            "requested_by",
        )
        .get(pk=release.pk)
    )
    if not Release.objects.restrict(actor, SIGN).filter(pk=release.pk).exists():
        raise _refused("not_on_board", "Only members of the release's review board sign it.", status=403)
    if release.status != ReleaseStatus.OPEN:
        raise _refused(
            "release_closed", f"Release {release.pk} is {release.status}: it takes no more signatures.", status=409
        )
    try:
        parsed = dsse.parse_envelope(envelope)
    except EnvelopeError as error:
        raise _refused("invalid_envelope", str(error)) from None
    if parsed.payload_type != dsse.APPROVAL_PAYLOAD_TYPE:
        raise _refused(
            "wrong_payload_type",
            f"envelope.payloadType: an approval is signed as {dsse.APPROVAL_PAYLOAD_TYPE}, not another type.",
        )
    key = SigningKey.objects.filter(fingerprint=parsed.keyid).first()
    if key is None:
        raise _refused("unknown_key", f"No signing key {parsed.keyid} is registered.")
    if key.owner_id != actor.pk:
        raise _refused("not_your_key", f"Key {parsed.keyid} is not yours: sign with your own key.", status=403)
    if key.revoked_at is not None:
        raise _refused(
            "key_revoked", f"Key {parsed.keyid} was revoked on {key.revoked_at:%Y-%m-%d %H:%M} UTC.", status=403
        )
    try:
        payload = dsse.verify_envelope(parsed, trust_keys.load_public_key(key.public_key))
    except (SignatureError, KeyFormatError, EnvelopeError) as error:
        raise _refused("bad_signature", f"The signature does not verify: {error}.") from None
    try:
        statement = trust_statement.parse_statement(payload)
    except StatementError as error:
        raise _refused("invalid_statement", f"The signed statement is not valid: {error}.") from None
    if statement.signer_username != actor.get_username():
        raise _refused(
            "signer_mismatch",
            f"The statement is signed for {statement.signer_username!r}, but you are {actor.get_username()!r}.",
            status=403,
        )
    if statement.signer_key != key.fingerprint:
        raise _refused("key_mismatch", "predicate.signer.key names another key than the one that signed.")
    if statement.release_id != str(release.uid):
        raise _refused(
            "wrong_release", f"The statement is about release {statement.release_id}, not this one ({release.uid})."
        )
    version = release.model_version
    if statement.artifact_sha256 != version.artifact_sha256 or statement.subject_name != subject_name(release):
        raise _refused(
            "wrong_subject",
            f"The statement's subject is not {subject_name(release)} with sha256 {version.artifact_sha256}.",
        )
    manifest = build_manifest(release)
    digest = manifest_digest(manifest)
    if statement.manifest_digest != digest:
        raise _refused("stale_manifest", STALE_MESSAGE, status=409)
    board = release.policy_version.policy.board
    if not BoardMember.objects.filter(board=board, user_id=actor.pk, board_role=statement.board_role).exists():
        raise _refused("role_not_held", f"You do not sit on board {board.slug} as {statement.board_role}.", status=403)
    if statement.decision == Decision.APPROVE:
        conflict = conflicted_users(release).get(actor.pk)
        if conflict is not None:
            raise _refused(
                "conflict_of_interest",
                f"Separation of duties: you {conflict}, so you may not approve this release (you may reject it).",
                status=403,
            )
    if Approval.objects.filter(release=release, signer_id=actor.pk, manifest_digest=digest).exists():
        raise _refused(
            "duplicate", "You already signed this manifest of this release: one signature per person.", status=409
        )
    payload_sha256 = hashlib.sha256(payload).hexdigest()
    approval = Approval(
        release=release,
        signer=actor,
        signer_name=actor.get_username(),
        key=key,
        board_role=statement.board_role,
        decision=statement.decision,
        comment=statement.comment,
        manifest_digest=digest,
        manifest=manifest,
        envelope=envelope,
        payload_sha256=payload_sha256,
        signed_via=via,
        received_at=timezone.now(),
        claimed_signed_at=statement.signed_at or "",
    )
    approval.full_clean()
    approval.save()
    record_event(
        AuditEventType.APPROVAL_SIGNED,
        actor=actor,
        target=approval,
        team=version.model.team,
        after={
            "release": str(release.uid),
            "decision": approval.decision,
            "board_role": approval.board_role,
            "key": key.fingerprint,
            "manifest_digest": digest,
            "payload_sha256": payload_sha256,
            "via": via,
        },
    )
    state = release_state(release, current_digest=digest)
    if approval.decision == Decision.APPROVE and version.status == VersionStatus.IN_REVIEW and state.approved:
        move_version_on_quorum(release, actor=actor)
    # Told in this transaction, sent after commit: the requester of the verdict, and the signers whose approvals
    # this signature shows went stale (it signed a newer manifest than theirs).
    notifications.notify_decided(release, state, approval=approval)
    notifications.notify_stale(release, state)
    return approval


def do_sign_release_web(
    release: Release, *, actor: User, board_role: str, decision: str, comment: str, passphrase: str
) -> Approval:
    """Sign ``release`` in the web UI: open the reviewer's web-signing key with ``passphrase`` (only for this
    request), sign the approval statement over the current manifest, and submit it like any other envelope."""
    with _refusals_recorded(release, actor=actor, via=SignedVia.WEB):
        envelope = _sign_on_server(
            release, actor=actor, board_role=board_role, decision=decision, comment=comment, passphrase=passphrase
        )
    return do_submit_approval(release, actor=actor, envelope=envelope, via=SignedVia.WEB)


def _sign_on_server(
    release: Release, *, actor: User, board_role: str, decision: str, comment: str, passphrase: str
) -> dict[str, Any]:
    key = SigningKey.objects.filter(owner_id=actor.pk, kind=KeyKind.SERVER, revoked_at__isnull=True).first()
    if key is None:
        raise _refused(
            "no_web_key", "You have no web-signing key: create one (with a passphrase) first.", field="passphrase"
        )
    try:
        private = keywrap.unseal(key.sealed_private_key, passphrase, owner_id=actor.pk)
    except (keywrap.WrongPassphrase, keywrap.PassphraseError):
        raise _refused("wrong_passphrase", "Wrong signing passphrase.", field="passphrase") from None
    except keywrap.SealedKeyError as error:
        raise _refused(
            "sealed_key_unusable", f"Your web-signing key cannot be opened ({error}).", field="passphrase"
        ) from None
    release = Release.objects.select_related("model_version__model__team").get(pk=release.pk)
    try:
        statement = trust_statement.build_statement(
            subject_name=subject_name(release),
            artifact_sha256=release.model_version.artifact_sha256,
            release_id=str(release.uid),
            manifest_digest=manifest_digest(build_manifest(release)),
            decision=decision,
            board_role=board_role,
            comment=comment,
            signer_username=actor.get_username(),
            signer_key=key.fingerprint,
            signed_at=timezone.now(),
        )
    except StatementError as error:
        raise _refused("invalid_statement", str(error), field=WEB_SIGNER_FIELDS.get(error.path, "")) from None
    return dsse.sign_envelope(private, dsse.APPROVAL_PAYLOAD_TYPE, trust_statement.statement_bytes(statement))
