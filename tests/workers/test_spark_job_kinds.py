"""The registry's two Spark job kinds, run in this process on the session-wide ``spark`` fixture: a materialization
and a training job end to end (request, run, registration), a retry that finds its registration instead of making a
second one, and bad data that fails the job with the reader's message and leaves nothing behind.

(tests/workers/test_spark_jobs.py runs jobs in real workers; here the job function runs in the test process through
the same runner, without the broker.)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq  # type: ignore[import-untyped]
from django.conf import settings
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from core.choices import AuditEventType, JobStatus
from core.models import AuditEvent, Job
from registry import actions
from registry.actions import registered_models
from registry.models import FeatureSetVersion, ModelVersion
from registry.onnx_validation import validate_onnx
from registry.pipelines import io
from registry.pipelines.training import TrainedModel
from tests.registry.factories import make_model
from tests.workers.conftest import CUSTOMERS, _inputs
from workers import tasks
from workers.runner import JobContext, run_job


def run(job: Job) -> Job:
    fn = {"registry.materialize_features": tasks.materialize_features, "registry.train_model": tasks.train_model}
    run_job(job.pk, fn[job.kind].job_fn, task_id=job.task_id, worker="in-process")
    job.refresh_from_db()
    return job


def test_materialize_then_train_registers_once_each(
    transactional_db: None, cast: Any, lake: Path, spark: Any, settings: Any, monkeypatch: Any
) -> None:
    settings.TRAINING_PARITY_TOLERANCE = 0.01
    # The ONNX is validated with no transaction open: the action takes its locks only once the file has passed.
    validated = []

    def validate_outside_a_transaction(path: Path, **options: Any) -> Any:
        validated.append(connection.in_atomic_block)
        return validate_onnx(path, **options)

    monkeypatch.setattr(registered_models, "validate_onnx", validate_outside_a_transaction)
    view, events_version, labels_version = _inputs(cast)
    engineer = cast.engineer_a
    job, _ = actions.do_request_materialization(
        view, actor=engineer, dataset_version=events_version.pk, spine_dataset_version=labels_version.pk
    )
    job = run(job)
    assert job.status == JobStatus.SUCCEEDED, job.error
    feature_set = FeatureSetVersion.objects.get(job=job)
    assert job.result["feature_set_version"] == feature_set.pk
    assert feature_set.row_count == CUSTOMERS * 4
    assert job.result["spark"]["stages_done"] >= 1
    staging = io.staging_root(settings.ARTIFACT_ROOT)
    assert not staging.exists() or not any(staging.iterdir())
    # A retry of the same job (its worker died after registering) finds the version: no second one.
    again = tasks.materialize_features.job_fn(job, JobContext(job))
    assert again["feature_set_version"] == feature_set.pk
    assert FeatureSetVersion.objects.filter(feature_view=view).count() == 1

    model = make_model(cast.team_a, engineer)
    training, _ = actions.do_request_training(
        model,
        actor=engineer,
        feature_set_version=feature_set.pk,
        label="churned",
        algorithm="logistic_regression",
        params={"maxIter": 5},
    )
    training = run(training)
    assert training.status == JobStatus.SUCCEEDED, training.error
    assert validated == [False]
    version = ModelVersion.objects.get(job=training)
    assert training.result["model_version"] == version.pk
    assert version.training_params["parity"]["tolerance"] == 0.01  # the setting, passed by the job to the pipeline
    # Progress only grows, through the job's own steps and the pipeline's.
    for finished in (job, training):
        lines = finished.log_lines.order_by("pk").values_list("message", flat=True)
        logged = [int(match[1]) for line in lines if (match := re.match(r"(\d+)% ", line))]
        assert logged == sorted(logged), logged
        assert logged[-1] >= 95, logged
    assert list(version.feature_set_versions.all()) == [feature_set]
    # The API names the job that produced each version, as it does for the feature set.
    client = APIClient()
    client.force_authenticate(engineer)
    shown = client.get(f"/api/v1/models/{model.pk}/versions/{version.number}/").json()
    assert shown["job"] == str(training.public_id)
    assert shown["feature_set_versions"] == [feature_set.pk]
    listed = client.get(f"/api/v1/models/{model.pk}/versions/").json()["results"]
    assert [row["job"] for row in listed] == [str(training.public_id)]
    fs_shown = client.get(f"/api/v1/feature-views/{view.pk}/versions/{feature_set.number}/").json()
    assert fs_shown["job"] == str(job.public_id)
    # The version's page says what it was trained on and which job made it
    browser = Client()
    browser.force_login(engineer)
    page = browser.get(f"/models/{model.pk}/versions/{version.number}/").content.decode()
    assert f'href="/feature-views/{view.pk}/versions/{feature_set.number}/"' in page
    assert f'href="/jobs/{training.public_id}/"' in page
    # Each job's detail links what it made
    outputs = client.get(f"/api/v1/jobs/{training.public_id}/").json()["outputs"]
    assert outputs == [{"label": f"Model version {version}", "url": f"/models/{model.pk}/versions/{version.number}/"}]
    outputs = client.get(f"/api/v1/jobs/{job.public_id}/").json()["outputs"]
    assert outputs == [{"label": f"Feature-set version {feature_set}", "url": f"/feature-views/{view.pk}/versions/1/"}]
    again = tasks.train_model.job_fn(training, JobContext(training))
    assert again["model_version"] == version.pk
    assert ModelVersion.objects.filter(model=model).count() == 1
    messages = list(training.log_lines.values_list("message", flat=True))
    assert any("Spark:" in message for message in messages) or training.result["spark"]["stages_total"] >= 1


def test_data_of_another_format_fails_the_job_and_leaves_nothing(
    transactional_db: None, cast: Any, lake: Path, spark: Any
) -> None:
    view, events_version, _ = _inputs(cast)
    (lake / "events" / "part-0.parquet").write_text("customer_id,event_time\n1,2024-01-01\n")
    job = run(actions.do_request_materialization(view, actor=cast.engineer_a, dataset_version=events_version.pk)[0])
    assert job.status == JobStatus.FAILED
    assert job.error == (
        "Events v1: part-0.parquet is not a Parquet file (it looks like a CSV file); the version declares "
        "storage_format 'parquet'."
    )
    assert not FeatureSetVersion.objects.exists()
    assert not io.output_path(settings.ARTIFACT_ROOT, "features", str(job.public_id)).exists()
    assert not (io.staging_root(settings.ARTIFACT_ROOT) / str(job.public_id)).exists()


def test_the_first_read_pins_the_files_and_a_later_change_fails_the_job(
    transactional_db: None, cast: Any, lake: Path, spark: Any
) -> None:
    view, events_version, _ = _inputs(cast)
    first = run(actions.do_request_materialization(view, actor=cast.engineer_a, dataset_version=events_version.pk)[0])
    assert first.status == JobStatus.SUCCEEDED, first.error
    events_version.refresh_from_db()
    assert len(events_version.files_digest) == 64
    assert events_version.files_digest_job == first
    pinned = events_version.files_digest
    client = APIClient()
    client.force_authenticate(cast.engineer_a)
    shown = client.get(f"/api/v1/datasets/{events_version.dataset_id}/versions/1/").json()
    assert shown["files_digest"] == pinned
    assert shown["files_digest_job"] == str(first.public_id)
    browser = Client()
    browser.force_login(cast.engineer_a)
    page = browser.get(f"/datasets/{events_version.dataset_id}/versions/1/").content.decode()
    assert pinned in page
    assert f"/jobs/{first.public_id}/" in page

    # The same files read again: the pin holds and a second feature set is made.
    again, _ = actions.do_request_materialization(
        view, actor=cast.engineer_a, dataset_version=events_version.pk, idempotency_key="again"
    )
    assert run(again).status == JobStatus.SUCCEEDED
    # Somebody rewrites the data in place under the same version (one row less).
    part = lake / "events" / "part-0.parquet"
    table = pq.read_table(part)
    pq.write_table(table.slice(1), part)
    changed = run(
        actions.do_request_materialization(
            view, actor=cast.engineer_a, dataset_version=events_version.pk, idempotency_key="changed"
        )[0]
    )
    assert changed.status == JobStatus.FAILED
    assert f"the files at lake://events changed after job {first.public_id} first read them" in changed.error
    assert f"not {pinned}" in changed.error
    assert FeatureSetVersion.objects.filter(feature_view=view).count() == 2
    assert not io.output_path(settings.ARTIFACT_ROOT, "features", str(changed.public_id)).exists()
    events_version.refresh_from_db()
    assert events_version.files_digest == pinned  # the pin is not moved by the changed files
    event = AuditEvent.objects.get(event_type="dataset.data_changed")
    assert event.target_id == str(events_version.pk)
    assert event.metadata["pinned"] == pinned
    assert event.metadata["job"] == str(changed.public_id)


def test_training_refuses_a_feature_set_whose_files_changed(
    transactional_db: None, cast: Any, lake: Path, spark: Any
) -> None:
    view, events_version, labels_version = _inputs(cast)
    job = run(
        actions.do_request_materialization(
            view, actor=cast.engineer_a, dataset_version=events_version.pk, spine_dataset_version=labels_version.pk
        )[0]
    )
    feature_set = FeatureSetVersion.objects.get(job=job)
    folder = Path(settings.ARTIFACT_ROOT) / feature_set.storage_location
    part = sorted(folder.rglob("*.parquet"))[0]
    table = pq.read_table(part)
    pq.write_table(table.slice(1), part)  # a row taken out of the data the feature set registered

    model = make_model(cast.team_a, cast.engineer_a)
    training = run(
        actions.do_request_training(
            model,
            actor=cast.engineer_a,
            feature_set_version=feature_set.pk,
            label="churned",
            algorithm="logistic_regression",
        )[0]
    )
    assert training.status == JobStatus.FAILED
    assert training.error.startswith(f"The data of {feature_set} changed after it was registered")
    assert f"not the registered {feature_set.output_fingerprint}; nothing was trained" in training.error
    assert not ModelVersion.objects.filter(model=model).exists()
    event = AuditEvent.objects.get(event_type="artifact.corrupted")
    assert event.target_id == str(feature_set.pk)


def test_a_trained_model_that_fails_validation_fails_the_job_and_leaves_a_refusal(
    transactional_db: None, cast: Any, lake: Path, spark: Any, monkeypatch: Any
) -> None:
    """GIVEN a feature set, and training whose ONNX export is not a valid model
    WHEN the training job registers it
    THEN the job fails naming the refusal, no version is registered, and the refusal is in the audit log."""
    view, events_version, labels_version = _inputs(cast)
    materialized = run(
        actions.do_request_materialization(
            view, actor=cast.engineer_a, dataset_version=events_version.pk, spine_dataset_version=labels_version.pk
        )[0]
    )
    feature_set = FeatureSetVersion.objects.get(job=materialized)

    def broken_export(*args: Any, **kwargs: Any) -> TrainedModel:
        return TrainedModel(
            pipeline=None,  # type: ignore[arg-type]
            algorithm="logistic_regression",
            label="churned",
            features=("spend_30d",),
            event_time_column=None,
            params={},
            search=[],
            metrics={"auc": 0.5},
            threshold=0.5,
            class_weights={"0": 1.0, "1": 1.0},
            split={},
            skew={},
            onnx_bytes=b"this is not an ONNX model",
            parity_max_abs_diff=0.0,
            parity_tolerance=1e-4,
        )

    monkeypatch.setattr(tasks, "train", broken_export)
    model = make_model(cast.team_a, cast.engineer_a)
    training = run(
        actions.do_request_training(
            model, actor=cast.engineer_a, feature_set_version=feature_set.pk, label="churned", algorithm="gbt"
        )[0]
    )
    assert training.status == JobStatus.FAILED
    assert training.error.startswith("The trained model was not registered: "), training.error
    assert not ModelVersion.objects.filter(model=model).exists()
    refusal = AuditEvent.objects.get(event_type=AuditEventType.MODEL_VERSION_REFUSED)
    assert refusal.target_id == str(model.pk)
