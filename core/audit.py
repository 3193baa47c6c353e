"""The audit log: one writer, a verifier and signed checkpoints (docs/audit-log.md).

``record_event`` is the only way a row reaches ``AuditEvent``. It must run inside the transaction of the change it
records, so that both commit or neither does. Appends are serialized (an advisory lock on PostgreSQL, the
IMMEDIATE write lock on SQLite) so that concurrent writers never fork the chain; the unique ``seq`` is the backstop.

``verify_chain`` finds an edited, deleted, inserted or reordered row, but it cannot see rows cut off the end of the
chain, nor a chain rewritten from the first row on with every hash recomputed: only a signed checkpoint kept outside
the database catches those (``verify_checkpoint``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from core.canonical import canonical_bytes, canonical_digest, sha256_hex, to_stored_json
from core.choices import AuditEventType
from core.context import current_request_id
from core.models import AuditCheckpoint, AuditEvent, Team
from core.models.audit import GENESIS_HASH

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

# Any constant will do: it only has to be the same in every process that appends to the chain.
_CHAIN_LOCK_KEY = 0x41535341  # "ASSA"

HASHED_FIELDS = (
    "seq",
    "occurred_at",
    "event_type",
    "actor_id",
    "actor_name",
    "team_id",
    "team_slug",
    "target_type",
    "target_id",
    "target_repr",
    "before",
    "after",
    "metadata",
    "request_id",
    "prev_hash",
)


def format_occurred_at(moment: datetime) -> str:
    """How ``occurred_at`` enters the hash: UTC, always six fraction digits, ``+00:00``."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def event_payload(event: AuditEvent) -> dict[str, Any]:
    """What an event's hash covers: every column but ``id`` and ``hash``."""
    payload = {name: getattr(event, name) for name in HASHED_FIELDS}
    payload["occurred_at"] = format_occurred_at(payload["occurred_at"])
    return payload


def compute_hash(event: AuditEvent) -> str:
    return canonical_digest(event_payload(event))


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        # Held until the transaction ends, so the next writer reads the head only after our row is committed (or
        # rolled back). Under READ COMMITTED its head query takes a fresh snapshot after the lock is granted.
        #
        # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED on PostgreSQL: checked at COMMIT, where each check
        # takes a KEY SHARE lock on the referenced row. Checked there, after we hold the chain lock, they would wait
        # for a row another transaction holds FOR UPDATE while that one waits for the chain lock: a deadlock. Checking
        # them now (and the rest of the transaction's as they come) takes the row locks before the chain lock, the
        # order every action follows (lock the parent, change rows, then write the event).
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    # SQLite: the settings open every transaction IMMEDIATE, so this transaction already holds the database's
    # only write lock, and no other writer can append between our read of the head and our insert.


def _describe(obj: models.Model | None) -> tuple[str, str, str]:
    if obj is None:
        return "", "", ""
    return obj._meta.label_lower, str(obj.pk), str(obj)


def _fit(text: str, field: str) -> str:
    # SQLite does not enforce max_length and PostgreSQL refuses what exceeds it: cut here so both store (and hash)
    # the same text.
    limit = getattr(AuditEvent._meta.get_field(field), "max_length", None)
    return text[:limit] if limit else text


