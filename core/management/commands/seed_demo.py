"""Demo data for a first look: two teams, a person in every role, a service account and a signed checkpoint.

Idempotent: what exists already is left as it is, so running it twice neither fails nor duplicates. Refused in
production, where a known password would be a hole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from core import actions, audit
from core.choices import BoardRole, Role
from core.models import AuditCheckpoint, GroupMapping, Membership, ServiceAccount, Team

User = get_user_model()

DEMO_PASSWORD = "assay-demo-password"  # noqa: S105 (printed to the user on purpose; development only)
ADMIN = "admin"
SERVICE_ACCOUNT = "credit-risk-ci"

TEAMS = {
    "credit-risk": ("Credit risk", "Scorecards and probability-of-default models for consumer lending."),
    "fraud": ("Fraud", "Card and account-takeover fraud detection."),
}


DEMO_GROUP_MAPPINGS = (
    ("ml-credit-risk", "credit-risk", Role.ENGINEER),
    ("ml-fraud", "fraud", Role.ENGINEER),
    ("compliance-office", "credit-risk", Role.COMPLIANCE_OFFICER),
    ("compliance-office", "fraud", Role.COMPLIANCE_OFFICER),
)


@dataclass(frozen=True)
class Persona:
    username: str
    first_name: str
    # (team slug, role, board role) for each membership
    memberships: tuple[tuple[str, str, str], ...]
    summary: str


PERSONAS = (
    Persona("ada-admin", "Ada", (("credit-risk", Role.ADMIN, ""),), "team admin of credit-risk"),
    Persona("erin-engineer", "Erin", (("credit-risk", Role.ENGINEER, ""),), "ML engineer in credit-risk"),
    Persona("felix-engineer", "Felix", (("fraud", Role.ENGINEER, ""),), "ML engineer in fraud"),
    Persona(
        "carol-compliance",
        "Carol",
        (("credit-risk", Role.COMPLIANCE_OFFICER, ""), ("fraud", Role.COMPLIANCE_OFFICER, "")),
        "compliance officer of both teams",
    ),
    Persona(
        "dave-auditor",
        "Dave",
        (("credit-risk", Role.AUDITOR, ""), ("fraud", Role.AUDITOR, "")),
        "auditor of both teams (read only)",
    ),
    *(
        Persona(
            f"{name}-{board_role}",
            name.capitalize(),
            (("credit-risk", Role.REVIEWER, board_role), ("fraud", Role.REVIEWER, board_role)),
            f"{board_role} reviewer on both teams' boards",
        )
        for name, board_role in (
            ("lena", BoardRole.LEGAL),
            ("colin", BoardRole.COMPLIANCE),
            ("rosa", BoardRole.RISK),
            ("pia", BoardRole.PRIVACY),
            ("theo", BoardRole.TECHNICAL),
        )
    ),
)


class Command(BaseCommand):
    help = "Create demo teams, users in every role, a service account and a signed audit checkpoint (dev only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", default=DEMO_PASSWORD, help="Password for the demo users.")
        parser.add_argument("--quiet-logins", action="store_true", help="Do not print the table of demo logins.")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_demo refuses to run with ASSAY_ENV=production: demo users share a known password.")
        with transaction.atomic():
            created, token = self._seed(options["password"])
        self.stdout.write(f"Demo data: {created} new object(s)." if created else "Demo data already present.")
        if token:
            self.stdout.write(
                self.style.WARNING(f"API token of the service account {SERVICE_ACCOUNT} (shown only once):\n  {token}")
            )
        if not options["quiet_logins"]:
            self._print_logins(options["password"])

    def _user(self, username: str, password: str, **extra: Any) -> tuple[Any, bool]:
        existing = User.objects.filter(username=username).first()
        if existing is not None:
            return existing, False
        superuser = extra.pop("superuser", False)
        # The first superuser bootstraps itself (actor None); the platform admin creates everyone else.
        actor = None if superuser else User.objects.get(username=ADMIN)
        user = actions.do_create_user(
            actor=actor,
            username=username,
            password=password,
            email=f"{username}@assay.example",
            is_superuser=superuser,
            **extra,
        )
        return user, True

    def _seed(self, password: str) -> tuple[int, str | None]:
        created = 0
        admin, new = self._user(ADMIN, password, superuser=True, first_name="Platform admin")
        created += new
        teams: dict[str, Team] = {}
        for slug, (name, description) in TEAMS.items():
            team = Team.objects.filter(slug=slug).first()
            if team is None:
                team = actions.do_create_team(actor=admin, slug=slug, name=name, description=description)
                created += 1
            teams[slug] = team
        for persona in PERSONAS:
            user, new = self._user(persona.username, password, first_name=persona.first_name)
            created += new
            for slug, role, board_role in persona.memberships:
                held = Membership.objects.filter(team=teams[slug], user=user, role=role, board_role=board_role)
                if not held.exists():
                    actions.do_grant_membership(teams[slug], actor=admin, user=user, role=role, board_role=board_role)
                    created += 1
        token = None
        if not ServiceAccount.objects.filter(user__username=SERVICE_ACCOUNT).exists():
            team_admin = User.objects.get(username="ada-admin")
            account = actions.do_create_service_account(
                teams["credit-risk"],
                actor=team_admin,
                username=SERVICE_ACCOUNT,
                description="The credit-risk team's CI pipeline.",
            )
            _, token = actions.do_create_token(actor=team_admin, owner=account.user, name="ci", ttl_days=30)
            created += 2
        # What an identity provider's groups would grant at sign-in (docs/sso.md): shown on the group mappings page,
        # used once OIDC_ISSUER names a provider.
        for group, slug, role in DEMO_GROUP_MAPPINGS:
            if not GroupMapping.objects.filter(idp_group=group, team=teams[slug], role=role).exists():
                actions.do_create_group_mapping(actor=admin, idp_group=group, team=teams[slug], role=role)
                created += 1
        if not AuditCheckpoint.objects.exists():
            audit.sign_checkpoint(actor=admin)
            created += 1
        return created, token

    def _print_logins(self, password: str) -> None:
        rows = [(ADMIN, "platform administrator (superuser)")] + [(p.username, p.summary) for p in PERSONAS]
        width = max(len(name) for name, _ in rows)
        self.stdout.write(f"\nDemo logins (password for all: {password}):")
        for name, summary in rows:
            self.stdout.write(f"  {name.ljust(width)}  {summary}")
        self.stdout.write(f"  {SERVICE_ACCOUNT.ljust(width)}  service account of credit-risk (API token only)\n")
