"""The release path's demo, on top of ``seed_demo``'s people and ``seed_registry_demo``'s model: the staging and
production environments, the organisation's model-risk board with the five demo reviewers, release policies for
every risk tier, a web-signing key per reviewer, the demo model deployed to staging after the technical reviewer
signed, and a production release that still waits for the legal and risk reviewers (their review queue).

Every write goes through the actions as a demo user, so the audit log reads like real use. Idempotent: each step
looks for what it would create and skips it when present. Refused in production, like the other demo commands.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from compliance.demo_dpia import seed_credit_dpia
from core.choices import BoardRole
from core.management.commands.seed_demo import ADMIN
from governance import actions
from governance.choices import Decision
from governance.models import BoardMember, Environment, Release, ReleasePolicy, ReviewBoard, SigningKey
from registry.choices import RiskTier
from registry.management.commands.seed_registry_demo import DATASET, ENGINEER, MODEL, TEAM, USE_CASE
from registry.models import ModelVersion
from serving.actions import do_deploy

User = get_user_model()

DEMO_SIGNING_PASSPHRASE = "assay demo signing passphrase"  # noqa: S105 (demo only; printed for the reader)
BOARD = "model-risk-board"
REVIEWERS = {
    "lena-legal": BoardRole.LEGAL,
    "colin-compliance": BoardRole.COMPLIANCE,
    "rosa-risk": BoardRole.RISK,
    "pia-privacy": BoardRole.PRIVACY,
    "theo-technical": BoardRole.TECHNICAL,
}
ENVIRONMENTS = (
    ("staging", "Staging", "Shadow traffic and internal users; no customer decision depends on it.", 10),
    ("production", "Production", "Customer decisions.", 20),
)
# (environment, tier) -> (required roles, minimum distinct approvers, days an approval counts)
POLICIES: dict[tuple[str, str], tuple[dict[str, int], int, int]] = {
    ("staging", RiskTier.MINIMAL): ({BoardRole.TECHNICAL: 1}, 1, 90),
    ("staging", RiskTier.LIMITED): ({BoardRole.TECHNICAL: 1}, 1, 90),
    ("staging", RiskTier.HIGH): ({BoardRole.TECHNICAL: 1}, 1, 30),
    ("production", RiskTier.MINIMAL): ({BoardRole.TECHNICAL: 1}, 1, 90),
    ("production", RiskTier.LIMITED): ({BoardRole.TECHNICAL: 1, BoardRole.COMPLIANCE: 1}, 2, 90),
    ("production", RiskTier.HIGH): ({BoardRole.LEGAL: 1, BoardRole.RISK: 1, BoardRole.TECHNICAL: 1}, 3, 30),
}
# Gate checks a policy requires beyond those that always run: production decisions on personal data need the use
# case's approved DPIA.
REQUIRED_CHECKS: dict[tuple[str, str], list[str]] = {("production", RiskTier.HIGH): ["dpia_approved"]}


class Command(BaseCommand):
    help = (
        "Create the release path's demo (dev only): environments, a review board, policies, web-signing keys, a "
        "release deployed to staging and one waiting for review. Run seed_demo and seed_registry_demo first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--passphrase", default=DEMO_SIGNING_PASSPHRASE, help="Signing passphrase of the reviewers' web keys."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_release_demo refuses to run with ASSAY_ENV=production: it writes demo data.")
        version = ModelVersion.objects.filter(model__team__slug=TEAM, model__name=MODEL).order_by("-number").first()
        if version is None:
            raise CommandError("Run seed_demo and seed_registry_demo first: the demo model is missing.")
        passphrase: str = options["passphrase"]
        created = self._seed(version, passphrase)
        summary = f"Governance demo: {created} new object(s)." if created else "Governance demo already present."
        self.stdout.write(summary)
        self.stdout.write(f'Reviewers sign in the browser with the signing passphrase "{passphrase}".')

    def _seed(self, version: ModelVersion, passphrase: str) -> int:
        created = 0
        admin = User.objects.get(username=ADMIN)
        environments: dict[str, Environment] = {}
        for slug, name, description, rank in ENVIRONMENTS:
            environment = Environment.objects.filter(slug=slug).first()
            if environment is None:
                environment = actions.do_create_environment(
                    actor=admin, slug=slug, name=name, description=description, rank=rank
                )
                created += 1
            environments[slug] = environment
        board = ReviewBoard.objects.filter(team__isnull=True, slug=BOARD).first()
        if board is None:
            board = actions.do_create_board(
                actor=admin,
                team=None,
                slug=BOARD,
                name="Model risk board",
                description="Judges every release of every team: legal, compliance, risk, privacy and technical.",
            )
            created += 1
        for username, board_role in REVIEWERS.items():
            reviewer = User.objects.get(username=username)
            if not BoardMember.objects.filter(board=board, user=reviewer, board_role=board_role).exists():
                actions.do_add_board_member(board, actor=admin, user=reviewer, board_role=board_role)
                created += 1
            if not SigningKey.objects.filter(owner=reviewer, kind="server", revoked_at__isnull=True).exists():
                actions.do_create_web_signing_key(actor=reviewer, passphrase=passphrase, name="web signing (demo)")
                created += 1
        for (environment_slug, tier), (roles, min_total, days) in POLICIES.items():
            environment = environments[environment_slug]
            if ReleasePolicy.objects.filter(team__isnull=True, environment=environment, risk_tier=tier).exists():
                continue
            actions.do_create_policy(
                actor=admin,
                team=None,
                name=f"{environment.name}, {RiskTier(tier).label.lower()}",
                environment=environment,
                risk_tier=tier,
                board=board,
                required_roles={str(role): count for role, count in roles.items()},
                min_total=min_total,
                approval_valid_days=days,
                required_checks=REQUIRED_CHECKS.get((environment_slug, tier), []),
                note="Demo policy.",
            )
            created += 1
        # The DPIA before the releases: their manifests carry it.
        created += seed_credit_dpia(
            team_slug=TEAM, use_case_name=USE_CASE, dataset_name=DATASET, model_name=MODEL, users=User.objects
        )
        created += self._releases(version, environments, passphrase)
        return created

    def _releases(self, version: ModelVersion, environments: dict[str, Environment], passphrase: str) -> int:
        created = 0
        engineer = User.objects.get(username=ENGINEER)
        theo = User.objects.get(username="theo-technical")
        for slug, justification in (
            ("staging", "Shadow-score this quarter's applications before the production review."),
            ("production", "Replace the rules-based limit policy for customers with 12+ months of history."),
        ):
            environment = environments[slug]
            if Release.objects.filter(model_version=version, environment=environment).exists():
                continue
            # One transaction per release, so that an interrupted run leaves no release without its signature.
            with transaction.atomic():
                created += self._release(version, environment, engineer, theo, justification, passphrase)
        return created

    def _release(
        self,
        version: ModelVersion,
        environment: Environment,
        engineer: Any,
        theo: Any,
        justification: str,
        passphrase: str,
    ) -> int:
        release = actions.do_request_release(
            version, actor=engineer, environment=environment, justification=justification
        )
        actions.do_sign_release_web(
            release,
            actor=theo,
            board_role=BoardRole.TECHNICAL,
            decision=Decision.APPROVE,
            comment="ONNX contract matches the scoring service; metrics reproduced on the holdout.",
            passphrase=passphrase,
        )
        if environment.slug != "staging":
            return 2
        do_deploy(release, actor=engineer, idempotency_key="demo-staging-1")
        return 3
