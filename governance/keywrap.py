"""Web-signing keys at rest: an Ed25519 private key sealed under the reviewer's signing passphrase.

The server keeps a key pair for a reviewer who signs in the browser. Its private half is stored only sealed:

- a 256-bit key is derived from the passphrase by Argon2id (memory-hard: guessing passphrases from a stolen
  database costs ``memory_kib`` of memory and ``iterations`` passes per guess), with a fresh 16-byte salt;
- the raw 32-byte private key is encrypted with AES-256-GCM under it, with a fresh 12-byte nonce;
- the additional authenticated data is the canonical JSON of everything else in the blob (format version, KDF
  name and parameters, salt, nonce, the key's fingerprint and the owner's id), so that none of it can be changed,
  and a blob copied to another user's row does not open for them.

The blob is one canonical JSON text, versioned, carrying its own KDF parameters, so that new keys can be sealed
with stronger parameters while old blobs still open (``sealed_params`` tells which to re-seal)::

    {"v": 1, "kind": "assay.sealed-ed25519-key", "owner": "42", "fingerprint": "sha256:...",
     "kdf": {"name": "argon2id", "memory_kib": 65536, "iterations": 3, "lanes": 4, "salt": "<base64>"},
     "cipher": "aes-256-gcm", "nonce": "<base64>", "ciphertext": "<base64 of 32 + 16 bytes>"}

Passphrases are normalised to Unicode NFC (the same passphrase typed on two systems gives the same key) and must
have 12 to 1024 characters. No Django here: the caller reads the parameters from settings
(``SIGNING_KEY_KDF_*``) and passes ``KdfParams``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from assay_trust.canonical import canonical_bytes
from assay_trust.keys import fingerprint, is_fingerprint

BLOB_VERSION = 1
BLOB_KIND = "assay.sealed-ed25519-key"
MIN_PASSPHRASE_CHARS = 12
MAX_PASSPHRASE_CHARS = 1024
SALT_BYTES = 16
NONCE_BYTES = 12
# Bounds on what a blob may ask for when it is opened: a blob is server data, but an absurd parameter must not
# make one request take the machine's memory (1 GiB) or minutes.
MAX_MEMORY_KIB = 1024 * 1024
MAX_ITERATIONS = 64
MAX_LANES = 64
_HEADER_KEYS = {"v", "kind", "owner", "fingerprint", "kdf", "cipher", "nonce"}
_KDF_KEYS = {"name", "memory_kib", "iterations", "lanes", "salt"}


class PassphraseError(ValueError):
    """The passphrase breaks the policy (length) or is not text."""


class UnsealError(ValueError):
    """The blob could not be opened (base class: catch ``WrongPassphrase`` to tell the user to retype)."""


class WrongPassphrase(UnsealError):
    """The passphrase does not open the blob (or the blob was altered: AES-GCM cannot tell the two apart)."""


class SealedKeyError(UnsealError):
    """The blob is malformed, of an unknown version, asks for out-of-bounds KDF parameters, or belongs to another
    user."""


@dataclass(frozen=True)
class KdfParams:
    """Argon2id parameters: ``memory_kib`` of memory, ``iterations`` passes, ``lanes`` parallel lanes. The defaults
    are RFC 9106's second recommended option (64 MiB, t=3, p=4); tests use small ones."""

    memory_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 4

    def __post_init__(self) -> None:
        for name in ("memory_kib", "iterations", "lanes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"KdfParams.{name}: expected a whole number")
        if not 1 <= self.lanes <= MAX_LANES:
            raise ValueError(f"KdfParams.lanes: expected 1 to {MAX_LANES}")
        if not 1 <= self.iterations <= MAX_ITERATIONS:
            raise ValueError(f"KdfParams.iterations: expected 1 to {MAX_ITERATIONS}")
        if not 8 * self.lanes <= self.memory_kib <= MAX_MEMORY_KIB:
            raise ValueError(f"KdfParams.memory_kib: expected 8 x lanes to {MAX_MEMORY_KIB} KiB")


@dataclass(frozen=True)
class SealedKey:
    """A new web-signing key: the blob to store, and the public half to register."""

    blob: str
    public_key_pem: str
    fingerprint: str


def check_passphrase(passphrase: object) -> str:
    """The passphrase normalised to NFC, or ``PassphraseError`` saying what the policy wants."""
    if not isinstance(passphrase, str):
        raise PassphraseError("a signing passphrase is text")
    normalised = unicodedata.normalize("NFC", passphrase)
    if len(normalised) < MIN_PASSPHRASE_CHARS:
        raise PassphraseError(f"a signing passphrase has at least {MIN_PASSPHRASE_CHARS} characters")
    if len(normalised) > MAX_PASSPHRASE_CHARS:
        raise PassphraseError(f"a signing passphrase has at most {MAX_PASSPHRASE_CHARS} characters")
    return normalised


def _derive(passphrase: str, salt: bytes, params: KdfParams) -> bytes:
    kdf = Argon2id(
        salt=salt, length=32, iterations=params.iterations, lanes=params.lanes, memory_cost=params.memory_kib
    )
    return kdf.derive(passphrase.encode("utf-8"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def seal(
    private_key: Ed25519PrivateKey, passphrase: str, *, owner_id: int | str, params: KdfParams | None = None
) -> str:
    """Seal ``private_key`` for the user ``owner_id`` under ``passphrase``; returns the blob (a JSON text)."""
    normalised = check_passphrase(passphrase)
    params = params or KdfParams()
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    header = {
        "v": BLOB_VERSION,
        "kind": BLOB_KIND,
        "owner": str(owner_id),
        "fingerprint": fingerprint(private_key),
        "kdf": {"name": "argon2id", **asdict(params), "salt": _b64(salt)},
        "cipher": "aes-256-gcm",
        "nonce": _b64(nonce),
    }
    raw = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    ciphertext = AESGCM(_derive(normalised, salt, params)).encrypt(nonce, raw, canonical_bytes(header))
    return canonical_bytes({**header, "ciphertext": _b64(ciphertext)}).decode("utf-8")


def generate(passphrase: str, *, owner_id: int | str, params: KdfParams | None = None) -> SealedKey:
    """A new key pair for ``owner_id``, sealed; the private key exists only inside the blob afterwards."""
    private = Ed25519PrivateKey.generate()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return SealedKey(
        blob=seal(private, passphrase, owner_id=owner_id, params=params),
        public_key_pem=public_pem.decode("ascii"),
        fingerprint=fingerprint(private),
    )


def _decode(text: object, field: str, length: int | None = None) -> bytes:
    if not isinstance(text, str):
        raise SealedKeyError(f"sealed key: {field} is not base64 text")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SealedKeyError(f"sealed key: {field} is not base64") from None
    if length is not None and len(data) != length:
        raise SealedKeyError(f"sealed key: {field} is {len(data)} bytes, expected {length}")
    return data


def _parse(blob: object) -> tuple[dict[str, Any], KdfParams, bytes, bytes, bytes]:
    """(header, parameters, salt, nonce, ciphertext) of a blob, checked; ``SealedKeyError`` otherwise."""
    if isinstance(blob, bytes):
        blob = blob.decode("utf-8", errors="replace")
    if not isinstance(blob, str):
        raise SealedKeyError("sealed key: expected a JSON text")
    try:
        value = json.loads(blob)
    except ValueError:
        raise SealedKeyError("sealed key: not JSON") from None
    if not isinstance(value, dict):
        raise SealedKeyError("sealed key: not a JSON object")
    if value.get("v") != BLOB_VERSION or value.get("kind") != BLOB_KIND:
        raise SealedKeyError(f"sealed key: unknown format (this server reads {BLOB_KIND} version {BLOB_VERSION})")
    if set(value) != _HEADER_KEYS | {"ciphertext"}:
        raise SealedKeyError("sealed key: unexpected or missing fields")
    kdf = value["kdf"]
    if not isinstance(kdf, dict) or set(kdf) != _KDF_KEYS or kdf["name"] != "argon2id":
        raise SealedKeyError("sealed key: the KDF must be argon2id with memory_kib, iterations, lanes and salt")
    if value["cipher"] != "aes-256-gcm":
        raise SealedKeyError("sealed key: the cipher must be aes-256-gcm")
    if not isinstance(value["owner"], str) or not is_fingerprint(value["fingerprint"]):
        raise SealedKeyError("sealed key: owner or fingerprint malformed")
    try:
        params = KdfParams(memory_kib=kdf["memory_kib"], iterations=kdf["iterations"], lanes=kdf["lanes"])
    except ValueError as error:
        raise SealedKeyError(f"sealed key: KDF parameters out of bounds ({error})") from None
    salt = _decode(kdf["salt"], "salt", SALT_BYTES)
    nonce = _decode(value["nonce"], "nonce", NONCE_BYTES)
    ciphertext = _decode(value["ciphertext"], "ciphertext", 32 + 16)
    header = {key: value[key] for key in _HEADER_KEYS}
    return header, params, salt, nonce, ciphertext


def sealed_params(blob: str) -> KdfParams:
    """The KDF parameters a blob was sealed with (to re-seal it with stronger ones after the next unseal)."""
    return _parse(blob)[1]


def unseal(blob: str, passphrase: str, *, owner_id: int | str) -> Ed25519PrivateKey:
    """Open the blob of user ``owner_id`` with ``passphrase``.

    Raises ``PassphraseError`` if the passphrase breaks the policy, ``SealedKeyError`` if the blob is malformed or
    is another user's, ``WrongPassphrase`` if the passphrase does not open it."""
    normalised = check_passphrase(passphrase)
    header, params, salt, nonce, ciphertext = _parse(blob)
    if header["owner"] != str(owner_id):
        raise SealedKeyError("sealed key: this key belongs to another user")
    try:
        raw = AESGCM(_derive(normalised, salt, params)).decrypt(nonce, ciphertext, canonical_bytes(header))
    except InvalidTag:
        raise WrongPassphrase("wrong signing passphrase") from None
    private = Ed25519PrivateKey.from_private_bytes(raw)
    if fingerprint(private) != header["fingerprint"]:  # cannot happen unless the AAD check is broken
        raise SealedKeyError("sealed key: the key inside is not the one named")
    return private
