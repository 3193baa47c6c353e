"""The serving demo, on top of ``seed_release_demo`` (the demo model serving in staging): what a new user needs to
score it and to try a canary.

- The application's service account ``credit-risk-scoring`` of the credit-risk team and an API token of it,
  written to ``DATA_DIR/demo/inference-token`` (mode 0600) for the README's curl; a new token is made only when
  that file is missing.
- A second version of the demo model (the same features and data, another train/test split), requested for staging
  and signed by the technical reviewer, not deployed: the README deploys it as a canary
  (``assay deploy canary RELEASE --percent 20``), promotes it and rolls it back. Its release id is written to
  ``DATA_DIR/demo/canary-release``.

Every write goes through the actions as a demo user. Idempotent. Refused in production, like the other demo
commands.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from core import actions as core_actions
from core.choices import BoardRole
from core.models import ServiceAccount, Team
from governance import actions as governance
from governance.choices import Decision
from governance.models import Environment, Release
from registry import actions as registry
from registry import demo
from registry.management.commands.seed_registry_demo import ADMIN, ENGINEER, MODEL, TEAM
from registry.models import ModelVersion
from serving.actions import do_set_inference_scope
from serving.management.commands.seed_release_demo import DEMO_SIGNING_PASSPHRASE

User = get_user_model()
SCORING_ACCOUNT = "credit-risk-scoring"
CHUNK = 1 << 20


def demo_folder() -> Path:
    return Path(settings.DATA_DIR) / "demo"


class Command(BaseCommand):
    help = (
        "Create the serving demo (dev only): the scoring service account's token in DATA_DIR/demo/inference-token "
        "and a second approved version of the demo model for a canary in staging. Run seed_release_demo first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--passphrase", default=DEMO_SIGNING_PASSPHRASE, help="The reviewers' signing passphrase.")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_serving_demo refuses to run with ASSAY_ENV=production: it writes demo data.")
        staging = Environment.objects.filter(slug="staging").first()
        first = ModelVersion.objects.filter(model__team__slug=TEAM, model__name=MODEL, number=1).first()
        if staging is None or first is None:
            raise CommandError("Run seed_demo, seed_registry_demo and seed_release_demo first.")
        folder = demo_folder()
        folder.mkdir(parents=True, exist_ok=True)
        token_file = folder / "inference-token"
        created = self._token(token_file)
        release, made = self._canary_release(first, staging, options["passphrase"])
        (folder / "canary-release").write_text(f"{release.pk}\n", encoding="utf-8")
        self.stdout.write(f"Serving demo: {created + made} new object(s).")
        self.stdout.write(f"  inference token of {SCORING_ACCOUNT}: {token_file}")
        self.stdout.write(
            f"  release ready for a canary in staging: {release.pk} (version {release.model_version.number})"
        )

    def _token(self, token_file: Path) -> int:
        if token_file.exists():
            return 0
        team = Team.objects.get(slug=TEAM)
        admin = User.objects.get(username=ADMIN)
        created = 0
        account = ServiceAccount.objects.filter(user__username=SCORING_ACCOUNT).select_related("user").first()
        with transaction.atomic():
            if account is None:
                account = core_actions.do_create_service_account(
                    team,
                    actor=admin,
                    username=SCORING_ACCOUNT,
                    description="The loan-servicing application: scores limit-increase requests.",
                )
                created += 1
            token, plaintext = core_actions.do_create_token(actor=admin, owner=account.user, name="inference (demo)")
            created += 1
            # Scoring in staging only, any model of the team, at a rate a demo never meets.
            do_set_inference_scope(
                token,
                actor=admin,
                environments=[Environment.objects.get(slug="staging")],
                models=[],
                requests_per_second=200,
                burst=400,
            )
        # Written readable by its owner only, and never echoed: a token in a terminal's scrollback is a leaked one.
        descriptor = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(plaintext + "\n")
        return created

    def _canary_release(self, first: ModelVersion, staging: Environment, passphrase: str) -> tuple[Release, int]:
        model = first.model
        engineer = User.objects.get(username=ENGINEER)
        created = 0
        second = ModelVersion.objects.filter(model=model, number=2).first()
        if second is None:
            trained = demo.train(demo.generate_applications(), seed=demo.SEED + 1)
            data = trained.onnx_bytes
            second = registry.do_register_model_version(
                model,
                actor=engineer,
                chunks=(data[start : start + CHUNK] for start in range(0, len(data), CHUNK)),
                filename=f"{MODEL}.onnx",
                training_params=trained.training_params,
                metrics=trained.metrics,
                dataset_versions=list(first.dataset_versions.values_list("pk", flat=True)),
                authors=[ENGINEER],
                description="Retrained on another train/test split: the canary candidate of the serving demo.",
            )
            created += 1
        release = Release.objects.filter(model_version=second, environment=staging).first()
        if release is None:
            with transaction.atomic():
                release = governance.do_request_release(
                    second,
                    actor=engineer,
                    environment=staging,
                    justification="Canary beside version 1 before it replaces it.",
                )
                governance.do_sign_release_web(
                    release,
                    actor=User.objects.get(username="theo-technical"),
                    board_role=BoardRole.TECHNICAL,
                    decision=Decision.APPROVE,
                    comment="Same contract as version 1; metrics within noise of it on the holdout.",
                    passphrase=passphrase,
                )
            created += 2
        return release, created
