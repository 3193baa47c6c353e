"""A real Spark worker runs a materialization and the training chained on it; their OpenLineage runs are in Assay's
store: START and COMPLETE, the dataset versions in, the feature-set version out with its schema and the column
lineage of the feature definitions, then the feature set in and the model version (``sha256:<digest>``) out. Names
resolve per lineage.naming."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.choices import JobStatus
from core.models import Job
from lineage.emit import run_id
from lineage.models import ColumnEdge, LineageRun, RunEdge
from lineage.naming import dataset_version_name, feature_set_version_name, model_version_name
from registry import actions
from registry.models import FeatureSetVersion, ModelVersion
from tests.registry.factories import make_model
from tests.workers.conftest import SPARK_JOB_TIMEOUT, _inputs, wait_for_job


def edges(run: LineageRun, direction: str) -> list[tuple[str, str, str]]:
    return sorted(
        (edge.dataset.namespace.name, edge.dataset.name, edge.version)
        for edge in RunEdge.objects.filter(run=run, direction=direction).select_related("dataset__namespace")
    )


def states(run: LineageRun) -> list[str]:
    return list(run.transitions.order_by("event_time", "pk").values_list("state", flat=True))


def test_a_worker_emits_the_lineage_of_a_materialization_and_its_training(
    spark_worker: Any, cast: Any, lake: Path
) -> None:
    spark_worker(env={"DATA_LAKE_ROOT": str(lake), "TRAINING_PARITY_TOLERANCE": "0.01"})
    engineer = cast.engineer_a
    view, events, labels = _inputs(cast)
    model = make_model(cast.team_a, engineer)
    job, _ = actions.do_request_materialization(
        view,
        actor=engineer,
        dataset_version=events.pk,
        spine_dataset_version=labels.pk,
        then_train={
            "model": model.pk,
            "label": "churned",
            "algorithm": "logistic_regression",
            "params": {"maxIter": 5},
        },
    )
    job = wait_for_job(job, timeout=SPARK_JOB_TIMEOUT)
    assert job.status == JobStatus.SUCCEEDED, job.error
    training = wait_for_job(Job.objects.get(public_id=job.result["training_job"]), timeout=SPARK_JOB_TIMEOUT)
    assert training.status == JobStatus.SUCCEEDED, training.error
    feature_set = FeatureSetVersion.objects.get(job=job)
    version = ModelVersion.objects.get(job=training)

    # The materialization: its two dataset versions in (location and fingerprint), its feature-set version out.
    run = LineageRun.objects.get(assay_job=job)
    assert run.run_id == run_id(job, 1)
    assert states(run) == ["START", "COMPLETE"]
    assert (run.job.namespace.name, run.job.name) == ("assay://team-a", "registry.materialize_features")
    named = {dataset_version_name(v) for v in (events, labels)}
    assert edges(run, "input") == sorted((n.namespace, n.name, n.version) for n in named)
    assert ("lake", "events", events.content_fingerprint) in edges(run, "input")
    fs_name = feature_set_version_name(feature_set)
    assert edges(run, "output") == [(fs_name.namespace, fs_name.name, feature_set.fingerprint)]
    output = RunEdge.objects.get(run=run, direction="output")
    assert output.schema is not None
    assert [f["name"] for f in output.schema.fields] == [
        "customer_id",
        "event_time",
        "churned",
        "spend_30d",
        "orders_30d",
        "as_of_date",
    ]
    columns = {
        (edge.output_field, edge.input_dataset.name, edge.input_field)
        for edge in ColumnEdge.objects.filter(run=run).select_related("input_dataset")
    }
    assert ("spend_30d", "events", "amount") in columns
    assert ("spend_30d", "events", "customer_id") in columns
    assert ("churned", "labels", "churned") in columns
    assert not any(output == "orders_30d" and field == "amount" for output, _, field in columns)

    # The training: the feature set in, the model version out by its digest.
    trained = LineageRun.objects.get(assay_job=training)
    assert states(trained) == ["START", "COMPLETE"]
    assert trained.parent_run_id == run.run_id  # the materialization asked for it (then_train)
    assert edges(trained, "input") == [(fs_name.namespace, fs_name.name, feature_set.fingerprint)]
    model_name = model_version_name(version)
    assert edges(trained, "output") == [(model_name.namespace, f"sha256:{version.artifact_sha256}", "")]
    assert model_name.name == f"sha256:{version.artifact_sha256}"
