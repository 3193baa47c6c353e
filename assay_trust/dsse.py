"""DSSE v1 envelopes (https://github.com/secure-systems-lab/dsse, ``envelope.md`` and ``protocol.md``).

Written here rather than taken from securesystemslib 1.6.0, whose ``dsse.Envelope`` was checked and does not fit:
its ``from_dict`` mutates the dict it is given and accepts unknown fields, several signatures and any key id, and
its ``Key``/``Signer`` classes bring their own key ids (a hash of their key dict) where ours is the fingerprint of
``keys.fingerprint``. What remains, the pre-authentication encoding and one Ed25519 verification, is a few lines
and is checked against the spec's test vector and an independent verifier in the tests.

What we accept (``parse_envelope``), stricter than DSSE itself:

- exactly the keys ``payload``, ``payloadType`` and ``signatures``; each signature exactly ``keyid`` and ``sig``;
- exactly one signature: an approval is one person's decision, and a second signature would leave it unclear
  whose decision it is;
- ``keyid`` required, in our fingerprint format (``sha256:<64 hex>``), naming the key that signed;
- base64 in the standard or the URL-safe alphabet, as DSSE allows, with or without padding, but canonical (no
  stray bits, no whitespace, one alphabet);
- ``payloadType`` at most 256 characters, the payload at most 64 KiB once decoded, ``sig`` exactly 64 bytes.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from assay_trust.errors import EnvelopeError, SignatureError
from assay_trust.keys import fingerprint, is_fingerprint

#: The payload type of an Assay release approval: bound into what is signed, so that the signature over an
#: approval can never be presented as a signature over anything else.
APPROVAL_PAYLOAD_TYPE = "application/vnd.assay.approval.v1+json"
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_PAYLOAD_TYPE_CHARS = 256
ED25519_SIGNATURE_BYTES = 64
_ENVELOPE_KEYS = {"payload", "payloadType", "signatures"}
_SIGNATURE_KEYS = {"keyid", "sig"}
_BASE64_STANDARD = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_BASE64_URLSAFE = re.compile(r"[A-Za-z0-9_-]*={0,2}")


@dataclass(frozen=True)
class Envelope:
    """A parsed DSSE envelope with its one signature: ``payload`` and ``signature`` are the decoded bytes."""

    payload_type: str
    payload: bytes
    keyid: str
    signature: bytes

    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, in standard base64 with padding."""
        return {
            "payload": b64encode(self.payload),
            "payloadType": self.payload_type,
            "signatures": [{"keyid": self.keyid, "sig": b64encode(self.signature)}],
        }


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, lengths in ASCII
    decimal bytes, the type in UTF-8. This, never the bare payload, is what is signed."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def b64encode(data: bytes) -> str:
    return base64.standard_b64encode(data).decode("ascii")


def b64decode(text: str, field: str, *, max_bytes: int) -> bytes:
    """Decode standard or URL-safe base64 (padding optional), refusing anything non-canonical or too large."""
    if len(text) > (max_bytes + 2) // 3 * 4:
        raise EnvelopeError(f"{field}: too large (more than {max_bytes} bytes)")
    if _BASE64_STANDARD.fullmatch(text):
        altchars = b"+/"
    elif _BASE64_URLSAFE.fullmatch(text):
        altchars = b"-_"
    else:
        raise EnvelopeError(f"{field}: not base64 (standard or URL-safe alphabet, no whitespace)")
    unpadded = text.rstrip("=")
    if text != unpadded and len(text) % 4:
        raise EnvelopeError(f"{field}: not base64 (wrong padding)")
    try:
        data = base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError(f"{field}: not base64") from None
    canonical = base64.b64encode(data, altchars=altchars).decode("ascii")
    if canonical.rstrip("=") != unpadded:
        raise EnvelopeError(f"{field}: not canonical base64 (stray bits in the last character)")
    return data


