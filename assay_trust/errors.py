"""The errors the trust primitives raise. All are ``ValueError``\\ s, so a caller that maps bad input to a 400 can
catch one base class; the message names what is wrong and never contains key material."""

from __future__ import annotations


class TrustError(ValueError):
    """Base class of every refusal in ``assay_trust``."""


class KeyFormatError(TrustError):
    """A public or private key that cannot be used: malformed, the wrong length, or not Ed25519."""


class EnvelopeError(TrustError):
    """A DSSE envelope that is malformed: wrong keys or types, bad base64, too large, not exactly one signature."""


class SignatureError(TrustError):
    """A well-formed envelope whose signature does not verify with the given key (or names another key)."""


class StatementError(TrustError):
    """A payload that is not a valid, canonical approval statement. ``path`` names the statement's field at fault
    (``predicate.comment``) when the error is about one, so that callers need not read it out of the message."""

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class BundleFormatError(TrustError):
    """A release bundle whose shape is not bundle format v1: it cannot be verified at all."""
