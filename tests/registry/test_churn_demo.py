"""The Spark jobs' demo (`manage.py seed_churn_demo`, run by `make run` after seed_release_demo): with --wait it runs
end to end in this process on the session's ``spark`` fixture (synthetic churn events in the lake, a materialization
job registering a feature-set version, a training job registering a model version whose ONNX matches Spark's
predictions), a second run adds nothing, without --wait it only requests the first job, and production refuses it."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.choices import JobStatus
from core.models import AuditEvent, Job
from lineage.models import LineageRun
from registry.choices import FingerprintSource
from registry.management.commands import seed_churn_demo as demo
from registry.models import Dataset, DatasetVersion, FeatureSetVersion, FeatureView, ModelVersion, RegisteredModel
from registry.pipelines import io
from workers.tasks import dataset_source


@pytest.fixture
def lake(settings: Any, tmp_path: Path) -> Path:
    settings.DATA_LAKE_ROOT = str(tmp_path / "lake")
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.SPARK_JOB_POLL_SECONDS = 1
    call_command("seed_demo", "--quiet-logins", stdout=StringIO())
    return tmp_path / "lake"


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_churn_demo", *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    tables = (Dataset, DatasetVersion, FeatureView, FeatureSetVersion, RegisteredModel, ModelVersion, Job, AuditEvent)
    return {model.__name__: model.objects.count() for model in tables}


def test_the_demo_runs_end_to_end_and_a_second_run_adds_nothing(transactional_db: None, lake: Path, spark: Any) -> None:
    out = seed("--wait")
    assert "Churn demo:" in out

    events = DatasetVersion.objects.get(dataset__name=demo.EVENTS)
    assert events.dataset.location == "lake://demo/churn-events"
    assert (lake / "demo" / "churn-events" / "part-0.parquet").is_file()
    flags = {c["name"]: c for c in events.schema["columns"]}
    assert flags["age_band"]["protected_attribute"]
    assert flags["age_band"]["personal_data"]
    assert flags["postcode_region"]["personal_data"]
    assert events.row_count is not None
    assert 2000 <= events.row_count <= 10000
    # The registered fingerprint is the one Assay computes from the data (checked on read when "computed").
    events.fingerprint_source = FingerprintSource.COMPUTED
    read = io.read_dataset_version(spark, dataset_source(events), lake_root=str(lake))
    assert io.content_fingerprint(read.frame) == events.content_fingerprint

    materialization = Job.objects.get(kind="registry.materialize_features", idempotency_key=demo.MATERIALIZE_KEY)
    # The materialization job asked for the training job itself once its feature set was registered (then_train).
    training = Job.objects.get(kind="registry.train_model", idempotency_key=f"after-{materialization.public_id}")
    assert materialization.result["training_job"] == str(training.public_id)
    assert materialization.status == training.status == JobStatus.SUCCEEDED
    feature_set = FeatureSetVersion.objects.get(job=materialization)
    assert feature_set.row_count == demo.CUSTOMERS * len(demo.SNAPSHOTS)
    assert {f["name"] for f in feature_set.features} == {f["name"] for f in demo.FEATURES}
    version = ModelVersion.objects.get(job=training)
    assert version.model.name == demo.MODEL
    assert list(version.feature_set_versions.all()) == [feature_set]
    # The ONNX export scores the held-out rows as Spark does (the job fails above the tolerance).
    assert version.metrics["parity_max_abs_diff"] <= 1e-4
    assert version.metrics["auc"] > 0.6
    assert "business_cost" in version.metrics  # the use case's costs chose the threshold
    assert version.training_params["features"] == [f["name"] for f in demo.FEATURES]
    # The lineage, from the raw events Parquet to the model version (docs/lineage-emit.md): the materialization
    # read the events and the labels by location and fingerprint and wrote the feature set the training read.
    made = LineageRun.objects.get(assay_job=materialization)
    trained = LineageRun.objects.get(assay_job=training)
    assert made.state == trained.state == "COMPLETE"
    assert trained.parent_run_id == made.run_id
    read_by_made = {(e.dataset.namespace.name, e.dataset.name, e.version) for e in made.edges.filter(direction="input")}
    assert read_by_made == {
        ("lake", "demo/churn-events", events.content_fingerprint),
        ("lake", "demo/churn-labels", DatasetVersion.objects.get(dataset__name=demo.LABELS).content_fingerprint),
    }
    (written,) = made.edges.filter(direction="output")
    (read_by_trained,) = trained.edges.filter(direction="input")
    assert written.dataset_id == read_by_trained.dataset_id
    assert written.dataset.name == f"feature-sets/{demo.VIEW}/v{feature_set.number}"
    (model_node,) = trained.edges.filter(direction="output")
    assert model_node.dataset.name == f"sha256:{version.artifact_sha256}"

    before = counts()
    out = seed("--wait")
    assert "already present" in out
    assert counts() == before


def test_without_wait_it_requests_the_materialization_and_says_what_is_next(
    transactional_db: None, lake: Path, spark: Any
) -> None:
    out = seed()
    job = Job.objects.get()
    assert job.kind == "registry.materialize_features"
    assert job.status == JobStatus.QUEUED
    assert job.params["spine_dataset_version"] == DatasetVersion.objects.get(dataset__name=demo.LABELS).pk
    assert job.params["then_train"]["algorithm"] == demo.ALGORITHM
    assert "asks for the training job" in out
    assert f"/jobs/{job.public_id}/" in out
    assert not FeatureSetVersion.objects.exists()
    # Again: the same job, nothing new.
    before = counts()
    seed()
    assert counts() == before
    # A job that failed (no Java on the worker, say) is asked for again by the next run, once.
    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, error="Spark needs Java")
    seed()
    again = Job.objects.exclude(pk=job.pk).get()
    assert (again.kind, again.status, again.idempotency_key) == (job.kind, JobStatus.QUEUED, f"{job.idempotency_key}.2")
    seed()
    assert Job.objects.count() == 2


def test_production_refuses_it(db: None, settings: Any) -> None:
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        seed()
