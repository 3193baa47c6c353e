"""Verify the whole audit chain, and optionally exported checkpoints against it. Exit status 0 when all holds, 1
when not: usable from cron or CI. Read only: it can run against a replica."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core import audit
from core.management.commands.verify_audit_checkpoint import load_exported, load_trusted_keys


class Command(BaseCommand):
    help = "Verify the audit chain from the first row to the head; report the first broken row."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--checkpoint",
            action="append",
            default=[],
            metavar="FILE",
            help="An exported checkpoint (JSON) to verify against the chain as well. Repeatable.",
        )
        parser.add_argument(
            "--public-key",
            action="append",
            default=[],
            metavar="PEM_FILE",
            help="Trust only these public keys for checkpoints (default: the server's current and retired keys).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        exported = [(path, load_exported(path)) for path in options["checkpoint"]]
        trusted = load_trusted_keys(options["public_key"])
        report = audit.verify_chain()
        if not report.intact:
            raise CommandError(
                f"broken: row #{report.broken_seq} (id {report.broken_id}): {report.reason}; "
                f"{report.events_checked} events verified before it",
                returncode=1,
            )
        if report.head_seq is None:
            self.stdout.write("intact: 0 events (the audit log is empty)")
        else:
            self.stdout.write(f"intact: {report.events_checked} events, head #{report.head_seq} {report.head_hash}")
        failures = []
        for path, document in exported:
            ok, reason = audit.verify_checkpoint(document, trusted_keys=trusted, chain=report)
            if ok:
                self.stdout.write(f"checkpoint {path}: valid: {reason}")
            else:
                failures.append(f"checkpoint {path}: INVALID: {reason}")
        if failures:
            raise CommandError("\n".join(failures), returncode=1)
