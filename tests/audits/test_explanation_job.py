"""The explanation audit job end to end on Spark (the session-wide ``spark`` fixture, the job function run in this
process through the same runner a worker uses): the report of a logistic scorer (the permutation explainer: the
graph is not one Assay reads as linear) and of a boosted tree ensemble (tree_exact), each carrying its background
as the contract says, additivity within tolerance, the protected groups' importance. Slow: few tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingClassifier

from audits.actions import do_request_audit
from audits.models import AuditReport
from audits.pipelines.explain import ADDITIVITY, build_explainer
from core.choices import JobStatus
from core.models import Job
from registry import artifacts
from tests.audits.factories import make_credit
from tests.audits.test_proxy_job import write_applications
from tests.registry.factories import make_model, make_model_version
from workers import audits_explain
from workers.runner import run_job


@pytest.fixture
def credit(transactional_db: None, cast: Any, settings: Any, tmp_path: Path) -> dict[str, Any]:
    settings.DATA_LAKE_ROOT = str(tmp_path / "lake")
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    write_applications(tmp_path / "lake" / "credit")
    return make_credit(cast.team_a, cast.engineer_a, tmp_path / "models")


def run(job: Job) -> Job:
    run_job(job.pk, audits_explain.audit_explanation.job_fn, task_id=job.task_id, worker="in-process")
    job.refresh_from_db()
    return job


def request(cast: Any, model_version: Any, dataset_version: Any, **params: Any) -> Job:
    job, _ = do_request_audit(
        model_version, kind="explanation", actor=cast.engineer_a, dataset_version=dataset_version.pk, params=params
    )
    return job


def test_an_explanation_audit_registers_a_report_carrying_its_background(
    credit: dict[str, Any], cast: Any, spark: Any
) -> None:
    # GIVEN a credit scorer of income and debt (a graph of Mul/Add/Sigmoid: explained by permutation)
    # WHEN the explanation audit runs on Spark with a small background and sample
    job = run(
        request(cast, credit["model_version"], credit["dataset_version"], background_rows=40, sample_rows=300, seed=7)
    )
    # THEN it registered one immutable report bound to the artifact and the data
    assert job.status == JobStatus.SUCCEEDED, job.error
    report = AuditReport.objects.get(job=job)
    assert report.kind == "explanation"
    assert report.artifact_sha256 == credit["model_version"].artifact_sha256
    assert report.dataset_fingerprint == credit["dataset_version"].content_fingerprint
    results = report.results
    # AND its background follows the contract: the dataset version, seed, rows, features in order, the values
    background = results["background"]
    assert set(background) == {"dataset_version", "seed", "rows", "features", "values"}
    assert background["dataset_version"] == credit["dataset_version"].pk
    assert background["seed"] == 7
    assert background["rows"] == 40
    assert background["features"] == ["income", "debt"]
    assert len(background["values"]) == 40
    assert all(len(row) == 2 and all(isinstance(v, float) for v in row) for row in background["values"])
    # AND the explainer that was chosen, with its budget and seed
    assert results["explainer"]["method"] == "permutation"
    assert results["explainer"]["output_space"] == "probability"
    assert results["explainer"]["parameters"]["max_evals"] == 500
    assert results["explainer"]["parameters"]["background_rows"] == 40
    assert results["explainer"]["parameters"]["seed"] == 7
    # AND the global figures: every sample row explained, additivity within tolerance, income first (a = 0.8)
    assert results["rows"] == 300
    assert results["additivity"] <= ADDITIVITY
    assert [f["feature"] for f in results["features"]] == ["income", "debt"]
    assert len(results["features"][0]["points"]) == 200
    assert [d["feature"] for d in results["dependence"]] == ["income", "debt"]
    assert set(results["by_group"]) == {"sex", "age_band"}
    assert sum(g["size"] for g in results["by_group"]["sex"]) == 300
    assert {g["group"] for g in results["importance_shift"]["sex"]} == {"f", "m"}
    assert report.checks["additivity"] == "pass"
    assert set(report.checks) == {"additivity", "importance_shift"}
    assert results["thresholds"] == report.thresholds
    # AND the background rebuilds the same explainer the report describes (what the local explainer does)
    rebuilt = build_explainer(
        artifacts.read_verified(credit["model_version"].artifact_sha256),
        credit["model_version"].interface,
        np.asarray(background["values"], dtype=np.float64),
        seed=background["seed"],
        max_evals=results["explainer"]["parameters"]["max_evals"],
        method=results["explainer"]["method"],
    )
    assert rebuilt.method == "permutation"


def _tree_model(folder: Path, cast: Any) -> Any:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(800, 2)).astype(np.float32)
    y = (x[:, 0] - 0.5 * x[:, 1] + rng.normal(size=800) > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(x, y)
    graph = to_onnx(model, x[:1], options={"zipmap": False})
    onnx.helper.set_model_props(graph, {"features": "income,debt"})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "trees.onnx"
    path.write_bytes(graph.SerializeToString())
    registered = make_model(cast.team_a, cast.engineer_a, name="Boosted credit scorer")
    return make_model_version(registered, cast.engineer_a, path)


def test_a_tree_ensemble_is_explained_exactly(credit: dict[str, Any], cast: Any, spark: Any, tmp_path: Path) -> None:
    # GIVEN a boosted tree ensemble over income and debt (one matrix input whose metadata names its columns)
    version = _tree_model(tmp_path / "trees", cast)
    # WHEN its explanation audit runs
    job = run(request(cast, version, credit["dataset_version"], sample_rows=500, protected_attributes=["sex"]))
    # THEN the exact tree explainer explained it, in probability, additively
    assert job.status == JobStatus.SUCCEEDED, job.error
    results = AuditReport.objects.get(job=job).results
    assert results["explainer"]["method"] == "tree_exact"
    assert results["explainer"]["parameters"]["trees"] == 20
    assert results["explainer"]["output_space"] == "probability"
    assert results["background"]["rows"] == 100
    assert results["rows"] == 500
    assert results["additivity"] <= ADDITIVITY
    assert list(results["by_group"]) == ["sex"]
