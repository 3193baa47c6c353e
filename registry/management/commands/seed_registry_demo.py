"""The registry's demo, on top of ``seed_demo``'s people: a high-risk use case, a dataset with personal-data and
protected columns in two versions (the second's rows written as Parquet into the lake, so that the audit jobs can
read them on Spark), and a real scikit-learn model exported to ONNX, registered and sent to review.

Every write goes through registry.actions as a demo user, so the audit log reads like real use. Idempotent: each
step looks for what it would create and skips it when present, so a second run (or a run after an interrupted one)
adds only what is missing. Refused in production, like seed_demo.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from core.models import Team
from registry import actions, demo
from registry.choices import Classification, DecisionMode, LegalBasis, RiskTier, StorageFormat, VersionStatus
from registry.models import Dataset, DatasetVersion, KpiObservation, ModelVersion, RegisteredModel, UseCase
from registry.naming import name_keys
from registry.pipelines.io import resolve_location

if TYPE_CHECKING:
    from django.contrib.auth.models import User as AuthUser

User = get_user_model()

TEAM = "credit-risk"
ENGINEER = "erin-engineer"
ADMIN = "ada-admin"
USE_CASE = "Credit limit increase"
DATASET = "loan-applications"
MODEL = "credit-limit-scorer"
LOCATION = "lake://demo/loan-applications"
# The one file of the lake folder: the rows of the latest version (the evaluation data of the demo's audits).
DATA_FILE = "part-0.parquet"
CHUNK = 64 * 1024

KPIS = [
    {
        "name": "default_rate_12m",
        "unit": "%",
        "baseline": 4.1,
        "target": 3.2,
        "description": "Share of granted increases 90 days past due within 12 months.",
    },
    {
        "name": "approval_rate",
        "unit": "%",
        "baseline": 61.0,
        "target": 66.0,
        "description": "Share of increase requests granted.",
    },
    {
        "name": "decision_time_hours",
        "unit": "h",
        "baseline": 48.0,
        "target": 4.0,
        "description": "Median time from request to decision.",
    },
]
# (KPI, value, days before now): a few months of the series the use case page plots.
OBSERVATIONS = (
    ("default_rate_12m", 4.1, 120),
    ("default_rate_12m", 3.9, 90),
    ("default_rate_12m", 3.7, 60),
    ("approval_rate", 61.0, 120),
    ("approval_rate", 62.5, 60),
    ("decision_time_hours", 48.0, 120),
    ("decision_time_hours", 30.0, 60),
)


class Command(BaseCommand):
    help = (
        "Create the registry's demo (dev only): a use case, a dataset with two versions and a scikit-learn model "
        "exported to ONNX and registered. Run seed_demo first."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_registry_demo refuses to run with ASSAY_ENV=production: it writes demo data.")
        team = Team.objects.filter(slug=TEAM).first()
        users = {user.get_username(): user for user in User.objects.filter(username__in=[ENGINEER, ADMIN])}
        if team is None or len(users) != 2:
            raise CommandError(f"Run `manage.py seed_demo` first: it creates team {TEAM}, {ENGINEER} and {ADMIN}.")
        self.created = 0
        engineer, admin = users[ENGINEER], users[ADMIN]
        use_case = self._use_case(team, engineer, admin)
        data = demo.generate_applications()
        dataset, training_version = self._dataset(team, engineer, data)
        model = self._model(team, engineer, use_case)
        self._model_version(model, engineer, data, training_version)

        if self.created:
            self.stdout.write(f"Registry demo: {self.created} new object(s).")
        else:
            self.stdout.write("Registry demo data already present.")
        self.stdout.write(f"  use case  {reverse('registry-use-case-detail', args=[use_case.pk])}")
        self.stdout.write(f"  dataset   {reverse('registry-dataset-detail', args=[dataset.pk])}")
        self.stdout.write(f"  model     {reverse('registry-model-detail', args=[model.pk])}")

    def _use_case(self, team: Team, engineer: AuthUser, admin: AuthUser) -> UseCase:
        use_case = UseCase.objects.filter(team=team, name_key=name_keys(USE_CASE)[0]).first()
        if use_case is None:
            use_case = actions.do_create_use_case(
                team,
                actor=engineer,
                name=USE_CASE,
                objective=(
                    "Decide card-holders' requests for a higher credit limit from their repayment capacity and "
                    "history, faster and with fewer defaults than the manual scorecard."
                ),
                kpis=KPIS,
                expected_roi="EUR 1.2M a year: fewer write-offs on granted increases, fewer analyst hours.",
                roi_measurement=(
                    "Write-offs and analyst hours per 1,000 requests, model-scored against a 10% holdout decided "
                    "by the manual scorecard, reviewed quarterly."
                ),
                decision_mode=DecisionMode.DECISION_SUPPORT,
                output_users="Credit analysts, who decide every request; declines are explained to the customer.",
                scope="Existing consumer card-holders in the EU requesting a limit increase.",
                limitations=(
                    "Not for new-customer onboarding, business lending, collections or pricing. Not an automated "
                    "decision under GDPR art. 22: an analyst decides. Trained on 2025-2026 applications; "
                    "recalibrate after a change of product or market."
                ),
                owner=admin,
                stakeholders=["Head of consumer credit", "Credit analysts", "Model risk management", "DPO"],
                # Creditworthiness assessment of natural persons: high risk under the EU AI Act (Annex III 5(b)).
                risk_tier=RiskTier.HIGH,
                # A flagged default that would have repaid: the increase's lost margin; a missed default: the
                # average write-off of a granted increase (EUR). The validation audit's cost curve reads them.
                cost_false_positive=120.0,
                cost_false_negative=1500.0,
            )
            self.created += 1
        if not KpiObservation.objects.filter(use_case=use_case).exists():
            now = datetime.now(UTC).replace(microsecond=0)
            for kpi, value, days_ago in OBSERVATIONS:
                actions.do_record_kpi_observation(
                    use_case,
                    actor=engineer,
                    kpi=kpi,
                    value=value,
                    observed_at=now - timedelta(days=days_ago),
                    note="Monthly credit-risk report.",
                )
                self.created += 1
        return use_case

    def _dataset(self, team: Team, engineer: AuthUser, data: dict[str, Any]) -> tuple[Dataset, DatasetVersion]:
        dataset = Dataset.objects.filter(team=team, name_key=name_keys(DATASET)[0]).first()
        if dataset is None:
            dataset = actions.do_create_dataset(
                team,
                actor=engineer,
                name=DATASET,
                owner=engineer,
                description=(
                    "Card-holders' credit-limit increase requests with their outcome 12 months later (synthetic "
                    "demo data). Holds identifying and special-category data: see the flagged columns."
                ),
                storage_format=StorageFormat.PARQUET,
                location=LOCATION,
                partitioning=[],
                residency_region="eu-west-1",
                classification=Classification.CONFIDENTIAL,
                legal_basis=LegalBasis.CONTRACT,
            )
            self.created += 1
        releases = (
            (demo.schema_v1(), "First extract from the card platform."),
            (demo.schema_v2(), "Adds months_at_address (nullable) from the address history service."),
        )
        file = Path(resolve_location(LOCATION, lake_root=str(settings.DATA_LAKE_ROOT))) / DATA_FILE
        if dataset.location == LOCATION and not file.exists():
            # The same seed writes the same bytes: a lake wiped after registration gets its data back unchanged.
            demo.write_parquet(data, releases[-1][0], file)
        registered = dataset.versions.count()
        for schema, description in releases[registered:]:
            actions.do_register_dataset_version(
                dataset,
                actor=engineer,
                schema=schema,
                content_fingerprint=demo.content_fingerprint(data, schema),
                row_count=len(data[demo.LABEL]),
                description=description,
            )
            self.created += 1
        return dataset, dataset.versions.get(number=len(releases))

    def _model(self, team: Team, engineer: AuthUser, use_case: UseCase) -> RegisteredModel:
        model = RegisteredModel.objects.filter(team=team, name_key=name_keys(MODEL)[0]).first()
        if model is None:
            model = actions.do_create_model(
                team,
                actor=engineer,
                name=MODEL,
                owner=engineer,
                on_call=f"{ENGINEER} (credit-risk ML on-call rota)",
                escalation_path=f"{ENGINEER}, then {ADMIN} (team admin), then the head of consumer credit.",
                use_case=use_case,
                description="Probability that a granted credit-limit increase defaults within 12 months.",
                intended_use=(
                    "Ranks limit-increase requests of existing card-holders for an analyst, who decides; a score "
                    "above the threshold asks for a manual affordability check."
                ),
                limitations=(
                    "Synthetic training data. Not calibrated for new customers or business cards. Reads no flagged "
                    "column, but one input, district_default_rate, is derived from the postcode and is a proxy for "
                    "ethnicity: the proxy audit flags it; monitor outcomes by district and by protected attribute."
                ),
                assumptions="Declared income is verified before the decision; the request mix stays as in training.",
                upstream_dependencies=["card-platform applications extract", "credit bureau history feed"],
                tags=["credit", "scorecard", "eu-ai-act:high", "team:credit-risk", "demo"],
            )
            self.created += 1
        return model

    def _model_version(
        self, model: RegisteredModel, engineer: AuthUser, data: dict[str, Any], trained_on: DatasetVersion
    ) -> None:
        version = ModelVersion.objects.filter(model=model).order_by("number").first()
        if version is None:
            trained = demo.train(data)
            version = actions.do_register_model_version(
                model,
                actor=engineer,
                chunks=_chunks(trained.onnx_bytes),
                filename=f"{MODEL}.onnx",
                training_params=trained.training_params,
                metrics=trained.metrics,
                dataset_versions=[trained_on.pk],
                authors=[ENGINEER],
                description=(
                    "Logistic regression on six repayment-capacity features and the district's past default rate; "
                    "first candidate."
                ),
            )
            self.created += 1
        if version.status == VersionStatus.REGISTERED and not version.transitions.exists():
            actions.do_change_version_status(
                version,
                actor=engineer,
                to_status=VersionStatus.IN_REVIEW,
                reason="High-risk use case: needs the review board's approval before deployment.",
            )
            self.created += 1


def _chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]
