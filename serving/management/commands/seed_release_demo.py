"""The release path's demo, on top of ``seed_demo``'s people and ``seed_registry_demo``'s model: the staging and
production environments, the organisation's model-risk board with the five demo reviewers, release policies for
every risk tier, a web-signing key per reviewer, the demo model deployed to staging after the technical reviewer
signed, and a production release that still waits for the legal and risk reviewers (their review queue).

Production takes only data resident in eu-west-1 and its policies require the ``lineage_complete`` gate check, so
the demo also reports the model's training run as an external pipeline would (OpenLineage events through
``lineage.actions.do_ingest_events``, as the team's service account): START and COMPLETE of the run that read the
loan-applications version the model was trained on and wrote the model's ``sha256:`` node.

Every write goes through the actions as a demo user, so the audit log reads like real use. Idempotent: each step
looks for what it would create and skips it when present. Refused in production, like the other demo commands.
"""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from compliance.demo_dpia import seed_credit_dpia
from core.choices import BoardRole
from core.management.commands.seed_demo import ADMIN, SERVICE_ACCOUNT
from core.models import ServiceAccount
from governance import actions
from governance.choices import Decision
from governance.models import BoardMember, Environment, Release, ReleasePolicy, ReviewBoard, SigningKey
from lineage.actions import REFUSED, STORED, do_ingest_events
from lineage.naming import dataset_version_name, model_version_name
from registry import demo
from registry.choices import RiskTier
from registry.management.commands.seed_registry_demo import DATASET, ENGINEER, MODEL, TEAM, USE_CASE
from registry.models import ModelVersion
from serving.actions import do_deploy

User = get_user_model()


def _facet(**fields: Any) -> dict[str, Any]:
    return {"_producer": LINEAGE_PRODUCER, "_schemaURL": FACET_SCHEMA, **fields}


def training_events(version: ModelVersion) -> list[dict[str, Any]]:
    """START and COMPLETE of the run that trained ``version``: it read the dataset versions the model version names
    (by location, with the content fingerprint as ``datasetVersion``) and wrote the model's node (lineage.naming)."""
    run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"assay-demo:train:{version.artifact_sha256}"))
    model_node = model_version_name(version)
    inputs = []
    for dataset_version in version.dataset_versions.select_related("dataset").order_by("pk"):
        named = dataset_version_name(dataset_version)
        columns = dataset_version.schema.get("columns", []) if isinstance(dataset_version.schema, dict) else []
        inputs.append(
            {
                "namespace": named.namespace,
                "name": named.name,
                "facets": {
                    "version": _facet(datasetVersion=named.version),
                    "schema": _facet(
                        fields=[
                            {"name": str(column["name"]), "type": str(column.get("type", ""))} for column in columns
                        ]
                    ),
                },
            }
        )
    # Column lineage: each model input from the column of the same name, the label from the outcome column; so the
    # lineage gate can see that no prohibited column of the training data reaches the model.
    sources = inputs[:1]
    derived = {
        field_name: {
            "inputFields": [
                {"namespace": source["namespace"], "name": source["name"], "field": field_name} for source in sources
            ]
        }
        for field_name in (*demo.FEATURES, demo.LABEL)
    }
    output = {
        "namespace": model_node.namespace,
        "name": model_node.name,
        "facets": {"columnLineage": _facet(fields=derived)} if sources else {},
    }
    started = version.created_at - timedelta(minutes=12)
    return [
        {
            "eventType": state,
            "eventTime": moment.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "run": {"runId": run_id},
            "job": {"namespace": TRAINING_NAMESPACE, "name": TRAINING_JOB},
            "inputs": inputs,
            "outputs": [output] if state == "COMPLETE" else [],
            "producer": LINEAGE_PRODUCER,
            "schemaURL": RUN_EVENT_SCHEMA,
        }
        for state, moment in (("START", started), ("COMPLETE", version.created_at - timedelta(minutes=1)))
    ]


DEMO_SIGNING_PASSPHRASE = "assay demo signing passphrase"  # noqa: S105 (demo only; printed for the reader)
BOARD = "model-risk-board"
REVIEWERS = {
    "lena-legal": BoardRole.LEGAL,
    "colin-compliance": BoardRole.COMPLIANCE,
    "rosa-risk": BoardRole.RISK,
    "pia-privacy": BoardRole.PRIVACY,
    "theo-technical": BoardRole.TECHNICAL,
}
ENVIRONMENTS: tuple[tuple[str, str, str, int, list[str]], ...] = (
    ("staging", "Staging", "Shadow traffic and internal users; no customer decision depends on it.", 10, []),
    ("production", "Production", "Customer decisions.", 20, ["eu-west-1"]),
)
# Gate checks the production policies require beyond the built-in ones.
PRODUCTION_CHECKS = ["lineage_complete"]
# The external training pipeline that reports the demo model's lineage.
TRAINING_NAMESPACE = "airflow://credit-risk"
TRAINING_JOB = "credit_limit.train_scorer"
LINEAGE_PRODUCER = "https://github.com/assay-demo/credit-pipelines/v1"
RUN_EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACET_SCHEMA = "https://openlineage.io/spec/facets/1-0-0/Facet.json"
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
        # Version 1: seed_serving_demo adds a version 2 (the canary candidate), which this demo must not pick up.
        version = ModelVersion.objects.filter(model__team__slug=TEAM, model__name=MODEL).order_by("number").first()
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
        for slug, name, description, rank, regions in ENVIRONMENTS:
            environment = Environment.objects.filter(slug=slug).first()
            if environment is None:
                environment = actions.do_create_environment(
                    actor=admin, slug=slug, name=name, description=description, rank=rank, allowed_regions=regions
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
                required_checks=[
                    *(PRODUCTION_CHECKS if environment_slug == "production" else []),
                    *REQUIRED_CHECKS.get((environment_slug, tier), []),
                ],
                note="Demo policy.",
            )
            created += 1
        # The DPIA before the releases: their manifests carry it.
        created += seed_credit_dpia(
            team_slug=TEAM, use_case_name=USE_CASE, dataset_name=DATASET, model_name=MODEL, users=User.objects
        )
        created += self._lineage(version)
        created += self._releases(version, environments, passphrase)
        return created

    def _lineage(self, version: ModelVersion) -> int:
        """The training run's OpenLineage events, sent as the team's CI pipeline would; repeated events are stored
        once (the run id and times derive from the model version, so a second run sends the same events)."""
        account = ServiceAccount.objects.filter(user__username=SERVICE_ACCOUNT).select_related("user").first()
        actor = account.user if account is not None else User.objects.get(username=ENGINEER)
        report = do_ingest_events(training_events(version), actor=actor, team=version.model.team)
        refused = [result for result in report.results if result.status == REFUSED]
        if refused:
            raise CommandError(f"The demo's lineage events were refused: {refused[0].field}: {refused[0].message}")
        return report.count(STORED)

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
