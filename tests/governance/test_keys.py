"""Signing keys: what is registered, what is refused and how, web-signing keys, revocation, and the rule that private
key material sent to the server is refused and never repeated (not in the response, the logs or the audit log)."""

from __future__ import annotations

import base64
import json
import logging
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, x25519
from django.core.exceptions import PermissionDenied, ValidationError

from assay_trust import keys as trust_keys
from core.choices import AuditEventType
from core.models import AuditEvent
from core.refusals import Refusal
from governance import actions, keywrap
from governance.models import SigningKey
from tests.api_cases import World

PASSPHRASE = "correct horse battery staple signing"


def public_pem(key: Any) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def refused_events(event_type: str = AuditEventType.SIGNING_KEY_REFUSED) -> list[Any]:
    return list(AuditEvent.objects.filter(event_type=event_type).order_by("seq"))


def audit_text() -> str:
    """Everything the audit table holds, as text."""
    rows = AuditEvent.objects.order_by("seq").values()
    return json.dumps([dict(row) for row in rows], default=str)


# --- Registering public keys --------------------------------------------------------------------------------------


def test_a_public_key_is_registered_in_pem_or_openssh_form_with_one_fingerprint(cast: Any) -> None:
    private = trust_keys.generate_private_key()
    legal = cast.reviewers["legal"]
    key = actions.do_register_signing_key(actor=legal, public_key=trust_keys.public_key_pem(private.public_key()))
    assert key.fingerprint == trust_keys.fingerprint(private)
    assert key.kind == "client"
    assert key.sealed_private_key == ""
    event = AuditEvent.objects.get(event_type=AuditEventType.SIGNING_KEY_REGISTERED)
    assert (event.after or {})["fingerprint"] == key.fingerprint
    # The same key again, in OpenSSH form, by another board member: refused as already registered
    ssh_line = trust_keys.public_key_openssh(private.public_key()) + " rita@laptop"
    with pytest.raises(Refusal, match=r"^The key sha256:[0-9a-f]{64} is already registered\.$") as raised:
        actions.do_register_signing_key(actor=cast.reviewers["risk"], public_key=ssh_line)
    assert raised.value.reason == "duplicate_key"
    assert refused_events()[0].metadata["reason"] == "duplicate_key"
    # A fresh OpenSSH key registers
    other = trust_keys.generate_private_key()
    ssh_key = actions.do_register_signing_key(
        actor=legal, public_key=trust_keys.public_key_openssh(other.public_key()) + " rita@desktop"
    )
    assert ssh_key.public_key == trust_keys.public_key_pem(other.public_key())


def _wrong_keys() -> dict[str, tuple[str, str]]:
    ed = trust_keys.generate_private_key().public_key()
    raw = trust_keys.raw_public_bytes(ed)
    short_der = bytes.fromhex("3029300506032b6570032000") + raw[:31]
    short_pem = "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(short_der).decode() + "\n-----END PUBLIC KEY-----\n"
    blob = b"\x00\x00\x00\x0bssh-ed25519" + len(raw[:16]).to_bytes(4, "big") + raw[:16]
    return {
        "empty": ("", "empty"),
        "not a key": ("hello world", "malformed OpenSSH public key"),
        "bad base64": ("-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----", "malformed PEM"),
        "wrong length PEM": (short_pem, "holds 31"),
        "wrong length OpenSSH": ("ssh-ed25519 " + base64.b64encode(blob).decode(), "holds 16"),
        "RSA": (public_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()), "RSA"),
        "EC": (public_pem(ec.generate_private_key(ec.SECP256R1()).public_key()), "EC"),
        "X25519": (public_pem(x25519.X25519PrivateKey.generate().public_key()), "X25519"),
        "OpenSSH RSA": (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            .public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode(),
            "ssh-rsa",
        ),
        "two PEM blocks": (
            trust_keys.public_key_pem(ed) * 2,
            "exactly one",
        ),
    }


@pytest.mark.parametrize("case", list(_wrong_keys()))
def test_malformed_wrong_length_and_non_ed25519_keys_are_refused_precisely(cast: Any, case: str) -> None:
    value, expected = _wrong_keys()[case]
    with pytest.raises(Refusal, match="^Not accepted as an Ed25519 public key: .*" + re.escape(expected)) as raised:
        actions.do_register_signing_key(actor=cast.reviewers["legal"], public_key=value)
    assert raised.value.status == 400
    assert raised.value.reason == "malformed_key"
    assert raised.value.message.startswith("Not accepted as an Ed25519 public key: ")
    assert expected in raised.value.message
    assert not SigningKey.objects.exists()
    # The refusal is recorded with the reason, not the key
    event = refused_events()[0]
    assert event.metadata["reason"] == "malformed_key"
    if len(value) > 40:
        assert value.strip().splitlines()[1 if value.startswith("-----") else 0][:40] not in audit_text()