def parse_envelope(obj: object) -> Envelope:
    """A DSSE envelope from its JSON value (a dict), checked strictly (module docstring). Raises ``EnvelopeError``
    naming the field. Does not verify the signature: ``verify_envelope`` does."""
    if not isinstance(obj, dict):
        raise EnvelopeError("envelope: expected a JSON object with payload, payloadType and signatures")
    keys = set(obj)
    if keys != _ENVELOPE_KEYS:
        missing, extra = sorted(_ENVELOPE_KEYS - keys), sorted(str(key)[:40] for key in keys - _ENVELOPE_KEYS)
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unexpected {', '.join(extra)}"] if extra else []
        )
        raise EnvelopeError(f"envelope: {'; '.join(parts)}")
    payload_type, payload, signatures = obj["payloadType"], obj["payload"], obj["signatures"]
    if not isinstance(payload_type, str) or not payload_type:
        raise EnvelopeError("envelope.payloadType: expected a non-empty string")
    if len(payload_type) > MAX_PAYLOAD_TYPE_CHARS:
        raise EnvelopeError(f"envelope.payloadType: longer than {MAX_PAYLOAD_TYPE_CHARS} characters")
    if not isinstance(payload, str):
        raise EnvelopeError("envelope.payload: expected a base64 string")
    payload_bytes = b64decode(payload, "envelope.payload", max_bytes=MAX_PAYLOAD_BYTES)
    if not isinstance(signatures, list):
        raise EnvelopeError("envelope.signatures: expected a list")
    if len(signatures) != 1:
        raise EnvelopeError(f"envelope.signatures: expected exactly one signature, got {len(signatures)}")
    signature = signatures[0]
    if not isinstance(signature, dict) or set(signature) != _SIGNATURE_KEYS:
        raise EnvelopeError("envelope.signatures[0]: expected exactly the keys keyid and sig")
    keyid, sig = signature["keyid"], signature["sig"]
    if not is_fingerprint(keyid):
        raise EnvelopeError("envelope.signatures[0].keyid: expected a key fingerprint, sha256:<64 lower-case hex>")
    if not isinstance(sig, str):
        raise EnvelopeError("envelope.signatures[0].sig: expected a base64 string")
    sig_bytes = b64decode(sig, "envelope.signatures[0].sig", max_bytes=ED25519_SIGNATURE_BYTES)
    if len(sig_bytes) != ED25519_SIGNATURE_BYTES:
        raise EnvelopeError(
            f"envelope.signatures[0].sig: an Ed25519 signature is {ED25519_SIGNATURE_BYTES} bytes, not {len(sig_bytes)}"
        )
    return Envelope(payload_type=payload_type, payload=payload_bytes, keyid=keyid, signature=sig_bytes)


def sign_envelope(private_key: Ed25519PrivateKey, payload_type: str, payload: bytes) -> dict[str, Any]:
    """Sign ``payload`` as ``payload_type`` and return the envelope's JSON value; the key id is the key's
    fingerprint."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise EnvelopeError(f"payload: too large (more than {MAX_PAYLOAD_BYTES} bytes)")
    envelope = Envelope(
        payload_type=payload_type,
        payload=payload,
        keyid=fingerprint(private_key),
        signature=private_key.sign(pae(payload_type, payload)),
    )
    return envelope.to_dict()


def verify_envelope(
    envelope: Envelope | dict[str, Any],
    public_key: Ed25519PublicKey,
    *,
    payload_type: str = APPROVAL_PAYLOAD_TYPE,
) -> bytes:
    """The payload of ``envelope`` once its signature is verified with ``public_key`` over the PAE of
    ``payload_type`` (the type we expect, not only the one the envelope claims) and its payload.

    Raises ``EnvelopeError`` if it is malformed or of another payload type, ``SignatureError`` if its key id is not
    ``public_key``'s fingerprint or the signature does not verify.
    """
    parsed = envelope if isinstance(envelope, Envelope) else parse_envelope(envelope)
    if parsed.payload_type != payload_type:
        raise EnvelopeError(f"envelope.payloadType: expected {payload_type}")
    expected_keyid = fingerprint(public_key)
    if parsed.keyid != expected_keyid:
        raise SignatureError(f"signed by key {parsed.keyid}, not by {expected_keyid}")
    try:
        public_key.verify(parsed.signature, pae(payload_type, parsed.payload))
    except InvalidSignature:
        raise SignatureError(f"the signature does not verify with key {expected_keyid}") from None
    return parsed.payload
