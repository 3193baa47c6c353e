"""Verify an exported audit checkpoint: its signature, its signer, and that the chain still holds the signed head."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management.base import BaseCommand, CommandError

from core import audit


def load_exported(path: str) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"{path}: cannot be read: {exc}") from exc
    except ValueError as exc:
        raise CommandError(f"{path}: is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise CommandError(f"{path}: is not an exported checkpoint (expected a JSON object)")
    return document


def load_trusted_keys(paths: list[str]) -> dict[str, Ed25519PublicKey] | None:
    """The public keys named on the command line, by fingerprint; None (the server's trusted keys) when none."""
    if not paths:
        return None
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        try:
            found = audit.load_public_keys(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"{path}: cannot be read as an Ed25519 public key: {exc}") from exc
        if not found:
            raise CommandError(f"{path}: holds no PEM public key")
        keys.update({audit.key_fingerprint(key): key for key in found})
    return keys


class Command(BaseCommand):
    help = "Verify an exported audit checkpoint against the chain in the database."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", help="The exported checkpoint (JSON).")
        parser.add_argument(
            "--public-key",
            action="append",
            default=[],
            metavar="PEM_FILE",
            help="Trust only these public keys (default: the server's current and listed retired keys).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        document = load_exported(options["file"])
        ok, reason = audit.verify_checkpoint(document, trusted_keys=load_trusted_keys(options["public_key"]))
        if not ok:
            raise CommandError(f"INVALID: {reason}", returncode=1)
        self.stdout.write(f"valid: {reason}")