def test_service_accounts_register_no_signing_keys(cast: Any) -> None:
    from core import actions as core_actions

    account = core_actions.do_create_service_account(cast.team_a, actor=cast.admin_a, username="ci-bot")
    public = trust_keys.public_key_pem(trust_keys.generate_private_key().public_key())
    with pytest.raises(
        PermissionDenied, match=r"^Service accounts do not sign approvals; people register signing keys\.$"
    ):
        actions.do_register_signing_key(actor=account.user, public_key=public)


# --- Private keys are never sent --------------------------------------------------------------------------------


def _private_materials() -> dict[str, Any]:
    private = trust_keys.generate_private_key()
    pkcs8 = trust_keys.private_key_pem(private).decode()
    raw_seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    seed_and_public = (raw_seed + trust_keys.raw_public_bytes(private.public_key())).hex()
    openssh = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    der_b64 = base64.b64encode(
        private.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    ).decode()
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "d": "nWGxne_9WmC6hEr0"}
    return {
        "PKCS#8 PEM as the public key": {"public_key": pkcs8},
        "OpenSSH private key file": {"public_key": openssh},
        "seed and public key in hex, in the name": {
            "public_key": trust_keys.public_key_pem(private.public_key()),
            "name": seed_and_public,
        },
        "PKCS#8 DER base64 in an extra field": {"public_key": "x", "private_key": der_b64},
        "a JWK with its private part": {"public_key": jwk},
    }


def _secret_fragments(body: dict[str, Any]) -> list[str]:
    """Pieces of the private material in ``body`` that must appear nowhere (long enough not to occur by chance)."""
    fragments = []
    for value in body.values():
        text = json.dumps(value) if isinstance(value, dict) else str(value)
        for line in text.splitlines():
            line = line.strip()
            if len(line) >= 24 and "BEGIN" not in line and "END" not in line and "-----" not in line:
                fragments.append(line[:24])
    if isinstance(body.get("public_key"), dict):
        fragments.append(body["public_key"]["d"])
    return fragments


