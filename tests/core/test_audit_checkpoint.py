"""Signed checkpoints: verifiable offline with nothing but the export and the ``cryptography`` package, and trusted
only when signed by a key we know (the current one, or a retired one listed in the settings)."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.db import transaction

from core import audit
from core.audit import export_checkpoint, record_event, sign_checkpoint, verify_checkpoint
from core.canonical import canonical_bytes
from core.choices import AuditEventType
from core.models import AuditCheckpoint, AuditEvent

pytestmark = pytest.mark.django_db


def private_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def exported() -> dict:
    """A checkpoint of a five-event chain, as an auditor receives it: JSON text, parsed."""
    with transaction.atomic():
        for number in range(5):
            record_event(AuditEventType.TEAM_UPDATED, actor=None, metadata={"n": number})
    return json.loads(json.dumps(export_checkpoint(sign_checkpoint(actor=None))))


def offline_verify(document: dict) -> dict:
    """What an auditor runs: only the standard library and ``cryptography``; no Assay code."""
    public = serialization.load_pem_public_key(document["public_key"].encode())
    assert isinstance(public, Ed25519PublicKey)
    public.verify(base64.b64decode(document["signature"]), document["payload"].encode())
    statement = json.loads(document["payload"])
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert statement["key_fingerprint"] == hashlib.sha256(raw).hexdigest()
    return statement


def signed_fingerprint(document: dict) -> str:
    return json.loads(document["payload"])["key_fingerprint"]


def test_checkpoint_verifies_offline_with_cryptography_alone(exported):
    """GIVEN an exported checkpoint WHEN an auditor checks it with only the cryptography package THEN the signature
    verifies and the statement names the head that was signed."""
    statement = offline_verify(exported)
    head = AuditEvent.objects.get(seq=5)
    assert (statement["seq"], statement["head_hash"]) == (5, head.hash)
    assert statement["type"] == "https://assay.dev/audit-checkpoint/v1"
    assert exported["algorithm"] == "Ed25519"


def test_signing_is_recorded_in_the_chain(exported):
    """GIVEN a checkpoint just signed WHEN the chain is read THEN its next row records the signing."""
    record = AuditEvent.objects.get(seq=6)
    assert record.event_type == AuditEventType.AUDIT_CHECKPOINT_SIGNED
    assert record.after == {"seq": 5, "head_hash": record.prev_hash, "key_fingerprint": signed_fingerprint(exported)}
    assert record.target_type == "core.auditcheckpoint"


def test_tampered_payload_fails(exported):
    """GIVEN an exported checkpoint WHEN its payload is altered to claim another head THEN the signature fails,
    offline and in Assay."""
    statement = json.loads(exported["payload"])
    statement["seq"] = 4
    statement["head_hash"] = AuditEvent.objects.get(seq=4).hash
    forged = {**exported, "payload": canonical_bytes(statement).decode()}
    with pytest.raises(InvalidSignature):  # noqa: PT011  (cryptography raises it without a message)
        offline_verify(forged)
    assert verify_checkpoint(forged) == (
        False,
        "the signature does not verify: the payload or the signature was altered",
    )


def test_tampered_signature_fails(exported):
    """GIVEN an exported checkpoint WHEN one byte of its signature is flipped THEN it fails, offline and in Assay."""
    signature = bytearray(base64.b64decode(exported["signature"]))
    signature[10] ^= 0x01
    forged = {**exported, "signature": base64.b64encode(bytes(signature)).decode()}
    with pytest.raises(InvalidSignature):  # noqa: PT011  (cryptography raises it without a message)
        offline_verify(forged)
    assert not verify_checkpoint(forged)[0]


@pytest.mark.parametrize(
    "damage",
    [
        {"signature": "not base64!"},
        {"public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"},
        {"algorithm": "RSA"},
        {"payload": None},
    ],
)
def test_malformed_checkpoint_is_reported_not_raised(exported, damage):
    """GIVEN an export with a damaged field WHEN verified THEN it is reported invalid with a reason."""
    ok, reason = verify_checkpoint({**exported, **damage})
    assert not ok
    assert reason


def test_missing_field_is_reported(exported):
    """GIVEN an export without its signature WHEN verified THEN it is reported malformed."""
    ok, reason = verify_checkpoint({key: value for key, value in exported.items() if key != "signature"})
    assert (ok, reason.startswith("malformed checkpoint")) == (False, True)


def test_checkpoint_signed_by_a_stranger_is_refused(exported):
    """GIVEN someone who rewrote the chain signs a checkpoint with a key of their own, shipping its public half in
    the export WHEN verified THEN it is refused: the signature is valid but the signer is not trusted."""
    stranger = Ed25519PrivateKey.generate()
    statement = json.loads(exported["payload"])
    statement["key_fingerprint"] = audit.key_fingerprint(stranger.public_key())
    payload = canonical_bytes(statement)
    forged = {
        "payload": payload.decode(),
        "signature": base64.b64encode(stranger.sign(payload)).decode(),
        "public_key": audit.public_key_pem(stranger.public_key()),
        "algorithm": "Ed25519",
    }
    offline_verify(forged)  # the signature itself is fine...
    ok, reason = verify_checkpoint(forged)  # ...but not the signer
    assert not ok
    assert "neither the current signing key nor a trusted retired one" in reason


def test_payload_naming_another_key_is_refused(exported, settings):
    """GIVEN a trusted key that signs a payload naming another key's fingerprint WHEN verified THEN it is refused."""
    statement = json.loads(exported["payload"])
    statement["key_fingerprint"] = "0" * 64
    key = audit._signing_key()
    payload = canonical_bytes(statement)
    forged = {**exported, "payload": payload.decode(), "signature": base64.b64encode(key.sign(payload)).decode()}
    assert verify_checkpoint(forged) == (False, "the payload names another key than the one that signed it")


