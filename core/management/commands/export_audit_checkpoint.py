"""Sign the audit chain's head now and write the self-contained checkpoint, to be kept outside the database."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core import audit


class Command(BaseCommand):
    help = "Sign the current audit chain head and write the checkpoint JSON to stdout or --output."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--output", metavar="FILE", help="Write here instead of stdout (refuses to overwrite).")

    def handle(self, *args: Any, **options: Any) -> None:
        output = Path(options["output"]) if options["output"] else None
        if output is not None and output.exists():
            raise CommandError(f"{output} exists: a kept checkpoint is never overwritten; choose another name")
        try:
            # The command runs as the system: the signing is recorded in the chain with no actor.
            checkpoint = audit.sign_checkpoint(actor=None)
        except ValueError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        text = json.dumps(audit.export_checkpoint(checkpoint), indent=2, sort_keys=True) + "\n"
        if output is None:
            self.stdout.write(text, ending="")
            return
        with output.open("x", encoding="utf-8") as handle:
            handle.write(text)
        self.stderr.write(f"signed head #{checkpoint.seq} {checkpoint.head_hash}; written to {output}")
