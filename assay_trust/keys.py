"""Ed25519 keys: parsing public keys strictly, fingerprints, private-key files, and finding private key material
where it must not be.

Public keys are accepted in two forms, and only for Ed25519:

- PEM SubjectPublicKeyInfo (``-----BEGIN PUBLIC KEY-----``, what ``openssl pkey -pubout`` and
  ``assay key generate`` write);
- an OpenSSH public key line (``ssh-ed25519 AAAA... comment``, what ``ssh-keygen -t ed25519`` writes to ``.pub``).

Every refusal is a ``KeyFormatError`` whose message says what is wrong (malformed, wrong length, RSA/EC/X25519...)
and never repeats the key material it was given.

Fingerprint format (the key id of a DSSE signature, stored by the server, shown in the UI and the bundle):
``"sha256:" + lower-case hex SHA-256 of the raw 32-byte Ed25519 public key``. It depends only on the key, not on
the form it was given in: the PEM and the OpenSSH line of one key have the same fingerprint. (It is not OpenSSH's
``SHA256:base64`` fingerprint, which hashes the SSH wire encoding.)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from assay_trust.edwards import decode_point, has_small_order
from assay_trust.errors import KeyFormatError

#: The most text ``load_public_key`` reads: an Ed25519 key is about 120 characters in either form.
MAX_PUBLIC_KEY_CHARS = 16 * 1024
FINGERPRINT_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")

# DER of SubjectPublicKeyInfo { AlgorithmIdentifier { id-Ed25519 }, BIT STRING (0 unused bits) <32 bytes> }
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
_OID_NAMES = {
    bytes.fromhex("2b6570"): "Ed25519",
    bytes.fromhex("2b656e"): "X25519",
    bytes.fromhex("2b6571"): "Ed448",
    bytes.fromhex("2b656f"): "X448",
    bytes.fromhex("2a864886f70d010101"): "RSA",
    bytes.fromhex("2a864886f70d01010a"): "RSA-PSS",
    bytes.fromhex("2a8648ce3d0201"): "EC",
    bytes.fromhex("2a8648ce380401"): "DSA",
}
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END ([A-Z0-9 ]+)-----", re.DOTALL)


def _b64decode_strict(text: str) -> bytes:
    """Standard base64 with padding, no other characters (whitespace removed first)."""
    compact = "".join(text.split())
    return base64.b64decode(compact, validate=True)


def _read_tlv(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """One DER tag-length-value at ``pos``: (tag, value, position after it). Raises ValueError when truncated."""
    if pos + 2 > len(data):
        raise ValueError("truncated")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated")
    return tag, data[pos : pos + length], pos + length


def _spki_algorithm_and_key(der: bytes) -> tuple[bytes, bytes]:
    """(algorithm OID bytes, subjectPublicKey bits) of a SubjectPublicKeyInfo, or ValueError."""
    tag, body, end = _read_tlv(der, 0)
    if tag != 0x30 or end != len(der):
        raise ValueError("not a SEQUENCE")
    tag, algorithm, pos = _read_tlv(body, 0)
    if tag != 0x30:
        raise ValueError("no AlgorithmIdentifier")
    tag, oid, _ = _read_tlv(algorithm, 0)
    if tag != 0x06:
        raise ValueError("no OID")
    tag, bits, pos = _read_tlv(body, pos)
    if tag != 0x03 or pos != len(body) or not bits or bits[0] != 0:
        raise ValueError("no BIT STRING")
    return oid, bits[1:]


def _checked_raw(raw: bytes, form: str) -> Ed25519PublicKey:
    if len(raw) != 32:
        raise KeyFormatError(f"an Ed25519 public key is 32 bytes; this {form} holds {len(raw)}")
    point = decode_point(raw)
    if point is None:
        raise KeyFormatError(f"this {form} is not a valid Ed25519 public key (not a point of the curve)")
    if has_small_order(point):
        raise KeyFormatError(f"this {form} is a weak Ed25519 public key (a point of small order), refused")
    return Ed25519PublicKey.from_public_bytes(raw)


def _from_pem(text: str) -> Ed25519PublicKey:
    blocks = list(_PEM_BLOCK.finditer(text))
    if len(blocks) != 1 or text[: blocks[0].start()].strip() or text[blocks[0].end() :].strip():
        raise KeyFormatError("malformed PEM: expected exactly one -----BEGIN PUBLIC KEY----- block and nothing else")
    label, body, end_label = blocks[0].groups()
    if label != end_label:
        raise KeyFormatError("malformed PEM: the BEGIN and END lines do not match")
    if label == "CERTIFICATE":
        raise KeyFormatError("this is a certificate, not a public key: give the Ed25519 public key itself")
    if label == "RSA PUBLIC KEY":
        raise KeyFormatError("not an Ed25519 key: this is an RSA public key")
    if label != "PUBLIC KEY":
        raise KeyFormatError(f"malformed PEM: a {label} block, expected PUBLIC KEY")
    try:
        der = _b64decode_strict(body)
    except (binascii.Error, ValueError):
        raise KeyFormatError("malformed PEM: the body is not base64") from None
    if der.startswith(_ED25519_SPKI_PREFIX) and len(der) == len(_ED25519_SPKI_PREFIX) + 32:
        return _checked_raw(der[len(_ED25519_SPKI_PREFIX) :], "PEM key")
    try:
        oid, bits = _spki_algorithm_and_key(der)
    except ValueError:
        raise KeyFormatError("malformed PEM: the body is not a DER SubjectPublicKeyInfo") from None
    name = _OID_NAMES.get(oid)
    if name == "Ed25519":
        return _checked_raw(bits, "PEM key")
    raise KeyFormatError(
        f"not an Ed25519 key: this is {'an' if name in {'RSA', 'EC', 'X25519', 'X448', 'Ed448'} else 'a'} "
        f"{name or 'unknown algorithm'} public key"
    )


def _ssh_string(blob: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(blob):
        raise ValueError("truncated")
    length = int.from_bytes(blob[pos : pos + 4], "big")
    if pos + 4 + length > len(blob):
        raise ValueError("truncated")
    return blob[pos + 4 : pos + 4 + length], pos + 4 + length


def _from_openssh(text: str) -> Ed25519PublicKey:
    parts = text.split(None, 2)
    key_type = parts[0]
    if key_type != "ssh-ed25519":
        if re.fullmatch(r"(ssh|ecdsa|sk)-[a-z0-9@.-]+", key_type):
            raise KeyFormatError(f"not an Ed25519 key: this is an OpenSSH {key_type} key (expected ssh-ed25519)")
        raise KeyFormatError("malformed OpenSSH public key: the line must start with ssh-ed25519")
    if len(parts) < 2:
        raise KeyFormatError("malformed OpenSSH public key: the base64 part is missing")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError("malformed OpenSSH public key: the key part is not base64") from None
    try:
        inner_type, pos = _ssh_string(blob, 0)
        raw, pos = _ssh_string(blob, pos)
    except ValueError:
        raise KeyFormatError("malformed OpenSSH public key: the encoded key is truncated") from None
    if inner_type != b"ssh-ed25519":
        raise KeyFormatError("malformed OpenSSH public key: the encoded key is not ssh-ed25519 (the prefix lies)")
    if pos != len(blob):
        raise KeyFormatError("malformed OpenSSH public key: extra bytes after the key")
    return _checked_raw(raw, "OpenSSH key")


def load_public_key(value: str | bytes) -> Ed25519PublicKey:
    """Parse an Ed25519 public key given as PEM SubjectPublicKeyInfo or as an OpenSSH ``ssh-ed25519`` line.

    Raises ``KeyFormatError`` for anything else: empty or oversized input, private keys, certificates, RSA, EC,
    DSA, X25519, Ed448 keys, malformed PEM or base64, a key that is not 32 bytes, not a curve point, or weak.
    """
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            raise KeyFormatError("a public key is ASCII text (PEM or an OpenSSH line)") from None
    if not isinstance(value, str):
        raise KeyFormatError("a public key is text (PEM or an OpenSSH line)")
    if len(value) > MAX_PUBLIC_KEY_CHARS:
        raise KeyFormatError(f"too long for an Ed25519 public key (more than {MAX_PUBLIC_KEY_CHARS} characters)")
    text = value.strip()
    if not text:
        raise KeyFormatError("empty: give an Ed25519 public key (PEM or an OpenSSH ssh-ed25519 line)")
    if _PRIVATE_PEM.search(text) or "openssh-key-v1" in text or _OPENSSH_PRIVATE_MAGIC in text:
        raise KeyFormatError("this is a private key: register the public key only, and keep the private key secret")
    if text.startswith("---- BEGIN SSH2"):
        raise KeyFormatError("RFC 4716 (SSH2) key files are not accepted: give the one-line OpenSSH form")
    if text.startswith("-----BEGIN"):
        return _from_pem(text)
    if "\n" in text:
        raise KeyFormatError("malformed OpenSSH public key: expected a single line")
    return _from_openssh(text)


def raw_public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_pem(key: Ed25519PublicKey) -> str:
    """PEM SubjectPublicKeyInfo text, ending in a newline."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def public_key_openssh(key: Ed25519PublicKey) -> str:
    """The ``ssh-ed25519 AAAA...`` line (without a comment)."""
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def fingerprint(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """``sha256:<hex>``: SHA-256 of the raw 32-byte public key (of the private key's public half, if given one)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return "sha256:" + hashlib.sha256(raw_public_bytes(public)).hexdigest()


def is_fingerprint(value: object) -> bool:
    return isinstance(value, str) and FINGERPRINT_PATTERN.fullmatch(value) is not None


# --- Private keys (the CLI's key file) ----------------------------------------------------------------------------


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted with ``passphrase`` when one is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def load_private_key(data: bytes, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PKCS#8 PEM file or an OpenSSH private key file (``ssh-keygen -t ed25519``),
    encrypted or not. Raises ``KeyFormatError``, naming the problem (encrypted, wrong passphrase, not Ed25519)."""
    try:
        if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
            key: Any = serialization.load_ssh_private_key(data, passphrase)
        else:
            key = serialization.load_pem_private_key(data, passphrase)
    except TypeError as error:
        if passphrase is None:
            raise KeyFormatError("the private key file is encrypted: a passphrase is needed") from None
        raise KeyFormatError(f"the private key file is not encrypted, but a passphrase was given ({error})") from None
    except (ValueError, UnsupportedAlgorithm):
        if passphrase is not None:
            raise KeyFormatError("cannot read the private key file: wrong passphrase, or not a key file") from None
        raise KeyFormatError("cannot read the private key file: not a PEM or OpenSSH private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFormatError(f"not an Ed25519 private key (a {type(key).__name__.removeprefix('_')})")
    return key


# --- Finding private key material ---------------------------------------------------------------------------------

_PRIVATE_PEM = re.compile(r"-{3,}\s*BEGIN [A-Z0-9 ]*PRIVATE KEY", re.IGNORECASE)
_PUTTY = re.compile(r"PuTTY-User-Key-File-\d+:", re.IGNORECASE)
_OPENSSH_PRIVATE_MAGIC = "b3BlbnNzaC1rZXktdjE"  # base64 of b"openssh-key-v1" (the private key file's magic)
_PRIVATE_FIELD = re.compile(r"private[_ -]?key|secret[_ -]?key|privkey", re.IGNORECASE)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{43,}={0,2}")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{96,}")  # 48 bytes and more: an Ed25519 PKCS#8 DER is 48, seed+public 64
_MAX_SCAN_CHARS = 4 * 1024 * 1024
_MAX_DEPTH = 64
# DER prefixes of private key structures: PKCS#8 PrivateKeyInfo / OneAsymmetricKey (version 0 or 1, then an
# AlgorithmIdentifier), SEC1 ECPrivateKey (version 1, then an OCTET STRING), PKCS#1 RSAPrivateKey (version 0, then
# the modulus) and PKCS#8 EncryptedPrivateKeyInfo (PBES2 or a PKCS#12 PBE scheme).
_PBE_OIDS = (bytes.fromhex("06092a864886f70d01050d"), bytes.fromhex("060a2a864886f70d010c01"))


def _looks_like_private_der(data: bytes) -> bool:
    try:
        tag, body, end = _read_tlv(data, 0)
    except ValueError:
        return False
    if tag != 0x30 or end != len(data) or len(body) < 8:
        return False
    try:
        first_tag, first, pos = _read_tlv(body, 0)
        second_tag, _, _ = _read_tlv(body, pos)
    except ValueError:
        return False
    if first_tag == 0x02 and first in (b"\x00", b"\x01") and second_tag in (0x30, 0x04):
        return True  # PKCS#8 (0x30) or SEC1 (0x04)
    if first_tag == 0x02 and first == b"\x00" and second_tag == 0x02 and len(body) > 64:
        return True  # PKCS#1 RSA: version, modulus, exponent, ...
    # EncryptedPrivateKeyInfo
    return first_tag == 0x30 and any(first.startswith(oid) for oid in _PBE_OIDS)


def _is_seed_and_public(data: bytes) -> bool:
    """64 bytes that are an Ed25519 seed followed by its own public key (the NaCl/libsodium secret key form)."""
    if len(data) != 64:
        return False
    try:
        derived = raw_public_bytes(Ed25519PrivateKey.from_private_bytes(data[:32]).public_key())
    except ValueError:
        return False
    return derived == data[32:]


def _decodings(text: str) -> Iterator[bytes]:
    """Byte strings that ``text`` or its base64/hex-looking runs may encode (standard or URL-safe base64, hex)."""
    candidates = [text] if len(text) <= _MAX_SCAN_CHARS else []
    compact = "".join(text.split())
    if compact != text and re.fullmatch(r"[A-Za-z0-9+/=_-]+", compact):
        candidates.append(compact)  # a PEM body pasted without its header, wrapped over lines
    candidates += _BASE64_RUN.findall(text)
    for candidate in candidates:
        stripped = candidate.rstrip("=")
        if len(stripped) < 43 or not re.fullmatch(r"[A-Za-z0-9+/_-]+", stripped):
            continue
        alphabet = "-_" if ("-" in stripped or "_" in stripped) else "+/"
        try:
            yield base64.b64decode(stripped + "=" * (-len(stripped) % 4), altchars=alphabet.encode(), validate=True)
        except (binascii.Error, ValueError):
            continue
    for run in _HEX_RUN.findall(text):
        yield bytes.fromhex(run[: len(run) // 2 * 2])


def _string_has_private_key(text: str, depth: int) -> bool:
    if _PRIVATE_PEM.search(text) or _PUTTY.search(text) or _OPENSSH_PRIVATE_MAGIC in text:
        return True
    if "openssh-key-v1" in text:
        return True
    stripped = text.strip()
    if stripped[:1] in "{[" and len(stripped) <= _MAX_SCAN_CHARS:
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        except RecursionError:
            return True  # nested deeper than the parser goes: deeper than any honest request, as in _contains
        if isinstance(parsed, dict | list) and _contains(parsed, depth + 1):
            return True
    for data in _decodings(text):
        if _looks_like_private_der(data) or _is_seed_and_public(data):
            return True
        if depth < 4 and len(data) >= 16:
            # The base64 of text (a DSSE payload, say) is searched as text too: a key pasted into a signed comment.
            try:
                inner = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if (inner.isprintable() or "\n" in inner) and _string_has_private_key(inner, depth + 1):
                return True
    return False


def _is_private_jwk(value: dict[Any, Any]) -> bool:
    if "kty" not in value:
        return False
    return any(name in value for name in ("d", "p", "q", "dp", "dq", "qi", "k", "priv"))


def _contains(value: object, depth: int) -> bool:
    if depth > _MAX_DEPTH:
        return True  # deeper than any honest request: treat as suspicious rather than skip it unread
    if isinstance(value, str):
        return _string_has_private_key(value, depth)
    if isinstance(value, bytes | bytearray):
        return _string_has_private_key(bytes(value).decode("latin-1"), depth)
    if isinstance(value, dict):
        if _is_private_jwk(value):
            return True
        for key, item in value.items():
            if isinstance(key, str) and _PRIVATE_FIELD.search(key) and isinstance(item, str) and item.strip():
                return True
            if _contains(key, depth + 1) or _contains(item, depth + 1):
                return True
        return False
    if isinstance(value, list | tuple):
        return any(_contains(item, depth + 1) for item in value)
    return False


def contains_private_key(value: object) -> bool:
    """Whether ``value`` (a request body: dicts, lists, strings, bytes) holds private key material anywhere, in keys
    or values, at any depth. The server refuses such a request and does not log it.

    Found: PEM blocks whose label ends in PRIVATE KEY (PKCS#8, encrypted PKCS#8, RSA, EC, DSA, OpenSSH, PGP), the
    OpenSSH private key magic, PuTTY key files; base64 (standard or URL-safe) or hex DER of PKCS#8, encrypted PKCS#8,
    SEC1 and PKCS#1 private keys; JWKs with private members (``d``, RSA's primes, ``k`` of a symmetric key);
    64-byte Ed25519 secret keys (seed followed by its public key) in hex or base64; fields named like a private key
    (``private_key``, ``secretKey``...) holding non-empty text; and any of these inside a JSON text or a
    base64-encoded text (a DSSE payload) found in a string.

    Not found, because it cannot be told from a digest: a bare 32-byte Ed25519 seed in hex or base64. A request
    nested deeper than 64 levels counts as containing one (it is refused unread).
    """
    return _contains(value, 0)
