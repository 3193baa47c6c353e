"""The audit log: one writer, a verifier and signed checkpoints.

``record_event`` is the only way a row reaches ``AuditEvent``. It must run inside the transaction of the change it
records, so that both commit or neither does. Appends are serialized (an advisory lock on PostgreSQL, the
IMMEDIATE write lock on SQLite) so that concurrent writers never fork the chain.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from core.canonical import canonical_bytes, canonical_digest, sha256_hex, to_json_value
from core.choices import AuditEventType
from core.context import current_request_id
from core.models import AuditCheckpoint, AuditEvent, Team
from core.models.audit import GENESIS_HASH

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


def event_payload(event: AuditEvent) -> dict[str, Any]:
    """What an event's hash covers: every column but ``id`` and ``hash``."""
    payload = {name: getattr(event, name) for name in HASHED_FIELDS}
    occurred: datetime = payload["occurred_at"]
    payload["occurred_at"] = occurred.astimezone(UTC).isoformat(timespec="microseconds")
    return payload


def compute_hash(event: AuditEvent) -> str:
    return canonical_digest(event_payload(event))


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    # SQLite: the settings open every transaction IMMEDIATE, so this transaction already holds the database's
    # only write lock, and no other writer can append between our read of the head and our insert.


def _describe(obj: models.Model | None) -> tuple[str, str, str]:
    if obj is None:
        return "", "", ""
    return obj._meta.label_lower, str(obj.pk), str(obj)[:255]


def record_event(
    event_type: AuditEventType,
    *,
    actor: Any | None,
    target: models.Model | None = None,
    team: Team | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    target_type: str = "",
    target_id: str = "",
    target_repr: str = "",
) -> AuditEvent:
    """Append one event to the chain. Call it inside the transaction that makes the change it records."""
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
        actor_name=known.get_username() if known else "",
        team_id=team.pk if team else None,
        team_slug=team.slug if team else "",
        target_type=target_type or described[0],
        target_id=target_id or described[1],
        target_repr=(target_repr or described[2])[:255],
        before=to_json_value(before) if before is not None else None,
        after=to_json_value(after) if after is not None else None,
        metadata=to_json_value(metadata or {}),
        request_id=current_request_id.get()[:64],
        prev_hash=head["hash"] if head else GENESIS_HASH,
    )
    event.hash = compute_hash(event)
    event.save(force_insert=True)
    return event


# --- Verification -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    events_checked: int
    head_seq: int | None
    head_hash: str | None
    broken_seq: int | None = None
    broken_id: int | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "events_checked": self.events_checked,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "broken_seq": self.broken_seq,
            "broken_id": self.broken_id,
            "reason": self.reason,
        }


def verify_chain(chunk_size: int = 2000, on_progress: Callable[[int, int], None] | None = None) -> ChainReport:
    """Walk the whole chain in order and report the first row that does not hold, or that it is intact.

    An edited row fails its own hash; a deleted row leaves a gap in ``seq``; a swapped or re-inserted row breaks the
    link from its successor's ``prev_hash``. A chain rewritten wholesale verifies here but not against a signed
    checkpoint (``verify_checkpoint``).
    """
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    last: AuditEvent | None = None
    total = AuditEvent.objects.count() if on_progress else 0
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=chunk_size):
        broken = None
        if event.seq != expected_seq:
            broken = f"sequence gap: expected #{expected_seq}, found #{event.seq} (rows were deleted)"
        elif event.prev_hash != expected_prev:
            broken = "prev_hash does not match the hash of the row before (rows were removed, inserted or swapped)"
        elif compute_hash(event) != event.hash:
            broken = "content does not match its hash (the row was edited)"
        if broken:
            return ChainReport(
                False,
                checked,
                last.seq if last else None,
                last.hash if last else None,
                broken_seq=event.seq,
                broken_id=event.pk,
                reason=broken,
            )
        checked += 1
        expected_prev = event.hash
        expected_seq += 1
        last = event
        if on_progress and checked % chunk_size == 0:
            on_progress(checked, total)
    if on_progress:
        on_progress(checked, max(total, checked))
    return ChainReport(True, checked, last.seq if last else None, last.hash if last else None)


# --- Signed checkpoints -------------------------------------------------------------------------------------------


def _signing_key() -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(settings.AUDIT_SIGNING_KEY.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError("AUDIT_SIGNING_KEY must be an Ed25519 private key in PEM (PKCS#8).")
    return key


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_fingerprint(key: Ed25519PublicKey) -> str:
    return sha256_hex(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


@transaction.atomic
def sign_checkpoint(*, actor: Any | None) -> AuditCheckpoint:
    """Sign the current chain head after verifying the chain up to it; record the signing in the chain itself."""
    _lock_chain()
    report = verify_chain()
    if not report.intact:
        raise ValueError(f"Refusing to sign a broken chain: row #{report.broken_seq}: {report.reason}")
    if report.head_seq is None:
        raise ValueError("The audit log is empty: there is no head to sign.")
    key = _signing_key()
    public = key.public_key()
    now = timezone.now()
    statement = {
        "type": "https://assay.dev/audit-checkpoint/v1",
        "seq": report.head_seq,
        "head_hash": report.head_hash,
        "created_at": now.isoformat(timespec="microseconds"),
        "key_fingerprint": key_fingerprint(public),
    }
    payload = canonical_bytes(statement)
    checkpoint = AuditCheckpoint.objects.create(
        seq=report.head_seq,
        head_hash=report.head_hash or "",
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
        after={"seq": checkpoint.seq, "head_hash": checkpoint.head_hash},
    )
    return checkpoint


def export_checkpoint(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """The self-contained form of a checkpoint, to keep outside the database."""
    return {
        "payload": checkpoint.payload,
        "signature": checkpoint.signature,
        "public_key": checkpoint.public_key,
        "algorithm": "Ed25519",
    }


def verify_checkpoint(exported: dict[str, Any]) -> tuple[bool, str]:
    """Check an exported checkpoint's signature, then that the chain still has that hash at that seq."""
    try:
        public = serialization.load_pem_public_key(exported["public_key"].encode())
        if not isinstance(public, Ed25519PublicKey):
            return False, "the public key is not Ed25519"
        payload = exported["payload"].encode()
        public.verify(base64.b64decode(exported["signature"], validate=True), payload)
    except (KeyError, ValueError, TypeError) as exc:
        return False, f"malformed checkpoint: {exc}"
    except InvalidSignature:
        return False, "the signature does not verify"
    statement = json.loads(payload)
    row = AuditEvent.objects.filter(seq=statement["seq"]).values("hash").first()
    if row is None:
        return False, f"the chain has no row #{statement['seq']} any more"
    if row["hash"] != statement["head_hash"]:
        return False, f"row #{statement['seq']} no longer has the signed hash: the chain was rewritten"
    return True, f"row #{statement['seq']} matches the signed head"
