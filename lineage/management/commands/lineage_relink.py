"""Link lineage nodes and run edges that are still unresolved to the registry objects registered since their
events arrived (lineage.actions.do_relink). Safe to run on a schedule: it links only what resolves."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core.models import Team
from lineage.actions.links import do_relink


class Command(BaseCommand):
    help = "Link unresolved lineage nodes and edges to registry objects registered since."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--team", metavar="SLUG", help="Only the namespaces of this team (and unclaimed ones).")

    def handle(self, *args: Any, **options: Any) -> None:
        team = None
        if options["team"]:
            team = Team.objects.filter(slug=options["team"]).first()
            if team is None:
                raise CommandError(f"no team {options['team']!r}")
        linked = do_relink(actor=None, team=team)
        self.stdout.write(f"linked {linked.datasets} dataset node(s) and {linked.edges} run edge(s)")
