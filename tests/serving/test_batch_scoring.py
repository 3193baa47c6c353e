"""Batch scoring (serving.batch, workers.batch_scoring, serving.pipelines.batch_score): a deployed model version
scores a dataset version on Spark and the predictions become a new dataset version, with lineage.

One test runs Spark (the session-wide ``spark`` fixture, the job in this process through the real runner); the
refusals at request and the job's own refusals before Spark are tried without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from onnx import TensorProto, helper, numpy_helper
from rest_framework.test import APIClient

from core.choices import JobStatus
from core.models import Job
from lineage.models import LineageRun, RunEdge
from lineage.naming import dataset_version_name, model_version_name
from registry.choices import FingerprintSource
from registry.models import Dataset, DatasetVersion
from registry.pipelines import io
from serving.actions import do_deploy
from serving.batch import BATCH_SCORE_KIND
from serving.models import Deployment
from serving.pipelines.batch_plan import BatchScoringError, plan_batch
from tests.registry.factories import make_dataset, make_dataset_version
from tests.serving.factories import approve, new_version, request
from workers import batch_scoring
from workers.runner import run_job

ROWS = 30
WEIGHTS = np.array([[0.0001], [-0.05]], dtype=np.float32)
SCORE_SCHEMA: dict[str, Any] = {
    "columns": [
        {"name": "customer_id", "type": "int64", "nullable": False},
        {"name": "income", "type": "float64", "nullable": True, "personal_data": True},
        {"name": "tenure", "type": "int32", "nullable": False},
    ]
}


@pytest.fixture(scope="session")
def onnx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release world's model here: one input per column (income, tenure), a score and a 0/1 label out."""
    graph = helper.make_graph(
        [
            helper.make_node("Concat", ["income", "tenure"], ["x"], axis=1),
            helper.make_node("MatMul", ["x", "w"], ["z"]),
            helper.make_node("Sigmoid", ["z"], ["score"]),
            helper.make_node("Greater", ["score", "half"], ["above"]),
            helper.make_node("Cast", ["above"], ["label"], to=TensorProto.INT64),
        ],
        "scorer",
        [
            helper.make_tensor_value_info("income", TensorProto.FLOAT, ["N", 1]),
            helper.make_tensor_value_info("tenure", TensorProto.FLOAT, ["N", 1]),
        ],
        [
            helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1]),
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N", 1]),
        ],
        initializer=[
            numpy_helper.from_array(WEIGHTS, "w"),
            numpy_helper.from_array(np.array([0.5], dtype=np.float32), "half"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path_factory.mktemp("batch-onnx") / "scorer.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture
def deployed(rw: Any) -> Deployment:
    approve(rw)
    return do_deploy(rw.release, actor=rw.cast.engineer_a)


@pytest.fixture
def scoring_lake(settings: Any, tmp_path: Path) -> Path:
    settings.DATA_LAKE_ROOT = str(tmp_path / "lake")
    settings.SPARK_JOB_POLL_SECONDS = 1
    folder = tmp_path / "lake" / "to-score"
    folder.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array(range(ROWS), pa.int64()),
                "income": pa.array([1000.0 * i if i % 7 else None for i in range(ROWS)], pa.float64()),
                "tenure": pa.array([i % 12 for i in range(ROWS)], pa.int32()),
            }
        ),
        folder / "part-0.parquet",
    )
    return tmp_path / "lake"


def to_score(rw: Any, schema: dict[str, Any] | None = None, name: str = "To score") -> DatasetVersion:
    dataset = make_dataset(rw.cast.team_a, rw.cast.engineer_a, name=name, location="lake://to-score", partitioning=[])
    version: DatasetVersion = make_dataset_version(dataset, rw.cast.engineer_a, schema=schema or SCORE_SCHEMA)
    return version


