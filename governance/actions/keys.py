"""Actions on signing keys: registering a client-held public key, creating a web-signing key sealed by a passphrase,
and revoking either.

A private key never reaches the server from a client: a request that carries one is refused before anything else
(``refuse_private_keys``), and neither the refusal's audit event nor any log line repeats it. Keys are never
deleted, so that old envelopes can still be checked; a revoked key stops counting from its revocation.

Only board members hold signing keys (``holds_board_role``): a signing key exists to sign release approvals, which
only people sitting in a board role give. Anyone else (an auditor, a compliance officer on no board, an engineer, a
platform administrator on no board) is refused with a 403 and a ``signing_key.refused`` event.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from assay_trust import keys as trust_keys
from assay_trust.errors import KeyFormatError
from core.audit import record_event
from core.choices import AuditEventType, Role
from core.models import Membership
from core.refusals import Refusal, do_record_refusal
from governance import keywrap
from governance.actions.rules import private_key_refusal
from governance.choices import KeyKind
from governance.models import BoardMember, SigningKey

NOT_BOARD_MEMBER = (
    "Only board members hold signing keys: you hold no board role (a reviewer's board role in a team, or a seat on a "
    "review board). A compliance officer or an administrator of your team can give you one."
)


def refuse_private_keys(
    value: Any, *, actor: User, where: str, event_type: AuditEventType = AuditEventType.SIGNING_KEY_REFUSED
) -> None:
    """Raise a ``Refusal`` (after recording it, without the material) if ``value`` holds private key material."""
    if trust_keys.contains_private_key(value):
        refusal = private_key_refusal(event_type=event_type, where=where)
        do_record_refusal(refusal, actor=actor)
        raise refusal


def _refuse_key(actor: User, reason: str, message: str, *, field: str = "public_key") -> Refusal:
    refusal = Refusal(
        reason,
        message,
        event_type=AuditEventType.SIGNING_KEY_REFUSED,
        field=field,
        metadata={"reason": reason, "message": message},
    )
    do_record_refusal(refusal, actor=actor)
    return refusal


def _require_person(actor: User) -> None:
    if hasattr(actor, "service_account"):
        raise PermissionDenied("Service accounts do not sign approvals; people register signing keys.")


def holds_board_role(user: User | AnonymousUser) -> bool:
    """Whether ``user`` is a board member, who may hold signing keys: an active person with a reviewer membership
    in a board role (the pool boards seat from) or a seat on a review board (``BoardMember``, what signing asks)."""
    if not user.is_authenticated or not user.is_active or hasattr(user, "service_account"):
        return False
    reviewer = Membership.objects.filter(user_id=user.pk, role=Role.REVIEWER).exclude(board_role="")
    return reviewer.exists() or BoardMember.objects.filter(user_id=user.pk).exists()


def require_board_member(actor: User) -> None:
    """Refuse (403, recorded) a signing key to anyone who is not a board member; call it outside a transaction, so
    that the refusal's event stays."""
    if not holds_board_role(actor):
        refusal = Refusal(
            "not_board_member",
            NOT_BOARD_MEMBER,
            event_type=AuditEventType.SIGNING_KEY_REFUSED,
            status=403,
            metadata={"reason": "not_board_member"},
        )
        do_record_refusal(refusal, actor=actor)
        raise refusal


def do_register_signing_key(*, actor: User, public_key: Any, name: str = "") -> SigningKey:
    """Register the public half of a key pair the reviewer keeps (PEM SubjectPublicKeyInfo or an ``ssh-ed25519``
    line). Refuses private key material, anything not an Ed25519 public key, and a key already registered, each
    with an audit event that names the reason and not the key."""
    _require_person(actor)
    refuse_private_keys(public_key, actor=actor, where="public_key")
    refuse_private_keys(name, actor=actor, where="name")
    require_board_member(actor)
    try:
        parsed = trust_keys.load_public_key(public_key)
    except KeyFormatError as error:
        raise _refuse_key(actor, "malformed_key", f"Not accepted as an Ed25519 public key: {error}.") from None
    fingerprint = trust_keys.fingerprint(parsed)
    if SigningKey.objects.filter(fingerprint=fingerprint).exists():
        raise _refuse_key(actor, "duplicate_key", f"The key {fingerprint} is already registered.")
    return _save_key(actor=actor, kind=KeyKind.CLIENT, name=name, public=parsed, sealed="")


