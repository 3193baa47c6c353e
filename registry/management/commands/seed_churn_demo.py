"""The Spark jobs' demo (issue #5), on top of ``seed_demo``'s people: a small synthetic card-holder churn event
dataset written as Parquet into the lake, its labels (the spine), a churn use case with the costs of a wrong
decision, a feature view of windowed aggregations and a registered model; then it REQUESTS the materialization job
(``do_request_materialization``, fixed idempotency key), which ``make run``'s ``spark`` worker runs and the Jobs page
follows. Once that job has registered its feature-set version, a run of this command requests the training job
(``do_request_training``) too. ``--wait`` runs both jobs here, in this process, through the workers' own job
functions (what the test does).

The events carry a protected attribute (``age_band``) and a proxy for it (``postcode_region``: regions differ in
age mix), both marked personal data in the schema; the features read neither. Every write goes through the
registry's actions as a demo user. Idempotent: each step looks for what it would create, and the jobs are asked for
with fixed idempotency keys, so a second run adds nothing. Refused in production, like the other demo commands.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from core.choices import JobStatus
from core.models import Job, Team
from registry import actions
from registry.choices import Classification, DecisionMode, LegalBasis, RiskTier, StorageFormat
from registry.models import Dataset, DatasetVersion, FeatureSetVersion, FeatureView, RegisteredModel, UseCase
from registry.naming import name_keys
from registry.pipelines.io import content_fingerprint, resolve_location

# With --wait the demo runs the worker's own Spark jobs in this process, as a worker would: the one place the
# registry reaches up into the workers app. No Spark is loaded until a job runs.
from workers import tasks
from workers.runner import run_job
from workers.spark import get_spark

User = get_user_model()

TEAM = "credit-risk"
ENGINEER = "erin-engineer"
ADMIN = "ada-admin"
USE_CASE = "Card-holder churn retention"
EVENTS = "card-activity-events"
LABELS = "card-churn-labels"
VIEW = "card_activity"
MODEL = "card-churn-scorer"
EVENTS_LOCATION = "lake://demo/churn-events"
LABELS_LOCATION = "lake://demo/churn-labels"
MATERIALIZE_KEY = "churn-demo-materialize-v1"
TRAIN_KEY = "churn-demo-train-v1"
LABEL = "churned"
ALGORITHM = "gbt"
TRAINING_PARAMS: dict[str, Any] = {"maxIter": 5, "maxDepth": 3, "seed": 7}

# The data: CUSTOMERS card-holders over DAYS days from START; labels at two snapshots a card-holder, at SNAPSHOTS
# plus up to SNAPSHOT_SPREAD days (no activity in the 30 days from the snapshot on = churned). Fixed seed and start:
# the same bytes, and the same fingerprint, every run.
CUSTOMERS = 200
DAYS = 200
START = datetime(2026, 1, 1, tzinfo=UTC)
SNAPSHOTS = (100, 150)
SNAPSHOT_SPREAD = 20
HORIZON = 30
SEED = 20260105
AGE_BANDS = ("18-29", "30-44", "45-64", "65+")
# Regions differ in their age mix: what makes the postcode region a proxy for the age band.
REGION_AGE_MIX = {
    "north": (0.10, 0.20, 0.40, 0.30),
    "south": (0.45, 0.35, 0.15, 0.05),
    "east": (0.25, 0.30, 0.30, 0.15),
    "west": (0.15, 0.25, 0.35, 0.25),
    "central": (0.40, 0.40, 0.15, 0.05),
}
# Younger card-holders leave more often.
CHURN_SHARE = {"18-29": 0.45, "30-44": 0.35, "45-64": 0.25, "65+": 0.2}
CHANNELS = ("app", "web", "shop")

EVENTS_SCHEMA: dict[str, Any] = {
    "columns": [
        {"name": "customer_id", "type": "int64", "nullable": False, "personal_data": True, "description": "Pseudonym."},
        {"name": "event_time", "type": "timestamp", "nullable": False},
        {"name": "amount", "type": "float64", "nullable": False, "description": "Card spend in EUR (0 for a visit)."},
        {"name": "channel", "type": "string", "nullable": False},
        {
            "name": "age_band",
            "type": "string",
            "nullable": False,
            "personal_data": True,
            "protected_attribute": True,
            "description": "Age band: fairness is measured against it; no feature reads it.",
        },
        {
            "name": "postcode_region",
            "type": "string",
            "nullable": False,
            "personal_data": True,
            "description": "Region of the billing postcode: a proxy for the age band (regions differ in age mix).",
        },
    ]
}
LABELS_SCHEMA: dict[str, Any] = {
    "columns": [
        {"name": "customer_id", "type": "int64", "nullable": False, "personal_data": True},
        {"name": "event_time", "type": "timestamp", "nullable": False, "description": "The snapshot time."},
        {"name": LABEL, "type": "boolean", "nullable": False, "description": "No activity in the next 30 days."},
    ]
}
FEATURES: list[dict[str, Any]] = [
    {"name": "events_30d", "definition": "1", "aggregation": "count", "window": "30d", "description": "Events."},
    {"name": "events_90d", "definition": "1", "aggregation": "count", "window": "90d", "description": "Events."},
    # Counts are 0 over an empty window (a sum or a mean would be null, which training refuses); every 90-day window
    # before a snapshot holds a visit (see generate), so the 90-day means are never null.
    {
        "name": "purchases_30d",
        "definition": "case when amount > 0 then 1 end",
        "aggregation": "count",
        "window": "30d",
        "description": "Purchases (visits have no amount).",
    },
    {"name": "spend_mean_90d", "definition": "amount", "aggregation": "mean", "window": "90d", "description": "EUR."},
    {
        "name": "web_share_90d",
        "definition": "case when channel = 'web' then 1.0 else 0.0 end",
        "aggregation": "mean",
        "window": "90d",
        "description": "Share of events on the web.",
    },
]


def generate(seed: int = SEED) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """(events, labels) as columns. Every card-holder has a visit every ten days until they leave (so every 90-day
    window before a snapshot holds events and no feature is null), purchases in between, and fewer of both in the
    six weeks before leaving; leavers leave on a day from 90 on."""
    rng = np.random.default_rng(seed)
    regions = list(REGION_AGE_MIX)
    events: dict[str, list[Any]] = {name: [] for name in ("customer_id", "event_time", "amount", "channel")}
    events |= {"age_band": [], "postcode_region": []}
    labels: dict[str, list[Any]] = {"customer_id": [], "event_time": [], LABEL: []}
    for customer in range(1, CUSTOMERS + 1):
        region = regions[int(rng.integers(len(regions)))]
        band = AGE_BANDS[int(rng.choice(len(AGE_BANDS), p=REGION_AGE_MIX[region]))]
        leaves = bool(rng.random() < CHURN_SHARE[band])
        leave_day = float(rng.uniform(90, DAYS + 20)) if leaves else float("inf")
        spend = float(rng.lognormal(3.0, 0.5))
        rate = float(rng.uniform(0.02, 0.08))
        activity: list[tuple[float, bool]] = []  # (day, is a purchase)
        for visit in np.arange(rng.uniform(0, 10), min(leave_day, DAYS), 10.0):
            # Visits thin out in the six weeks before leaving; those before day 90 all happen.
            if visit < 90 or leave_day - visit > 42 or rng.random() < 0.5:
                activity.append((float(visit), False))
        for day in rng.uniform(0, DAYS, rng.poisson(rate * DAYS)):
            if day < leave_day - (42 * rng.random() if leaves else 0):
                activity.append((float(day), True))
        activity.sort()
        for day, purchase in activity:
            events["customer_id"].append(customer)
            events["event_time"].append(START + timedelta(days=day))
            events["amount"].append(round(float(rng.lognormal(np.log(spend), 0.4)), 2) if purchase else 0.0)
            events["channel"].append(CHANNELS[int(rng.integers(3))] if purchase else "app")
            events["age_band"].append(band)
            events["postcode_region"].append(region)
        # Each card-holder's snapshots fall on days of their own, so that training can split in time.
        offset = int(rng.integers(0, SNAPSHOT_SPREAD))
        for snapshot in (first + offset for first in SNAPSHOTS):
            labels["customer_id"].append(customer)
            labels["event_time"].append(START + timedelta(days=snapshot))
            labels[LABEL].append(not any(snapshot <= day < snapshot + HORIZON for day, _ in activity))
    return events, labels


def write_parquet(columns: dict[str, list[Any]], schema: dict[str, Any], folder: Path) -> None:
    """One Parquet file in ``folder``, written beside it and renamed into place (a reader sees all or nothing)."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    types = {"int64": pa.int64(), "timestamp": pa.timestamp("us", "UTC"), "float64": pa.float64()}
    types |= {"string": pa.string(), "boolean": pa.bool_()}
    table = pa.table(
        {c["name"]: pa.array(columns[c["name"]], types[c["type"]]) for c in schema["columns"]},
    )
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / ".part-0.parquet.tmp"
    pq.write_table(table, partial)
    partial.rename(folder / "part-0.parquet")


