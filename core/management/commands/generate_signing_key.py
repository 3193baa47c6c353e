"""Print a new Ed25519 private key (PKCS#8 PEM) for AUDIT_SIGNING_KEY."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management.base import BaseCommand

from core import audit


class Command(BaseCommand):
    help = (
        "Print a new Ed25519 private key (PKCS#8 PEM) for AUDIT_SIGNING_KEY on stdout; its public key and "
        "fingerprint go to stderr, for auditors to pin."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        self.stdout.write(pem, ending="")
        public = key.public_key()
        self.stderr.write(f"fingerprint: {audit.key_fingerprint(public)}\n{audit.public_key_pem(public)}", ending="")
