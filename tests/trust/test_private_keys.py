"""contains_private_key finds private key material in any field and form, and lets ordinary requests through."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from assay_trust.dsse import APPROVAL_PAYLOAD_TYPE, sign_envelope
from assay_trust.keys import contains_private_key, public_key_openssh, public_key_pem
from tests.trust.bundles import SignedRelease, statement_for

PEM, DER = serialization.Encoding.PEM, serialization.Encoding.DER
PKCS8, TRADITIONAL, OPENSSH = (
    serialization.PrivateFormat.PKCS8,
    serialization.PrivateFormat.TraditionalOpenSSL,
    serialization.PrivateFormat.OpenSSH,
)
NONE = serialization.NoEncryption()
ED = Ed25519PrivateKey.generate()
RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC = ec.generate_private_key(ec.SECP256R1())
SEED = ED.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, NONE)
PUBLIC = ED.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def pem_body(data: bytes) -> str:
    """The base64 lines of a PEM, without its BEGIN/END lines."""
    return "\n".join(line for line in data.decode().splitlines() if not line.startswith("-----"))


FOUND = {
    "PKCS#8 PEM": ED.private_bytes(PEM, PKCS8, NONE).decode(),
    "encrypted PKCS#8 PEM": ED.private_bytes(PEM, PKCS8, serialization.BestAvailableEncryption(b"pw")).decode(),
    "OpenSSH private key": ED.private_bytes(PEM, OPENSSH, NONE).decode(),
    "RSA PEM": RSA.private_bytes(PEM, TRADITIONAL, NONE).decode(),
    "EC PEM": EC.private_bytes(PEM, TRADITIONAL, NONE).decode(),
    "PGP block": "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF...\n-----END PGP PRIVATE KEY BLOCK-----",
    "lower-case PEM label": "-----begin private key-----",
    "PEM inside a comment": "please use this: " + ED.private_bytes(PEM, PKCS8, NONE).decode(),
    "PEM body without its header": pem_body(ED.private_bytes(PEM, PKCS8, NONE)),
    "OpenSSH body without its header": pem_body(ED.private_bytes(PEM, OPENSSH, NONE)),
    "base64 PKCS#8 DER": b64(ED.private_bytes(DER, PKCS8, NONE)),
    "url-safe base64 PKCS#8 DER": base64.urlsafe_b64encode(ED.private_bytes(DER, PKCS8, NONE)).decode().rstrip("="),
    "hex PKCS#8 DER": ED.private_bytes(DER, PKCS8, NONE).hex(),
    "base64 encrypted PKCS#8 DER": b64(ED.private_bytes(DER, PKCS8, serialization.BestAvailableEncryption(b"pw"))),
    "base64 RSA PKCS#1 DER": b64(RSA.private_bytes(DER, TRADITIONAL, NONE)),
    "base64 EC SEC1 DER": b64(EC.private_bytes(DER, TRADITIONAL, NONE)),
    "hex seed+public": (SEED + PUBLIC).hex(),
    "upper-case hex seed+public": (SEED + PUBLIC).hex().upper(),
    "base64 seed+public": b64(SEED + PUBLIC),
    "PuTTY key file": "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n",
    "JWK in a string": json.dumps({"kty": "OKP", "crv": "Ed25519", "x": "abc", "d": "secret"}),
}


@pytest.mark.parametrize("value", FOUND.values(), ids=FOUND.keys())
def test_found_in_a_string_field(value: str) -> None:
    assert contains_private_key({"public_key": value})
    assert contains_private_key({"comment": "x", "nested": [{"deep": {"deeper": value}}]})
    assert contains_private_key(value.encode())


@pytest.mark.parametrize(
    "value",
    [
        {"kty": "OKP", "crv": "Ed25519", "x": "abc", "d": "c2VjcmV0"},
        {"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"},
        {"kty": "RSA", "n": "a", "e": "AQAB", "p": "x", "q": "y"},
        {"kty": "oct", "k": "c2VjcmV0"},
    ],
    ids=["OKP", "EC", "RSA", "symmetric"],
)
def test_found_as_a_jwk_object(value: dict) -> None:
    assert contains_private_key({"key": value})
    assert contains_private_key([[value]])


@pytest.mark.parametrize("name", ["private_key", "privateKey", "secret-key", "SIGNING_PRIVATE_KEY", "privkey"])
def test_found_in_a_field_named_like_one(name: str) -> None:
    assert contains_private_key({name: "anything at all"})
    assert not contains_private_key({name: ""})


def test_found_in_a_key_of_an_object() -> None:
    assert contains_private_key({FOUND["PKCS#8 PEM"]: 1})


def test_found_inside_a_signed_statement_comment() -> None:
    """A key pasted into the comment of a statement travels as base64 inside the envelope's payload."""
    reviewer = SignedRelease().legal
    comment = "my key, for the record: " + (SEED + PUBLIC).hex()
    payload = json.dumps(statement_for(reviewer, comment=comment)).encode()
    assert contains_private_key({"envelope": sign_envelope(reviewer.key, APPROVAL_PAYLOAD_TYPE, payload)})


def test_absurd_nesting_counts_as_found() -> None:
    value: object = "x"
    for _ in range(100):
        value = [value]
    assert contains_private_key(value)


NOT_FOUND = {
    "a public key PEM": {"public_key": public_key_pem(ED.public_key()), "name": "laptop"},
    "an OpenSSH public key": {"public_key": public_key_openssh(ED.public_key()) + " lena@laptop"},
    "a public JWK": {"kty": "OKP", "crv": "Ed25519", "x": b64(PUBLIC)},
    "digests": {"sha256": "ab" * 32, "manifest_digest": SEED.hex(), "seed_b64": b64(SEED)},
    "a signature": {"sig": b64(ED.sign(b"x")), "hex": ED.sign(b"x").hex()},
    "ordinary text": {"comment": "The private key stays on my laptop; legal review done.", "reason": "lost laptop"},
    "training parameters": {"seed": 42, "random_seed": "1234", "learning_rate": 0.1},
    "numbers and nulls": {"a": [1, 2.5, None, True], "b": {}},
}


@pytest.mark.parametrize("value", NOT_FOUND.values(), ids=NOT_FOUND.keys())
def test_not_found_in_ordinary_requests(value: object) -> None:
    assert not contains_private_key(value)


def test_not_found_in_an_approval_submission() -> None:
    release = SignedRelease()
    bundle = release.bundle()
    assert not contains_private_key({"envelope": bundle["approvals"][0]["envelope"]})
    assert not contains_private_key(bundle)
