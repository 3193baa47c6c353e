"""DSSE envelopes: the spec's PAE, round trips, and every way an envelope can be wrong or tampered with."""

from __future__ import annotations

import base64
import copy
import json
import re

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from assay_trust.dsse import (
    APPROVAL_PAYLOAD_TYPE,
    MAX_PAYLOAD_BYTES,
    Envelope,
    pae,
    parse_envelope,
    sign_envelope,
    verify_envelope,
)
from assay_trust.errors import EnvelopeError, SignatureError
from assay_trust.keys import fingerprint, load_public_key, public_key_pem

PAYLOAD = b'{"hello":"world"}'
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def envelope(key: Ed25519PrivateKey) -> dict:
    return sign_envelope(key, APPROVAL_PAYLOAD_TYPE, PAYLOAD)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- The spec ------------------------------------------------------------------------------------------------------


def test_pae_matches_the_dsse_specification_vector() -> None:
    # protocol.md, "Test Vectors"
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters() -> None:
    assert pae("t/\u20ac", "\u20ac".encode()) == b"DSSEv1 5 t/\xe2\x82\xac 3 \xe2\x82\xac"
    assert pae("x", b"") == b"DSSEv1 1 x 0 "
    assert pae("ab", b"cd") != pae("ab c", b"d")


def test_ed25519_layer_matches_rfc8032() -> None:
    # RFC 8032 section 7.1, test 1 (empty message): the signature primitive under the envelope is plain Ed25519.
    signature = Ed25519PrivateKey.from_private_bytes(RFC8032_SEED).sign(b"")
    assert signature.hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24"
        "655141438e7a100b"
    )


def test_signature_is_over_the_pae(key: Ed25519PrivateKey, envelope: dict) -> None:
    signature = base64.b64decode(envelope["signatures"][0]["sig"])
    key.public_key().verify(signature, pae(APPROVAL_PAYLOAD_TYPE, PAYLOAD))
    with pytest.raises(InvalidSignature):  # noqa: PT011  (cryptography raises it without a message)
        key.public_key().verify(signature, PAYLOAD)


# --- Round trips --------------------------------------------------------------------------------------------------


def test_sign_then_verify_returns_the_payload(key: Ed25519PrivateKey, envelope: dict) -> None:
    assert set(envelope) == {"payload", "payloadType", "signatures"}
    assert envelope["signatures"][0]["keyid"] == fingerprint(key)
    assert verify_envelope(envelope, key.public_key()) == PAYLOAD
    parsed = parse_envelope(json.loads(json.dumps(envelope)))
    assert parsed.to_dict() == envelope
    assert verify_envelope(parsed, load_public_key(public_key_pem(key.public_key()))) == PAYLOAD


def test_url_safe_and_unpadded_base64_are_accepted(key: Ed25519PrivateKey) -> None:
    payload = b"\xfb\xff\xfe payload with bytes that need + and /"
    envelope = sign_envelope(key, APPROVAL_PAYLOAD_TYPE, payload)
    urlsafe = copy.deepcopy(envelope)
    urlsafe["payload"] = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    sig = base64.b64decode(envelope["signatures"][0]["sig"])
    urlsafe["signatures"][0]["sig"] = base64.urlsafe_b64encode(sig).decode().rstrip("=")
    assert "-" in urlsafe["payload"] or "_" in urlsafe["payload"]
    assert verify_envelope(urlsafe, key.public_key()) == payload


def test_parse_does_not_change_its_input(envelope: dict) -> None:
    before = copy.deepcopy(envelope)
    parse_envelope(envelope)
    assert envelope == before


# --- Tampering ----------------------------------------------------------------------------------------------------


def test_tampered_payload_fails(key: Ed25519PrivateKey, envelope: dict) -> None:
    envelope["payload"] = b64(b'{"hello":"World"}')
    with pytest.raises(SignatureError, match="does not verify"):
        verify_envelope(envelope, key.public_key())


def test_same_signature_under_another_payload_type_fails(key: Ed25519PrivateKey, envelope: dict) -> None:
    """What PAE is for: the bytes signed include the type, so the signature cannot be moved to another type."""
    other_type = "application/vnd.in-toto+json"
    envelope["payloadType"] = other_type
    with pytest.raises(SignatureError, match="does not verify"):
        verify_envelope(envelope, key.public_key(), payload_type=other_type)
    with pytest.raises(EnvelopeError, match=re.escape(f"payloadType: expected {APPROVAL_PAYLOAD_TYPE}")):
        verify_envelope(envelope, key.public_key())