@transaction.atomic
def _save_key(*, actor: User, kind: str, name: str, public: Any, sealed: str) -> SigningKey:
    key = SigningKey(
        owner=actor,
        name=name,
        kind=kind,
        fingerprint=trust_keys.fingerprint(public),
        public_key=trust_keys.public_key_pem(public),
        sealed_private_key=sealed,
    )
    key.full_clean()
    key.save()
    record_event(
        AuditEventType.SIGNING_KEY_REGISTERED,
        actor=actor,
        target=key,
        after={"owner": actor.get_username(), "kind": kind, "name": name, "fingerprint": key.fingerprint},
    )
    return key


def kdf_parameters() -> Any:
    """The Argon2id parameters new web-signing keys are sealed with (settings ``SIGNING_KEY_KDF_*``)."""
    return keywrap.KdfParams(
        memory_kib=int(settings.SIGNING_KEY_KDF_MEMORY_KIB),
        iterations=int(settings.SIGNING_KEY_KDF_ITERATIONS),
        lanes=int(settings.SIGNING_KEY_KDF_LANES),
    )


def check_passphrase(passphrase: Any, field: str = "passphrase") -> str:
    try:
        return keywrap.check_passphrase(passphrase)
    except keywrap.PassphraseError as error:
        raise ValidationError({field: f"{str(error)[:1].upper()}{str(error)[1:]}."}) from None


def do_create_web_signing_key(*, actor: User, passphrase: Any, name: str = "") -> SigningKey:
    """Make a key pair on the server for signing in the web UI; its private half is stored sealed under a key
    derived from ``passphrase`` (governance.keywrap) and is opened only for one signing request."""
    _require_person(actor)
    require_board_member(actor)
    return _create_web_signing_key(actor=actor, passphrase=passphrase, name=name)


@transaction.atomic
def _create_web_signing_key(*, actor: User, passphrase: Any, name: str) -> SigningKey:
    passphrase = check_passphrase(passphrase)
    live = SigningKey.objects.filter(owner=actor, kind=KeyKind.SERVER, revoked_at__isnull=True).first()
    if live is not None:
        raise ValidationError(
            {"kind": f"You already have a web-signing key ({live.fingerprint}); revoke it before making another."}
        )
    private = trust_keys.generate_private_key()
    sealed = keywrap.seal(private, passphrase, owner_id=actor.pk, params=kdf_parameters())
    return _save_key(actor=actor, kind=KeyKind.SERVER, name=name, public=private.public_key(), sealed=sealed)


@transaction.atomic
def do_revoke_signing_key(key: SigningKey, *, actor: User, reason: Any) -> SigningKey:
    """Revoke a key (its owner, a compliance officer of a team its owner belongs to, or a platform administrator).
    Approvals made with it stop counting from now (server time)."""
    if not SigningKey.objects.restrict(actor, "change").filter(pk=key.pk).exists():
        raise PermissionDenied(
            "Only the key's owner, a compliance officer of the owner's team or a platform administrator revokes it."
        )
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError({"reason": "Say why the key is revoked."})
    # Conditional update: of two concurrent revocations only one changes the row and writes the event.
    changed = SigningKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor, revocation_reason=reason.strip()
    )
    key.refresh_from_db()
    if not changed:
        raise ValidationError({"reason": f"The key was already revoked on {key.revoked_at:%Y-%m-%d %H:%M} UTC."})
    record_event(
        AuditEventType.SIGNING_KEY_REVOKED,
        actor=actor,
        target=key,
        after={"owner": key.owner.get_username(), "fingerprint": key.fingerprint, "reason": key.revocation_reason},
    )
    return key