def client_of(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def post(user: Any, **body: Any) -> Any:
    return client_of(user).post("/api/v1/batch-scoring/", body, format="json")


def run(job: Job) -> Job:
    run_job(job.pk, batch_scoring.batch_score.job_fn, task_id=job.task_id, worker="in-process")
    job.refresh_from_db()
    return job


def test_a_deployed_version_scores_a_dataset_version_into_a_new_one_with_lineage(
    rw: Any, deployed: Deployment, scoring_lake: Path, spark: Any, onnx_path: Path
) -> None:
    source = to_score(rw)
    # GIVEN the model deployed in production WHEN engineer A asks for its predictions on the dataset version
    answer = post(
        rw.cast.engineer_a,
        model=rw.version.model_id,
        environment=rw.environment.slug,
        dataset_version=source.pk,
        output_name="Scores Q3",
    )
    assert answer.status_code == 202, answer.json()
    job = Job.objects.get(public_id=answer.json()["id"])
    assert (job.kind, job.target_id) == (BATCH_SCORE_KIND, str(deployed.pk))
    job = run(job)
    # THEN the job registered a dataset of team A, its version 1 fingerprinted by Assay and its files pinned
    assert job.status == JobStatus.SUCCEEDED, job.error
    made = DatasetVersion.objects.select_related("dataset").get(pk=job.result["dataset_version"])
    assert made.dataset.name == "Scores Q3"
    assert made.dataset.team == rw.cast.team_a
    assert made.dataset.location == f"lake://predictions/team-a/{job.public_id}"
    assert made.dataset.classification == source.dataset.classification
    assert made.fingerprint_source == FingerprintSource.COMPUTED
    assert made.files_digest
    assert made.files_digest_job_id == job.pk
    assert made.row_count == ROWS
    columns = {c["name"]: c for c in made.schema["columns"]}
    assert list(columns) == ["customer_id", "income", "tenure", "prediction_score", "prediction_label"]
    assert columns["income"].get("personal_data") is True  # the input's flags go with its columns
    assert (columns["prediction_score"]["type"], columns["prediction_label"]["type"]) == ("float32", "int64")
    # AND the predictions are ONNX Runtime's own on those rows (a null income scored as NaN)
    written = pq.read_table(scoring_lake / "predictions" / "team-a" / str(job.public_id)).to_pandas()
    written = written.sort_values("customer_id").reset_index(drop=True)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    expected_score, expected_label = session.run(
        ["score", "label"],
        {
            "income": written["income"].to_numpy(np.float32).reshape(-1, 1),
            "tenure": written["tenure"].to_numpy(np.float32).reshape(-1, 1),
        },
    )
    np.testing.assert_array_equal(written["prediction_score"].to_numpy(), expected_score.reshape(-1))
    np.testing.assert_array_equal(written["prediction_label"].to_numpy(), expected_label.reshape(-1))
    assert not io.staging_root(scoring_lake).exists() or not any(io.staging_root(scoring_lake).iterdir())
    # AND the run's lineage: the dataset version and the model version in, the predictions' version out
    lineage = LineageRun.objects.get(assay_job=job)
    assert list(lineage.transitions.order_by("event_time", "pk").values_list("state", flat=True)) == [
        "START",
        "COMPLETE",
    ]
    edges = {
        (e.direction, e.dataset.namespace.name, e.dataset.name)
        for e in RunEdge.objects.filter(run=lineage).select_related("dataset__namespace")
    }
    source_name, made_name, model_name = (
        dataset_version_name(source),
        dataset_version_name(made),
        model_version_name(rw.version),
    )
    assert edges == {
        ("input", source_name.namespace, source_name.name),
        ("input", model_name.namespace, model_name.name),
        ("output", made_name.namespace, made_name.name),
    }
    # AND a retry of the job (its worker died after registering) finds the version instead of scoring again
    again = batch_scoring.batch_score.job_fn(job, batch_scoring.JobContext(job))
    assert again["dataset_version"] == made.pk
    assert Dataset.objects.filter(name="Scores Q3").count() == 1


def test_refusals_at_request_write_nothing(rw: Any, deployed: Deployment, scoring_lake: Path) -> None:
    source = to_score(rw)
    engineer = rw.cast.engineer_a
    base = {"deployment": deployed.pk, "dataset_version": source.pk, "output_name": "Scores"}

    def refused(user: Any, status: int, field: str | None = None, **changes: Any) -> dict[str, Any]:
        body = {key: value for key, value in {**base, **changes}.items() if value is not None}
        answer = post(user, **body)
        assert answer.status_code == status, answer.json()
        if field is not None:
            assert field in answer.json()["error"]["fields"], answer.json()
        return dict(answer.json())

    # A deployment and a model at once, or a model without its environment: 400
    refused(engineer, 400, "deployment", model=rw.version.model_id, environment=rw.environment.slug)
    refused(engineer, 400, "environment", deployment=None, model=rw.version.model_id)
    # Another team's engineer sees none of it: 404; team A's auditor sees it but may not score with it: 403
    refused(rw.cast.engineer_b, 404)
    refused(rw.cast.auditor, 403)
    # An environment where the model serves nothing: 409 (nothing deployed there)
    other = type(rw.environment).objects.create(slug="staging", name="Staging", rank=1)
    refused(engineer, 409, deployment=None, model=rw.version.model_id, environment=other.slug)
    refused(engineer, 404, deployment=None, model=rw.version.model_id, environment="nowhere")
    # Columns the model reads are missing, or of a type that cannot feed it: 400 naming the dataset version
    lacking = to_score(rw, {"columns": SCORE_SCHEMA["columns"][:2]}, name="Lacking")
    message = refused(engineer, 400, "dataset_version", dataset_version=lacking.pk)["error"]["fields"]
    assert "lacks the model's input column(s) tenure" in str(message)
    mistyped = to_score(
        rw,
        {"columns": [*SCORE_SCHEMA["columns"][:2], {"name": "tenure", "type": "string", "nullable": True}]},
        name="Mistyped",
    )
    message = refused(engineer, 400, "dataset_version", dataset_version=mistyped.pk)["error"]["fields"]
    assert "tenure is string, the input 'tenure' takes float32" in str(message)
    # An output name already taken in the team: 400 naming it
    refused(engineer, 400, "output_name", output_name="To score")
    # A deployment replaced by another version's: 409
    version_2 = new_version(rw, scoring_lake, 2)
    release_2 = request(rw, version_2)
    approve(rw, release_2)
    do_deploy(release_2, actor=engineer)
    assert "does not serve now" in refused(engineer, 409)["error"]["message"]
    assert not Job.objects.filter(kind=BATCH_SCORE_KIND).exists()


def test_a_job_whose_deployment_stopped_serving_fails_before_spark(
    rw: Any, deployed: Deployment, scoring_lake: Path, monkeypatch: Any
) -> None:
    # GIVEN a batch-scoring job asked for while the deployment served
    answer = post(rw.cast.engineer_a, deployment=deployed.pk, dataset_version=to_score(rw).pk, output_name="Scores")
    assert answer.status_code == 202, answer.json()
    job = Job.objects.get(public_id=answer.json()["id"])
    # WHEN another version takes over as primary before the job runs
    version_2 = new_version(rw, scoring_lake, 2)
    release_2 = request(rw, version_2)
    approve(rw, release_2)
    do_deploy(release_2, actor=rw.cast.engineer_a)
    monkeypatch.setattr(batch_scoring, "spark_work", lambda *a, **k: pytest.fail("Spark was started"))
    job = run(job)
    # THEN the job fails with the reason, its lineage run ends FAIL, and no dataset was registered
    assert job.status == JobStatus.FAILED
    assert "does not serve now" in job.error
    assert "Nothing was scored" in job.error
    lineage = LineageRun.objects.get(assay_job=job)
    assert list(lineage.transitions.order_by("event_time", "pk").values_list("state", flat=True)) == ["START", "FAIL"]
    assert not Dataset.objects.filter(name="Scores").exists()


def test_the_plan_names_each_mismatch() -> None:
    interface = {
        "inputs": [
            {"name": "X", "kind": "tensor", "elem_type": "float32", "shape": [None, 2]},
            {"name": "segment", "kind": "tensor", "elem_type": "string", "shape": [None, 1]},
        ],
        "outputs": [
            {"name": "label", "kind": "tensor", "elem_type": "int64", "shape": [None]},
            {"name": "probabilities", "kind": "tensor", "elem_type": "float32", "shape": [None, 2]},
            {"name": "output_probability", "kind": "sequence", "elem_type": "map", "shape": []},
        ],
        "metadata_props": {"features": "income,tenure"},
    }
    columns = [
        {"name": "Income", "type": "decimal(12,2)"},
        {"name": "tenure", "type": "int32"},
        {"name": "segment", "type": "string"},
    ]
    plan = plan_batch(interface, columns)
    assert [feed.columns for feed in plan.feeds] == [("Income", "tenure"), ("segment",)]
    assert [c.name for c in plan.outputs] == [
        "prediction_label",
        "prediction_probabilities_0",
        "prediction_probabilities_1",
    ]
    assert plan.skipped == ("output_probability",)
    with pytest.raises(BatchScoringError, match="segment is int64, the input 'segment' takes string"):
        plan_batch(interface, [*columns[:2], {"name": "segment", "type": "int64"}])
    with pytest.raises(BatchScoringError, match="already has the prediction column"):
        plan_batch(interface, [*columns, {"name": "prediction_label", "type": "int64"}])