def test_tampered_signature_fails(key: Ed25519PrivateKey, envelope: dict) -> None:
    signature = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    signature[10] ^= 1
    envelope["signatures"][0]["sig"] = b64(bytes(signature))
    with pytest.raises(SignatureError, match="does not verify"):
        verify_envelope(envelope, key.public_key())


def test_keyid_of_another_key_fails(key: Ed25519PrivateKey, envelope: dict) -> None:
    other = Ed25519PrivateKey.generate()
    envelope["signatures"][0]["keyid"] = fingerprint(other)
    with pytest.raises(SignatureError, match=f"signed by key {fingerprint(other)}, not by {fingerprint(key)}"):
        verify_envelope(envelope, key.public_key())


def test_wrong_key_fails(envelope: dict) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(SignatureError, match="signed by key"):
        verify_envelope(envelope, other)
    relabelled = dict(envelope, signatures=[{**envelope["signatures"][0], "keyid": fingerprint(other)}])
    with pytest.raises(SignatureError, match="does not verify"):
        verify_envelope(relabelled, other)


# --- Malformed ----------------------------------------------------------------------------------------------------


def mutate(envelope: dict, change) -> dict:
    copied = copy.deepcopy(envelope)
    change(copied)
    return copied


MALFORMED = [
    (lambda e: e.pop("payload"), "envelope: missing payload"),
    (lambda e: e.update(extra=1), "envelope: unexpected extra"),
    (lambda e: e.update(payloadType=""), "payloadType: expected a non-empty string"),
    (lambda e: e.update(payloadType=7), "payloadType: expected a non-empty string"),
    (lambda e: e.update(payloadType="x" * 300), "payloadType: longer than 256"),
    (lambda e: e.update(payload=123), "payload: expected a base64 string"),
    (lambda e: e.update(payload="not base64!"), "payload: not base64"),
    (lambda e: e.update(payload="aGVsbG8=\n"), "payload: not base64"),
    (lambda e: e.update(payload="aGVsbG9+-_"), "payload: not base64"),  # two alphabets at once
    (lambda e: e.update(payload="aGVsbG9="), "not canonical base64"),  # stray bits in the last character
    (lambda e: e.update(payload="aGVsbA="), "wrong padding"),
    (lambda e: e.update(payload="A" * (MAX_PAYLOAD_BYTES * 2)), "payload: too large"),
    (lambda e: e.update(signatures={}), "signatures: expected a list"),
    (lambda e: e.update(signatures=[]), "expected exactly one signature, got 0"),
    (lambda e: e["signatures"].append(e["signatures"][0]), "expected exactly one signature, got 2"),
    (lambda e: e["signatures"][0].pop("keyid"), "expected exactly the keys keyid and sig"),
    (lambda e: e["signatures"][0].update(extra="x"), "expected exactly the keys keyid and sig"),
    (lambda e: e["signatures"].__setitem__(0, "sig"), "expected exactly the keys keyid and sig"),
    (lambda e: e["signatures"][0].update(keyid="lena"), "keyid: expected a key fingerprint"),
    (lambda e: e["signatures"][0].update(sig=5), "sig: expected a base64 string"),
    (lambda e: e["signatures"][0].update(sig=b64(b"x" * 63)), "is 64 bytes, not 63"),
    (lambda e: e["signatures"][0].update(sig=b64(b"x" * 200)), "sig: too large"),
]


@pytest.mark.parametrize(("change", "message"), MALFORMED)
def test_malformed_envelopes_are_refused_naming_the_field(envelope: dict, change, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message):
        parse_envelope(mutate(envelope, change))


@pytest.mark.parametrize("value", [None, [], "envelope", 3])
def test_an_envelope_is_an_object(value: object) -> None:
    with pytest.raises(EnvelopeError, match="expected a JSON object"):
        parse_envelope(value)


def test_oversized_payloads_are_not_signed(key: Ed25519PrivateKey) -> None:
    with pytest.raises(EnvelopeError, match="too large"):
        sign_envelope(key, APPROVAL_PAYLOAD_TYPE, b"x" * (MAX_PAYLOAD_BYTES + 1))


def test_envelope_dataclass_pae(key: Ed25519PrivateKey) -> None:
    parsed = parse_envelope(sign_envelope(key, "a/b", b"body"))
    assert isinstance(parsed, Envelope)
    assert parsed.pae() == b"DSSEv1 3 a/b 4 body"
    assert isinstance(key.public_key(), Ed25519PublicKey)
