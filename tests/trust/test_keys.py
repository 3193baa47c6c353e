"""Public keys: the two accepted forms, one fingerprint per key, and a precise refusal for everything else that
never repeats the key material."""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from assay_trust.errors import KeyFormatError
from assay_trust.keys import (
    fingerprint,
    is_fingerprint,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_openssh,
    public_key_pem,
    raw_public_bytes,
)

PEM = serialization.Encoding.PEM
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
SSH = serialization.Encoding.OpenSSH
SSH_FORMAT = serialization.PublicFormat.OpenSSH
SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def pem_of(der: bytes, label: str = "PUBLIC KEY") -> str:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n"


def ssh_line(key_type: bytes, raw: bytes, prefix: str = "ssh-ed25519") -> str:
    blob = len(key_type).to_bytes(4, "big") + key_type + len(raw).to_bytes(4, "big") + raw
    return f"{prefix} {base64.b64encode(blob).decode()} reviewer@laptop"


def refused(value: str | bytes, match: str) -> None:
    with pytest.raises(KeyFormatError, match=match) as caught:
        load_public_key(value)
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    # No run of key material (any base64 line of the input) shows in the message.
    for chunk in re.findall(r"[A-Za-z0-9+/=]{16,}", text):
        assert chunk not in str(caught.value)


# --- Accepted -----------------------------------------------------------------------------------------------------


def test_pem_and_openssh_forms_of_one_key_have_one_fingerprint() -> None:
    private = Ed25519PrivateKey.generate()
    public = private.public_key()

    from_pem = load_public_key(public_key_pem(public))
    from_ssh = load_public_key(public_key_openssh(public) + " lena@laptop\n")
    from_bytes = load_public_key(public_key_pem(public).encode())

    assert raw_public_bytes(from_pem) == raw_public_bytes(from_ssh) == raw_public_bytes(public)
    assert fingerprint(from_pem) == fingerprint(from_ssh) == fingerprint(from_bytes) == fingerprint(private)


def test_fingerprint_is_sha256_of_the_raw_key() -> None:
    # RFC 8032 section 7.1, test 1: a published key, so that the format is pinned by an outside value.
    private = Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    )
    assert raw_public_bytes(private.public_key()).hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )
    assert fingerprint(private) == "sha256:21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9"
    assert is_fingerprint(fingerprint(private))
    assert not is_fingerprint("SHA256:" + "a" * 64)
    assert not is_fingerprint("sha256:" + "A" * 64)
    assert not is_fingerprint(None)


def test_openssh_keys_from_ssh_keygen_text_are_accepted() -> None:
    public = Ed25519PrivateKey.generate().public_key()
    line = public.public_bytes(SSH, SSH_FORMAT).decode()
    assert fingerprint(load_public_key(f"  {line}  ")) == fingerprint(public)


# --- Refused ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "an RSA"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "an EC"),
        (lambda: x25519.X25519PrivateKey.generate(), "an X25519"),
        (lambda: ed448.Ed448PrivateKey.generate(), "an Ed448"),
    ],
)
def test_pem_keys_of_other_algorithms_are_named(make, name: str) -> None:
    public = make().public_key()
    refused(public.public_bytes(PEM, SPKI).decode(), f"not an Ed25519 key: this is {name} public key")


def test_pkcs1_rsa_pem_is_named() -> None:
    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    text = public.public_bytes(PEM, serialization.PublicFormat.PKCS1).decode()
    refused(text, "this is an RSA public key")


@pytest.mark.parametrize(
    "make",
    [
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        lambda: ec.generate_private_key(ec.SECP256R1()),
    ],
)
def test_openssh_keys_of_other_algorithms_are_named(make) -> None:
    line = make().public_key().public_bytes(SSH, SSH_FORMAT).decode()
    key_type = line.split()[0]
    refused(line, f"this is an OpenSSH {key_type} key")


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_wrong_length_pem_is_refused_with_the_length(length: int) -> None:
    body = bytes.fromhex("300506032b6570") + bytes([0x03, length + 1, 0x00]) + b"\x11" * length
    der = bytes([0x30, len(body)]) + body
    refused(pem_of(der), f"an Ed25519 public key is 32 bytes; this PEM key holds {length}")


@pytest.mark.parametrize("length", [31, 33])
def test_wrong_length_openssh_is_refused_with_the_length(length: int) -> None:
    refused(ssh_line(b"ssh-ed25519", b"\x11" * length), f"32 bytes; this OpenSSH key holds {length}")


