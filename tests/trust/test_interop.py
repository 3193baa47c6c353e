"""A bundle's envelopes verify with a generic DSSE verifier written here from the specification alone (PAE and
Ed25519, nothing from assay_trust), given only the bundle's public keys: what an auditor's own tooling does."""

from __future__ import annotations

import base64
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from tests.trust.bundles import SignedRelease


def generic_dsse_verify(envelope: dict, public_keys_pem: dict[str, str]) -> bytes | None:
    """DSSE protocol.md, "Verification": decode, rebuild PAE, accept if any signature verifies with a trusted key.
    The keyid is a hint only (the spec says so), so every key is tried."""
    payload = base64.b64decode(envelope["payload"])
    payload_type = envelope["payloadType"].encode("utf-8")
    pae = b"DSSEv1 " + str(len(payload_type)).encode() + b" " + payload_type + b" "
    pae += str(len(payload)).encode() + b" " + payload
    for signature in envelope["signatures"]:
        sig = base64.b64decode(signature["sig"])
        for pem in public_keys_pem.values():
            try:
                load_pem_public_key(pem.encode()).verify(sig, pae)  # type: ignore[union-attr, call-arg]
            except InvalidSignature:
                continue
            return payload
    return None


def test_every_envelope_of_a_bundle_verifies_with_a_generic_verifier() -> None:
    bundle = json.loads(json.dumps(SignedRelease().bundle()))
    keys = {entry["fingerprint"]: entry["public_key"] for entry in bundle["public_keys"]}

    assert bundle["approvals"]
    for approval in bundle["approvals"]:
        payload = generic_dsse_verify(approval["envelope"], keys)
        assert payload is not None
        statement = json.loads(payload)
        assert statement["_type"] == "https://in-toto.io/Statement/v1"
        assert statement["subject"][0]["digest"]["sha256"] == bundle["artifact"]["sha256"]
        assert statement["predicate"]["manifest_digest"] == bundle["manifest_digest"]
        assert statement["predicate"]["signer"]["key"] == approval["key"]


def test_the_generic_verifier_also_refuses_a_changed_payload_type() -> None:
    bundle = SignedRelease().bundle()
    keys = {entry["fingerprint"]: entry["public_key"] for entry in bundle["public_keys"]}
    envelope = dict(bundle["approvals"][0]["envelope"], payloadType="application/vnd.in-toto+json")
    assert generic_dsse_verify(envelope, keys) is None