class Command(BaseCommand):
    help = (
        "Create the Spark jobs' demo (dev only): a synthetic churn event dataset in the lake, a feature view and a "
        "model; request the materialization job (and, once it has registered its feature-set version, the training "
        "job). --wait runs the jobs in this process. Run seed_demo first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Run the materialization and training jobs here, in this process, instead of leaving them to the "
            "spark worker.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_churn_demo refuses to run with ASSAY_ENV=production: it writes demo data.")
        team = Team.objects.filter(slug=TEAM).first()
        users = {user.get_username(): user for user in User.objects.filter(username__in=[ENGINEER, ADMIN])}
        if team is None or len(users) != 2:
            raise CommandError(f"Run `manage.py seed_demo` first: it creates team {TEAM}, {ENGINEER} and {ADMIN}.")
        self.created = 0
        engineer, admin = users[ENGINEER], users[ADMIN]
        use_case = self._use_case(team, engineer, admin)
        events, labels = self._datasets(team, engineer)
        view = self._feature_view(team, engineer, events.dataset)
        model = self._model(team, engineer, use_case)

        materialization = self._request(
            actions.do_request_materialization,
            view,
            actor=engineer,
            dataset_version=events.pk,
            spine_dataset_version=labels.pk,
            idempotency_key=MATERIALIZE_KEY,
            # The training job follows on its own once the feature set is registered (workers.tasks, then_train).
            then_train={"model": model.pk, "label": LABEL, "algorithm": ALGORITHM, "params": TRAINING_PARAMS},
        )
        if options["wait"]:
            materialization = self._run(materialization)
        training = Job.objects.filter(
            requested_by=engineer, idempotency_key=f"after-{materialization.public_id}"
        ).first()
        feature_set = FeatureSetVersion.objects.filter(job=materialization).first()
        if training is None and feature_set is not None:
            # A feature set materialized before the chain existed (or whose chained request was refused).
            training = self._request(
                actions.do_request_training,
                model,
                actor=engineer,
                feature_set_version=feature_set.pk,
                label=LABEL,
                algorithm=ALGORITHM,
                params=TRAINING_PARAMS,
                idempotency_key=TRAIN_KEY,
            )
        if training is not None and options["wait"]:
            training = self._run(training)
        self._report(use_case, view, model, materialization, training)

    def _request(self, request: Any, target: Any, *, idempotency_key: str, **kwargs: Any) -> Job:
        """A job asked for with a fixed idempotency key: the first run's job, found again by the next runs. After a
        failed or cancelled one (no Java on the worker, say), the next run asks again under the key numbered on."""
        mine = Job.objects.filter(requested_by=kwargs["actor"], idempotency_key__startswith=idempotency_key)
        ended = mine.filter(status__in=(JobStatus.FAILED, JobStatus.CANCELLED)).count()
        key = f"{idempotency_key}.{ended + 1}" if ended else idempotency_key
        job, created = request(target, idempotency_key=key, **kwargs)
        self.created += created
        return job

    def _run(self, job: Job) -> Job:
        """Run ``job`` here through the worker's own job function, claimed as a worker claims it (a job another
        worker has finished is left as it is)."""
        kinds = {"registry.materialize_features": tasks.materialize_features, "registry.train_model": tasks.train_model}
        if job.status == JobStatus.QUEUED:
            self.stdout.write(f"Running the {job.kind} job {job.public_id} in this process ...")
            run_job(job.pk, kinds[job.kind].job_fn, task_id=job.task_id, worker="seed_churn_demo")
        job.refresh_from_db()
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(f"The {job.kind} job {job.public_id} is {job.status}: {job.error or 'not finished'}")
        return job

    def _use_case(self, team: Team, engineer: Any, admin: Any) -> UseCase:
        use_case = UseCase.objects.filter(team=team, name_key=name_keys(USE_CASE)[0]).first()
        if use_case is None:
            use_case = actions.do_create_use_case(
                team,
                actor=engineer,
                name=USE_CASE,
                objective="Find the card-holders likely to stop using their card in the next 30 days, in time to "
                "offer them a retention benefit.",
                kpis=[
                    {
                        "name": "monthly_attrition",
                        "unit": "%",
                        "baseline": 2.4,
                        "target": 1.9,
                        "description": "Share of active card-holders with no activity for 30 days.",
                    }
                ],
                expected_roi="EUR 300k a year: card-holders kept, fewer blanket retention offers.",
                roi_measurement="Attrition of contacted card-holders against a 10% uncontacted holdout, quarterly.",
                decision_mode=DecisionMode.DECISION_SUPPORT,
                output_users="The retention team, who choose whom to call and what to offer.",
                scope="Active consumer card-holders (synthetic demo data).",
                limitations="Not for credit decisions or pricing. Outcomes are monitored by age band, which the "
                "postcode region proxies.",
                owner=admin,
                stakeholders=["Head of cards", "Retention team", "DPO"],
                risk_tier=RiskTier.LIMITED,
                # A retention offer to someone who would have stayed costs EUR 15; a missed leaver EUR 120.
                cost_false_positive=15.0,
                cost_false_negative=120.0,
            )
            self.created += 1
        return use_case

    def _datasets(self, team: Team, engineer: Any) -> tuple[DatasetVersion, DatasetVersion]:
        events, labels = generate()
        found = []
        for name, location, schema, columns, description in (
            (
                EVENTS,
                EVENTS_LOCATION,
                EVENTS_SCHEMA,
                events,
                "Card-holders' card activity (visits and purchases), synthetic demo data. Holds personal data and a "
                "protected attribute (age_band) with a proxy for it (postcode_region): see the flagged columns.",
            ),
            (
                LABELS,
                LABELS_LOCATION,
                LABELS_SCHEMA,
                labels,
                "Whether a card-holder churned (no activity in the 30 days after a snapshot), two snapshots per "
                "card-holder: the spine the card activity features are computed at.",
            ),
        ):
            folder = Path(resolve_location(location, lake_root=str(settings.DATA_LAKE_ROOT)))
            if not (folder / "part-0.parquet").exists():
                # The same seed writes the same rows: a lake wiped after registration gets its data back unchanged.
                write_parquet(columns, schema, folder)
            dataset = Dataset.objects.filter(team=team, name_key=name_keys(name)[0]).first()
            if dataset is None:
                dataset = actions.do_create_dataset(
                    team,
                    actor=engineer,
                    name=name,
                    owner=engineer,
                    description=description,
                    storage_format=StorageFormat.PARQUET,
                    location=location,
                    partitioning=[],
                    residency_region="eu-west-1",
                    classification=Classification.CONFIDENTIAL,
                    legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
                )
                self.created += 1
            version = dataset.versions.order_by("number").first()
            if version is None:
                version = actions.do_register_dataset_version(
                    dataset,
                    actor=engineer,
                    schema=schema,
                    content_fingerprint=self._fingerprint(folder, schema),
                    row_count=len(columns["customer_id"]),
                    description="Generated by manage.py seed_churn_demo.",
                )
                self.created += 1
            found.append(version)
        return found[0], found[1]

    def _fingerprint(self, folder: Path, schema: dict[str, Any]) -> str:
        """The content fingerprint Assay computes from the data (registry.pipelines.io.content_fingerprint), over
        the columns in their registered order, as read_dataset_version returns them."""
        self.stdout.write(f"Computing the content fingerprint of {folder} with Spark ...")
        frame = get_spark().read.parquet(str(folder))
        return content_fingerprint(frame.select(*(f"`{c['name']}`" for c in schema["columns"])))

    def _feature_view(self, team: Team, engineer: Any, events: Dataset) -> FeatureView:
        view = FeatureView.objects.filter(team=team, name=VIEW).first()
        if view is None:
            view = actions.do_create_feature_view(
                team,
                actor=engineer,
                name=VIEW,
                entity="customer",
                source_dataset=events,
                event_time_column="event_time",
                features=FEATURES,
                owner=engineer,
                description="Card-holders' recent activity: counts, spend and channel over 30 and 90 days. Reads "
                "neither the age band nor the postcode region.",
            )
            self.created += 1
        return view

    def _model(self, team: Team, engineer: Any, use_case: UseCase) -> RegisteredModel:
        model = RegisteredModel.objects.filter(team=team, name_key=name_keys(MODEL)[0]).first()
        if model is None:
            model = actions.do_create_model(
                team,
                actor=engineer,
                name=MODEL,
                owner=engineer,
                on_call=f"{ENGINEER} (credit-risk ML on-call rota)",
                escalation_path=f"{ENGINEER}, then {ADMIN} (team admin).",
                use_case=use_case,
                description="Probability that a card-holder has no card activity in the next 30 days.",
                intended_use="Ranks active card-holders for the retention team; a score above the threshold (chosen "
                "for the use case's costs) suggests a call.",
                limitations="Synthetic training data. Trained by a Spark job on the card_activity feature view.",
                assumptions="Activity is recorded within a day; the card product stays as in training.",
                upstream_dependencies=["card activity events", "card churn labels"],
                tags=["churn", "spark", "demo"],
            )
            self.created += 1
        return model

    def _report(self, use_case: UseCase, view: FeatureView, model: RegisteredModel, *jobs: Job | None) -> None:
        if self.created:
            self.stdout.write(f"Churn demo: {self.created} new object(s).")
        else:
            self.stdout.write("Churn demo data already present.")
        self.stdout.write(f"  use case      {reverse('registry-use-case-detail', args=[use_case.pk])}")
        self.stdout.write(f"  feature view  {view} (id {view.pk})")
        self.stdout.write(f"  model         {reverse('registry-model-detail', args=[model.pk])}")
        materialization, training = jobs
        for job in (materialization, training):
            if job is not None:
                url = reverse("job-detail", args=[job.public_id])
                self.stdout.write(f"  job           {url}  {job.kind}: {job.status}")
        if training is None:
            assert materialization is not None
            self.stdout.write(
                "Next: the spark worker materializes the features (follow it on the Jobs page, or `assay job show "
                f"{materialization.public_id} --wait`); once it has registered the feature set it asks for the "
                "training job, which the same worker runs and which registers the model version."
            )