def test_openssh_prefix_that_lies_about_the_type_is_refused() -> None:
    refused(ssh_line(b"ssh-rsa", b"\x11" * 32), "the encoded key is not ssh-ed25519")


def test_openssh_with_trailing_bytes_is_refused() -> None:
    raw = raw_public_bytes(Ed25519PrivateKey.generate().public_key())
    blob = b"\x00\x00\x00\x0bssh-ed25519" + len(raw).to_bytes(4, "big") + raw + b"extra"
    refused(f"ssh-ed25519 {base64.b64encode(blob).decode()}", "extra bytes after the key")


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (bytes.fromhex("01") + bytes(31), "weak Ed25519 public key"),  # the identity point
        (bytes.fromhex("ec" + "ff" * 30 + "7f"), "weak Ed25519 public key"),  # (0, -1), order 2
        (bytes(32), "weak Ed25519 public key"),  # order 4
        (bytes.fromhex("ed" + "ff" * 30 + "7f"), "not a point of the curve"),  # y = p, non-canonical
        (bytes.fromhex("02") + bytes(31), "not a point of the curve"),  # y = 2 has no x
    ],
)
def test_keys_that_no_generator_produces_are_refused(raw: bytes, match: str) -> None:
    refused(pem_of(SPKI_PREFIX + raw), match)
    refused(ssh_line(b"ssh-ed25519", raw), match)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("hello", "must start with ssh-ed25519"),
        ("ssh-ed25519", "the base64 part is missing"),
        ("ssh-ed25519 !!!notbase64!!!", "not base64"),
        ("ssh-ed25519 AAAA", "truncated"),
        ("-----BEGIN PUBLIC KEY-----\nnot base64 at all!\n-----END PUBLIC KEY-----\n", "the body is not base64"),
        ("-----BEGIN PUBLIC KEY-----\nMAo=\n-----END PUBLIC KEY-----\n", "not a DER SubjectPublicKeyInfo"),
        ("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----", "not a DER SubjectPublicKeyInfo"),
        ("-----BEGIN PUBLIC KEY-----\nMAo=\n-----END PRIVATE THING-----\n", "BEGIN and END lines do not match"),
        ("-----BEGIN CERTIFICATE-----\nMAo=\n-----END CERTIFICATE-----\n", "a certificate, not a public key"),
        ("-----BEGIN PUBLIC KEY-----\nMAo=\n", "exactly one"),
        ("---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n---- END SSH2 PUBLIC KEY ----", "RFC 4716"),
        ("ssh-ed25519 AAAA\nssh-ed25519 AAAA", "single line"),
        ("x" * 20000, "too long"),
        (b"\xff\xfe", "ASCII text"),
    ],
)
def test_garbage_is_refused_precisely(text: str | bytes, match: str) -> None:
    refused(text, match)


def test_two_pem_blocks_are_refused() -> None:
    one = public_key_pem(Ed25519PrivateKey.generate().public_key())
    refused(one + one, "exactly one")


def test_a_private_key_given_as_public_is_refused_without_echo() -> None:
    private = Ed25519PrivateKey.generate()
    refused(private_key_pem(private).decode(), "this is a private key")
    openssh = private.private_bytes(PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    refused(openssh.decode(), "this is a private key")


def test_non_text_is_refused() -> None:
    with pytest.raises(KeyFormatError, match="is text"):
        load_public_key(123)  # type: ignore[arg-type]


# --- Private key files (the CLI's) --------------------------------------------------------------------------------


def test_private_key_files_round_trip_plain_and_encrypted() -> None:
    private = Ed25519PrivateKey.generate()
    assert fingerprint(load_private_key(private_key_pem(private))) == fingerprint(private)
    encrypted = private_key_pem(private, b"correct horse battery")
    assert b"ENCRYPTED" in encrypted
    assert fingerprint(load_private_key(encrypted, b"correct horse battery")) == fingerprint(private)
    with pytest.raises(KeyFormatError, match="encrypted: a passphrase is needed"):
        load_private_key(encrypted)
    with pytest.raises(KeyFormatError, match="wrong passphrase"):
        load_private_key(encrypted, b"wrong")


def test_openssh_private_key_files_are_read() -> None:
    private = Ed25519PrivateKey.generate()
    data = private.private_bytes(PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    assert fingerprint(load_private_key(data)) == fingerprint(private)


def test_other_private_keys_and_garbage_are_refused() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = rsa_key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(KeyFormatError, match="not an Ed25519 private key"):
        load_private_key(data)
    with pytest.raises(KeyFormatError, match="not a PEM or OpenSSH private key"):
        load_private_key(b"garbage")