@pytest.mark.parametrize("case", list(_private_materials()))
def test_private_key_material_is_refused_and_never_echoed_logged_or_audited(
    world: World, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    # GIVEN a reviewer with a token, and every logger listening at DEBUG
    body = _private_materials()[case]
    client = world.client("reviewer_legal")
    caplog.set_level(logging.DEBUG)
    # WHEN they send private key material to the signing-keys endpoint
    response = client.post("/api/v1/signing-keys/", body, format="json")
    # THEN a 400 that says so, before anything else looked at the request
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error == {"code": "private_key_submitted", "message": "private keys are never sent to the server"}
    assert not SigningKey.objects.exists()
    # AND one SIGNING_KEY_REFUSED event, attributed, with the reason and nothing of the material
    event = refused_events()[0]
    assert event.actor_id == world.cast.reviewers["legal"].pk
    assert event.metadata == {"reason": "private_key_submitted", "where": "/api/v1/signing-keys/"}
    fragments = _secret_fragments(body)
    assert fragments
    stored = audit_text()
    logged = "\n".join(record.getMessage() + repr(record.args) for record in caplog.records)
    for fragment in fragments:
        assert fragment not in response.content.decode()
        assert fragment not in stored
        assert fragment not in logged
    assert "PRIVATE KEY" not in stored
    assert "PRIVATE KEY" not in logged


def test_private_key_material_in_an_approval_is_refused_as_an_approval(world: World, rw: Any) -> None:
    private = trust_keys.generate_private_key()
    pem = trust_keys.private_key_pem(private).decode()
    # Hidden inside the DSSE payload (base64 of a statement whose comment holds the key)
    payload = base64.b64encode(json.dumps({"comment": pem}).encode()).decode()
    envelope = {"payload": payload, "payloadType": "application/vnd.assay.approval.v1+json", "signatures": []}
    response = world.client("reviewer_legal").post(
        f"/api/v1/releases/{rw.release.pk}/approvals/", {"envelope": envelope}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "private keys are never sent to the server"
    event = refused_events(AuditEventType.APPROVAL_REFUSED)[0]
    assert event.metadata["reason"] == "private_key_submitted"
    assert payload[:40] not in audit_text()


# --- Web-signing keys ---------------------------------------------------------------------------------------------


def test_a_web_signing_key_is_sealed_by_the_passphrase(cast: Any) -> None:
    legal = cast.reviewers["legal"]
    key = actions.do_create_web_signing_key(actor=legal, passphrase=PASSPHRASE, name="browser")
    assert key.kind == "server"
    assert key.sealed_private_key
    # The blob opens with the passphrase, for its owner only, to the key registered
    opened = keywrap.unseal(key.sealed_private_key, PASSPHRASE, owner_id=legal.pk)
    assert trust_keys.fingerprint(opened) == key.fingerprint
    with pytest.raises(keywrap.WrongPassphrase, match=r"^wrong signing passphrase$"):
        keywrap.unseal(key.sealed_private_key, "not the passphrase at all", owner_id=legal.pk)
    # Sealed with the configured (here: small) parameters
    assert keywrap.sealed_params(key.sealed_private_key) == keywrap.KdfParams(memory_kib=64, iterations=1, lanes=1)
    # The passphrase is in no audit event
    assert PASSPHRASE not in audit_text()


def test_one_live_web_signing_key_at_a_time_and_passphrase_rules(cast: Any) -> None:
    legal = cast.reviewers["legal"]
    with pytest.raises(ValidationError, match=r"A signing passphrase has at least 12 characters\.") as raised:
        actions.do_create_web_signing_key(actor=legal, passphrase="short")
    assert "at least 12 characters" in raised.value.message_dict["passphrase"][0]
    first = actions.do_create_web_signing_key(actor=legal, passphrase=PASSPHRASE)
    with pytest.raises(
        ValidationError,
        match=r"You already have a web-signing key \(sha256:[0-9a-f]{64}\); revoke it before making another\.",
    ) as raised:
        actions.do_create_web_signing_key(actor=legal, passphrase=PASSPHRASE)
    assert "revoke it before making another" in raised.value.message_dict["kind"][0]
    actions.do_revoke_signing_key(first, actor=legal, reason="Forgot the passphrase")
    second = actions.do_create_web_signing_key(actor=legal, passphrase=PASSPHRASE + " again")
    assert second.fingerprint != first.fingerprint


def test_the_api_never_serves_the_sealed_private_key(world: World) -> None:
    key = actions.do_create_web_signing_key(actor=world.cast.reviewers["legal"], passphrase=PASSPHRASE)
    for url in ("/api/v1/signing-keys/", f"/api/v1/signing-keys/{key.pk}/"):
        response = world.client("auditor").get(url)
        assert response.status_code == 200
        assert "ciphertext" not in response.content.decode()
        assert "sealed" not in response.content.decode()


# --- Revocation ---------------------------------------------------------------------------------------------------


def test_who_revokes_a_key(cast: Any) -> None:
    legal = cast.reviewers["legal"]
    _, key = _client_key(legal)
    # GIVEN the key of a reviewer of team A: team B's engineer, team A's engineer and auditor may not revoke it
    for person in (cast.engineer_b, cast.engineer_a, cast.auditor, cast.reviewers["risk"]):
        with pytest.raises(
            PermissionDenied,
            match=r"^Only the key's owner, a compliance officer of the owner's team or a platform administrator",
        ):
            actions.do_revoke_signing_key(key, actor=person, reason="x")
    # A reason is required
    with pytest.raises(ValidationError, match=r"Say why the key is revoked\.") as raised:
        actions.do_revoke_signing_key(key, actor=cast.compliance, reason="  ")
    assert "Say why" in raised.value.message_dict["reason"][0]
    # The compliance officer of the owner's team revokes it, with server time and the reason
    revoked = actions.do_revoke_signing_key(key, actor=cast.compliance, reason="Laptop stolen")
    assert revoked.revoked_at is not None
    assert revoked.revoked_by == cast.compliance
    event = AuditEvent.objects.get(event_type=AuditEventType.SIGNING_KEY_REVOKED)
    assert (event.after or {})["reason"] == "Laptop stolen"
    # Twice: refused, not written twice
    with pytest.raises(ValidationError, match=r"The key was already revoked on ") as invalid:
        actions.do_revoke_signing_key(key, actor=legal, reason="again")
    assert list(invalid.value.message_dict) == ["reason"]
    assert AuditEvent.objects.filter(event_type=AuditEventType.SIGNING_KEY_REVOKED).count() == 1


def _client_key(user: Any) -> tuple[Any, Any]:
    from tests.governance.factories import make_client_key

    return make_client_key(user)