def record_event(
    event_type: AuditEventType,
    *,
    actor: User | AnonymousUser | None,
    target: models.Model | None = None,
    team: Team | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    target_type: str = "",
    target_id: str = "",
    target_repr: str = "",
) -> AuditEvent:
    """Append one event to the chain. Call it inside the transaction that makes the change it records.

    ``before``, ``after`` and ``metadata`` are stored as ``core.canonical.to_stored_json`` makes them, so that their
    hash still verifies after a round trip through the database.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("record_event must run inside the transaction of the change it records.")
    described = _describe(target)
    known = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    _lock_chain()
    head = AuditEvent.objects.order_by("-seq").values("seq", "hash").first()
    event = AuditEvent(
        seq=(head["seq"] + 1) if head else 1,
        occurred_at=timezone.now(),
        event_type=AuditEventType(event_type).value,
        actor_id=known.pk if known else None,
        actor_name=_fit(known.get_username() if known else "", "actor_name"),
        team_id=team.pk if team else None,
        team_slug=_fit(team.slug if team else "", "team_slug"),
        target_type=_fit(target_type or described[0], "target_type"),
        target_id=_fit(target_id or described[1], "target_id"),
        target_repr=_fit(target_repr or described[2], "target_repr"),
        before=to_stored_json(before) if before is not None else None,
        after=to_stored_json(after) if after is not None else None,
        metadata=to_stored_json(metadata or {}),
        request_id=_fit(current_request_id.get(), "request_id"),
        prev_hash=head["hash"] if head else GENESIS_HASH,
    )
    event.hash = compute_hash(event)
    event.save(force_insert=True)
    return event


# --- Verification -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    """The outcome of a walk along the chain.

    ``head_seq``/``head_hash`` are the last row that verified (the chain's head when it is intact). When broken,
    ``broken_seq``/``broken_id`` name the first row that does not hold, ``broken_kind`` says how: ``gap`` (rows
    before it were deleted), ``link`` (its ``prev_hash`` is not the hash of the row before: that row was edited and
    re-hashed, or rows were inserted, removed or swapped) or ``content`` (its columns do not match its own hash).
    """

    intact: bool
    events_checked: int
    head_seq: int | None
    head_hash: str | None
    broken_seq: int | None = None
    broken_id: int | None = None
    reason: str = ""
    broken_kind: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "events_checked": self.events_checked,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "broken_seq": self.broken_seq,
            "broken_id": self.broken_id,
            "broken_kind": self.broken_kind,
            "reason": self.reason,
        }


def _check_row(event: AuditEvent, expected_seq: int, expected_prev: str) -> tuple[str, str] | None:
    if event.seq != expected_seq:
        return "gap", f"sequence gap: expected #{expected_seq}, found #{event.seq} (rows were deleted)"
    if event.prev_hash != expected_prev:
        return "link", (
            f"prev_hash does not match the hash of row #{expected_seq - 1} (that row was edited and re-hashed, "
            "or rows were inserted, removed or swapped)"
            if expected_seq > 1
            else "prev_hash of the first row is not the genesis hash (rows were inserted or removed at the start)"
        )
    try:
        recomputed = compute_hash(event)
    except (ValueError, TypeError) as exc:
        return "content", f"content cannot be hashed ({exc}): the row was edited"
    if recomputed != event.hash:
        return "content", "content does not match its hash (the row was edited)"
    return None


def _walk(
    *,
    after_seq: int,
    after_hash: str,
    checked_before: int,
    chunk_size: int,
    on_progress: Callable[[int, int], None] | None,
) -> ChainReport:
    expected_prev = after_hash
    expected_seq = after_seq + 1
    checked = checked_before
    head_seq: int | None = after_seq or None
    head_hash: str | None = after_hash if after_seq else None
    total = AuditEvent.objects.count() if on_progress else 0
    last_seq = after_seq
    while True:
        # Keyset pages, each read whole, rather than one long cursor: on SQLite an open cursor holds a read snapshot,
        # and a write made from on_progress (a job's progress row) fails with "database is locked" once another
        # process has committed since that snapshot began.
        page = list(AuditEvent.objects.filter(seq__gt=last_seq).order_by("seq")[:chunk_size])
        for event in page:
            broken = _check_row(event, expected_seq, expected_prev)
            if broken:
                kind, reason = broken
                return ChainReport(
                    False,
                    checked,
                    head_seq,
                    head_hash,
                    broken_seq=event.seq,
                    broken_id=event.pk,
                    reason=reason,
                    broken_kind=kind,
                )
            checked += 1
            expected_prev = event.hash
            expected_seq += 1
            head_seq, head_hash = event.seq, event.hash
        if len(page) < chunk_size:
            break
        last_seq = page[-1].seq
        if on_progress:
            on_progress(checked, max(total, checked))
    if on_progress:
        on_progress(checked, max(total, checked))
    return ChainReport(True, checked, head_seq, head_hash)


def verify_chain(chunk_size: int = 2000, on_progress: Callable[[int, int], None] | None = None) -> ChainReport:
    """Walk the whole chain in order and report the first row that does not hold, or that it is intact.

    An edited row fails its own hash; a deleted row leaves a gap in ``seq``; a swapped or inserted row, or a row
    edited and re-hashed, breaks the link from its successor's ``prev_hash``. What this cannot see: rows deleted
    from the end, the last row edited and re-hashed, or a chain rewritten wholesale. Those are caught only by a
    signed checkpoint kept outside the database (``verify_checkpoint``).
    """
    return _walk(after_seq=0, after_hash=GENESIS_HASH, checked_before=0, chunk_size=chunk_size, on_progress=on_progress)


@transaction.atomic
def record_verification(report: ChainReport, *, actor: Any | None, target: models.Model | None = None) -> AuditEvent:
    """Record a verification's verdict (``audit.chain_verified``, the report as its ``after``): the audit.verify
    job's result, kept in the chain it judged. Its own transaction: the walk itself writes nothing."""
    return record_event(AuditEventType.AUDIT_CHAIN_VERIFIED, actor=actor, target=target, after=report.as_dict())


# --- Signed checkpoints -------------------------------------------------------------------------------------------

CHECKPOINT_TYPE = "https://assay.dev/audit-checkpoint/v1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


class CheckpointError(ValueError):
    """An exported checkpoint that is malformed, badly signed, or signed by a key we do not trust."""


def _signing_key() -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(settings.AUDIT_SIGNING_KEY.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError("AUDIT_SIGNING_KEY must be an Ed25519 private key in PEM (PKCS#8).")
    return key


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 (hex) of the raw 32-byte public key."""
    return sha256_hex(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


_PEM_BLOCK = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


def load_public_keys(pem_text: str) -> list[Ed25519PublicKey]:
    """Every Ed25519 public key (SubjectPublicKeyInfo PEM) in ``pem_text``, which may hold several."""
    keys = []
    for block in _PEM_BLOCK.findall(pem_text):
        key = serialization.load_pem_public_key(block.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise CheckpointError("a trusted public key is not Ed25519")
        keys.append(key)
    return keys


def trusted_public_keys() -> dict[str, Ed25519PublicKey]:
    """The keys whose checkpoints we accept, by fingerprint: the current signing key's public half, and the public
    keys of retired signing keys listed in ``settings.AUDIT_TRUSTED_PUBLIC_KEYS`` (PEM text, or a list of them),
    so that checkpoints signed before a key rotation still verify."""
    keys = [_signing_key().public_key()]
    extra: str | Iterable[str] = getattr(settings, "AUDIT_TRUSTED_PUBLIC_KEYS", "") or ""
    try:
        for text in [extra] if isinstance(extra, str) else extra:
            keys.extend(load_public_keys(text))
    except ValueError as exc:
        raise CheckpointError(f"AUDIT_TRUSTED_PUBLIC_KEYS holds a key that cannot be read: {exc}") from exc
    return {key_fingerprint(key): key for key in keys}


def sign_checkpoint(*, actor: User | AnonymousUser | None) -> AuditCheckpoint:
    """Sign the current chain head after verifying the chain up to it; record the signing in the chain itself."""
    # Walk the long part of the chain without the lock, so writers are not held up; then, under the lock, verify
    # only what was appended meanwhile and sign the head that no one can move until we commit.
    before_lock = verify_chain()
    if not before_lock.intact:
        raise ValueError(f"Refusing to sign a broken chain: row #{before_lock.broken_seq}: {before_lock.reason}")
    with transaction.atomic():
        _lock_chain()
        report = _walk(
            after_seq=before_lock.head_seq or 0,
            after_hash=before_lock.head_hash or GENESIS_HASH,
            checked_before=before_lock.events_checked,
            chunk_size=2000,
            on_progress=None,
        )
        if not report.intact:
            raise ValueError(f"Refusing to sign a broken chain: row #{report.broken_seq}: {report.reason}")
        if report.head_seq is None or report.head_hash is None:
            raise ValueError("The audit log is empty: there is no head to sign.")
        key = _signing_key()
        public = key.public_key()
        now = timezone.now()
        statement = {
            "type": CHECKPOINT_TYPE,
            "seq": report.head_seq,
            "head_hash": report.head_hash,
            "created_at": now.isoformat(timespec="microseconds"),
            "key_fingerprint": key_fingerprint(public),
        }
        payload = canonical_bytes(statement)
        checkpoint = AuditCheckpoint.objects.create(
            seq=report.head_seq,
            head_hash=report.head_hash,
            created_at=now,
            key_fingerprint=key_fingerprint(public),
            public_key=public_key_pem(public),
            payload=payload.decode(),
            signature=base64.b64encode(key.sign(payload)).decode(),
        )
        record_event(
            AuditEventType.AUDIT_CHECKPOINT_SIGNED,
            actor=actor,
            target=checkpoint,
            after={
                "seq": checkpoint.seq,
                "head_hash": checkpoint.head_hash,
                "key_fingerprint": checkpoint.key_fingerprint,
            },
        )
    return checkpoint


def export_checkpoint(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """The self-contained form of a checkpoint, to keep outside the database.

    ``payload`` is the exact text that was signed (RFC 8785 JSON of type, seq, head_hash, created_at and
    key_fingerprint); ``signature`` is the base64 Ed25519 signature over its UTF-8 bytes; ``public_key`` is the
    signer's public key (PEM). Check the key's fingerprint against one you trust before believing the signature.
    """
    return {
        "payload": checkpoint.payload,
        "signature": checkpoint.signature,
        "public_key": checkpoint.public_key,
        "algorithm": "Ed25519",
    }


def read_checkpoint(
    exported: dict[str, Any], *, trusted_keys: dict[str, Ed25519PublicKey] | None = None
) -> dict[str, Any]:
    """Check an exported checkpoint's form, key and signature, and return the signed statement.

    The public key shipped inside the export proves nothing by itself (anyone can sign with a key of their own), so
    the signer must be one of ``trusted_keys`` (by fingerprint; default ``trusted_public_keys()``).
    Raises ``CheckpointError``.
    """
    try:
        if exported.get("algorithm", "Ed25519") != "Ed25519":
            raise CheckpointError(f"unsupported algorithm {exported.get('algorithm')!r}")
        public = serialization.load_pem_public_key(str(exported["public_key"]).encode())
        signature = base64.b64decode(str(exported["signature"]), validate=True)
        payload = str(exported["payload"]).encode()
    except CheckpointError:
        raise
    except (KeyError, ValueError, TypeError, AttributeError, binascii.Error) as exc:
        raise CheckpointError(f"malformed checkpoint: {exc}") from exc
    if not isinstance(public, Ed25519PublicKey):
        raise CheckpointError("the public key is not Ed25519")
    try:
        public.verify(signature, payload)
    except InvalidSignature:
        raise CheckpointError("the signature does not verify: the payload or the signature was altered") from None
    fingerprint = key_fingerprint(public)
    trusted = trusted_public_keys() if trusted_keys is None else trusted_keys
    if fingerprint not in trusted:
        raise CheckpointError(
            f"signed by key {fingerprint}, which is neither the current signing key nor a trusted retired one"
        )
    try:
        statement = json.loads(payload)
        valid = (
            isinstance(statement, dict)
            and statement.get("type") == CHECKPOINT_TYPE
            and isinstance(statement.get("seq"), int)
            and statement["seq"] >= 1
            and isinstance(statement.get("head_hash"), str)
            and _HEX64.fullmatch(statement["head_hash"]) is not None
        )
    except ValueError:
        valid = False
    if not valid:
        raise CheckpointError("the signed payload is not an Assay audit checkpoint")
    if statement.get("key_fingerprint") != fingerprint:
        raise CheckpointError("the payload names another key than the one that signed it")
    return dict(statement)


def verify_checkpoint(
    exported: dict[str, Any],
    *,
    trusted_keys: dict[str, Ed25519PublicKey] | None = None,
    chain: ChainReport | None = None,
) -> tuple[bool, str]:
    """Check an exported checkpoint against the chain: valid signature by a trusted key, the chain intact up to the
    signed row, that row still carrying the signed hash. This is what catches a truncated tail (the chain now ends
    before the signed row) and a consistent rewrite (the signed row's hash changed).

    ``chain`` reuses a ``verify_chain()`` report already taken.
    """
    try:
        statement = read_checkpoint(exported, trusted_keys=trusted_keys)
    except CheckpointError as exc:
        return False, str(exc)
    seq, signed_hash = statement["seq"], statement["head_hash"]
    report = chain if chain is not None else verify_chain()
    if report.head_seq is None or report.head_seq < seq:
        if not report.intact:
            return False, (
                f"the chain breaks at row #{report.broken_seq} ({report.reason}), before the signed row #{seq}"
            )
        ends = f"ends at row #{report.head_seq}" if report.head_seq else "is empty"
        return False, f"the chain {ends} but this checkpoint signed row #{seq}: rows at the end were deleted"
    row = AuditEvent.objects.filter(seq=seq).values("hash").first()
    if row is None or row["hash"] != signed_hash:
        return False, f"row #{seq} no longer has the signed hash {signed_hash}: the chain was rewritten"
    return True, f"row #{seq} has the signed hash and the chain is intact up to it"