def test_checkpoint_signed_before_a_key_rotation(exported, settings):
    """GIVEN a checkpoint signed with the old key WHEN the signing key is rotated THEN the old checkpoint is refused
    until the old public key is listed as trusted, and then it verifies; new checkpoints use the new key."""
    old_public = exported["public_key"]
    settings.AUDIT_SIGNING_KEY = private_pem(Ed25519PrivateKey.generate())
    ok, reason = verify_checkpoint(exported)
    assert not ok
    assert reason == (
        f"signed by key {json.loads(exported['payload'])['key_fingerprint']}, "
        "which is neither the current signing key nor a trusted retired one"
    )

    settings.AUDIT_TRUSTED_PUBLIC_KEYS = old_public
    assert verify_checkpoint(exported) == (True, "row #5 has the signed hash and the chain is intact up to it")

    fresh = sign_checkpoint(actor=None)
    assert fresh.public_key != old_public
    assert verify_checkpoint(export_checkpoint(fresh))[0]
    assert AuditCheckpoint.objects.count() == 2


def test_explicit_trusted_keys_replace_the_servers(exported):
    """GIVEN an auditor who pins a key of their own choosing WHEN a checkpoint by the server's key is verified
    against only that key THEN it is refused; against the server's public key it verifies."""
    other = Ed25519PrivateKey.generate().public_key()
    assert not verify_checkpoint(exported, trusted_keys={audit.key_fingerprint(other): other})[0]
    server = audit.load_public_keys(exported["public_key"])[0]
    assert verify_checkpoint(exported, trusted_keys={audit.key_fingerprint(server): server})[0]


def test_empty_chain_cannot_be_signed():
    """GIVEN an empty audit log WHEN a checkpoint is asked for THEN none is signed."""
    with pytest.raises(ValueError, match="empty"):
        sign_checkpoint(actor=None)
    assert not AuditCheckpoint.objects.exists()


def test_several_retired_keys_and_a_broken_one(exported, settings):
    """GIVEN a key rotated twice WHEN the retired keys are listed one after another THEN the oldest checkpoint
    verifies; WHEN the list holds a damaged key THEN verification says which setting is wrong instead of
    crashing."""
    another_retired = audit.public_key_pem(Ed25519PrivateKey.generate().public_key())
    settings.AUDIT_SIGNING_KEY = private_pem(Ed25519PrivateKey.generate())
    settings.AUDIT_TRUSTED_PUBLIC_KEYS = another_retired + "\n" + exported["public_key"]
    assert verify_checkpoint(exported)[0]
    settings.AUDIT_TRUSTED_PUBLIC_KEYS = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
    ok, reason = verify_checkpoint(exported)
    assert not ok
    assert reason.startswith("AUDIT_TRUSTED_PUBLIC_KEYS holds a key that cannot be read")
