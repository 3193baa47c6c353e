"""governance.keywrap: a web-signing key sealed under its owner's passphrase opens only with that passphrase, for
that owner, and says precisely why when it does not."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from assay_trust.keys import fingerprint
from governance import keywrap
from governance.keywrap import KdfParams, PassphraseError, SealedKeyError, WrongPassphrase

FAST = KdfParams(memory_kib=64, iterations=1, lanes=1)
PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def blob(key: Ed25519PrivateKey) -> str:
    return keywrap.seal(key, PASSPHRASE, owner_id=42, params=FAST)


def edited(blob: str, change) -> str:
    value = json.loads(blob)
    change(value)
    return json.dumps(value)


def test_seal_then_unseal_gives_the_same_key(key: Ed25519PrivateKey, blob: str) -> None:
    opened = keywrap.unseal(blob, PASSPHRASE, owner_id=42)
    assert fingerprint(opened) == fingerprint(key)
    assert opened.sign(b"x") == key.sign(b"x")


def test_the_blob_holds_no_key_material_in_clear(key: Ed25519PrivateKey, blob: str) -> None:
    value = json.loads(blob)
    assert value["v"] == 1
    assert value["kdf"] == {
        "name": "argon2id",
        "memory_kib": 64,
        "iterations": 1,
        "lanes": 1,
        "salt": value["kdf"]["salt"],
    }
    assert value["fingerprint"] == fingerprint(key)
    raw = key.private_bytes_raw()
    assert raw.hex() not in blob
    assert base64.b64encode(raw).decode() not in blob
    assert PASSPHRASE not in blob


def test_each_seal_has_its_own_salt_and_nonce(key: Ed25519PrivateKey, blob: str) -> None:
    again = json.loads(keywrap.seal(key, PASSPHRASE, owner_id=42, params=FAST))
    first = json.loads(blob)
    assert again["kdf"]["salt"] != first["kdf"]["salt"]
    assert again["nonce"] != first["nonce"]
    assert again["ciphertext"] != first["ciphertext"]


def test_a_wrong_passphrase_is_named(blob: str) -> None:
    with pytest.raises(WrongPassphrase, match="wrong signing passphrase"):
        keywrap.unseal(blob, PASSPHRASE + "!", owner_id=42)


def test_the_passphrase_is_unicode_normalised(key: Ed25519PrivateKey) -> None:
    composed, decomposed = "passphrase caf\u00e9!", "passphrase cafe\u0301!"
    sealed = keywrap.seal(key, composed, owner_id=1, params=FAST)
    assert fingerprint(keywrap.unseal(sealed, decomposed, owner_id=1)) == fingerprint(key)


def test_a_blob_moved_to_another_user_does_not_open(blob: str) -> None:
    with pytest.raises(SealedKeyError, match="belongs to another user"):
        keywrap.unseal(blob, PASSPHRASE, owner_id=43)
    # Rewriting the owner in the blob breaks the authenticated data: it does not open for anyone.
    moved = edited(blob, lambda value: value.update(owner="43"))
    with pytest.raises(WrongPassphrase, match=r"^wrong signing passphrase$"):
        keywrap.unseal(moved, PASSPHRASE, owner_id=43)


@pytest.mark.parametrize(
    "change",
    [
        lambda value: value.update(fingerprint="sha256:" + "00" * 32),
        lambda value: value["kdf"].update(iterations=2),
        lambda value: value["kdf"].update(salt=base64.b64encode(b"\x00" * 16).decode()),
        lambda value: value.update(nonce=base64.b64encode(b"\x00" * 12).decode()),
    ],
    ids=["fingerprint", "iterations", "salt", "nonce"],
)
def test_any_edited_header_field_fails_authentication(blob: str, change) -> None:
    with pytest.raises(WrongPassphrase, match=r"^wrong signing passphrase$"):
        keywrap.unseal(edited(blob, change), PASSPHRASE, owner_id=42)


@pytest.mark.parametrize(
    ("blob_text", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"v": 2, "kind": "assay.sealed-ed25519-key"}', "unknown format"),
        (None, "expected a JSON text"),
    ],
)
def test_malformed_blobs_are_named(blob_text, message: str) -> None:
    with pytest.raises(SealedKeyError, match=message):
        keywrap.unseal(blob_text, PASSPHRASE, owner_id=42)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda value: value.update(extra=1), "unexpected or missing fields"),
        (lambda value: value["kdf"].update(name="scrypt"), "must be argon2id"),
        (lambda value: value.update(cipher="aes-128-cbc"), "must be aes-256-gcm"),
        (lambda value: value["kdf"].update(memory_kib=64 * 1024 * 1024), "out of bounds"),
        (lambda value: value["kdf"].update(iterations=10_000), "out of bounds"),
        (lambda value: value["kdf"].update(salt="!!"), "salt is not base64"),
        (lambda value: value.update(ciphertext=base64.b64encode(b"short").decode()), "ciphertext is 5 bytes"),
    ],
)
def test_blobs_out_of_shape_or_bounds_are_refused_before_any_work(blob: str, change, message: str) -> None:
    with pytest.raises(SealedKeyError, match=message):
        keywrap.unseal(edited(blob, change), PASSPHRASE, owner_id=42)


@pytest.mark.parametrize(
    ("passphrase", "message"),
    [("short", "at least 12"), ("x" * 1025, "at most 1024"), (None, "is text"), (b"bytes passphrase", "is text")],
)
def test_the_passphrase_policy(key: Ed25519PrivateKey, blob: str, passphrase, message: str) -> None:
    with pytest.raises(PassphraseError, match=message):
        keywrap.seal(key, passphrase, owner_id=42, params=FAST)
    with pytest.raises(PassphraseError, match=message):
        keywrap.unseal(blob, passphrase, owner_id=42)
    assert keywrap.check_passphrase("x" * 12) == "x" * 12
    assert keywrap.check_passphrase("x" * 1024) == "x" * 1024


def test_generate_makes_a_sealed_key_pair() -> None:
    sealed = keywrap.generate(PASSPHRASE, owner_id="7", params=FAST)
    opened = keywrap.unseal(sealed.blob, PASSPHRASE, owner_id=7)
    assert fingerprint(opened) == sealed.fingerprint
    assert sealed.public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")


def test_parameters_travel_with_the_blob(blob: str) -> None:
    assert keywrap.sealed_params(blob) == FAST
    assert KdfParams() == KdfParams(memory_kib=65536, iterations=3, lanes=4)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"memory_kib": 7, "lanes": 1}, "memory_kib"),
        ({"memory_kib": 64, "lanes": 16}, "memory_kib"),
        ({"iterations": 0}, "iterations"),
        ({"lanes": 0}, "lanes"),
        ({"memory_kib": True}, "whole number"),
    ],
)
def test_kdf_parameters_are_checked(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KdfParams(**fields)
