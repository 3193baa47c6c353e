"""The explanation audit over the API: POST /audits/explanation/ (a job) tried by every persona; what the job will
run with; every bad input a 400 naming the field with nothing written (parameters out of range, a dataset whose
columns do not match the model, a model with a string input, a model with no single score). No Spark here
(tests/audits/test_explanation_job.py runs the job)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx
import pytest
from django.conf import settings
from onnx import TensorProto, helper

from audits.models import AuditReport
from core.choices import AuditEventType
from core.models import AuditEvent, Job
from tests.api_cases import PERSONAS, ApiCase, World, matrix, run_case
from tests.audits.factories import CREDIT_SCHEMA, make_credit
from tests.audits.onnx_models import scorer_bytes
from tests.registry import factories
from tests.registry.factories import make_dataset, make_dataset_version, make_model, make_model_version

_empty_cache = factories._empty_cache
artifact_root = factories.artifact_root
world = factories.world

WRITERS = ("superuser", "admin_a", "engineer_a")
URL = "/api/v1/audits/explanation/"


def _credit(world: World) -> dict[str, Any]:
    return make_credit(world.cast.team_a, world.cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")


CASES = [
    ApiCase(
        "audits.explanation",
        "post",
        lambda w: URL,
        data=lambda w: {"model_version": w.model_version.pk, "dataset_version": w.dataset_version.pk},
        statuses={**dict.fromkeys(WRITERS, 202), "engineer_b": 400},
        setup=_credit,
        event=AuditEventType.JOB_REQUESTED,
        counted=(Job, AuditReport),
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES, PERSONAS))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)


def request_audit(world: World, objects: dict[str, Any], client: Any = None, **change: Any) -> Any:
    data = {"model_version": objects["model_version"].pk, "dataset_version": objects["dataset_version"].pk, **change}
    return (client or world.client("engineer_a")).post(URL, data, format="json")


def test_an_explanation_audit_records_what_it_will_run_with(world: World) -> None:
    # GIVEN a credit model reading income and debt, on data whose schema flags sex and age_band as protected
    objects = _credit(world)
    # WHEN an engineer asks for a global explanation naming only the sample's size
    response = request_audit(world, objects, sample_rows=500)
    # THEN a Spark job is queued with the model's features, the flagged attributes and the defaults
    assert response.status_code == 202, response.content
    job = Job.objects.get(public_id=response.json()["id"])
    assert job.kind == "audits.explanation"
    assert job.params == {
        "dataset_version": objects["dataset_version"].pk,
        "features": ["income", "debt"],
        "protected_attributes": ["sex", "age_band"],
        "background_rows": 100,
        "sample_rows": 500,
        "seed": 0,
        "max_evals": 500,
        "method": None,
        "min_group_size": 30,
        "top": 5,
    }


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"background_rows": 5}, "background_rows", "An integer from 10 to 1000"),
        ({"background_rows": 5000}, "background_rows", "An integer from 10 to 1000"),
        ({"sample_rows": 10}, "sample_rows", "An integer from 50 to 100000"),
        ({"sample_rows": "all"}, "sample_rows", "valid integer"),
        ({"max_evals": 1}, "max_evals", "An integer from 10"),
        ({"seed": -1}, "seed", "An integer from 0"),
        ({"top": 0}, "top", "An integer from 1 to 50"),
        ({"min_group_size": 0}, "min_group_size", "An integer from 1"),
        ({"method": "kernel"}, "method", "tree_exact, linear, permutation"),
        ({"protected_attributes": ["nationality"]}, "protected_attributes", "'nationality' is not a column of"),
        ({"protected_attributes": ["sex", "sex"]}, "protected_attributes", "distinct column names"),
        ({"dataset_version": 999_999}, "dataset_version", 'Invalid pk "999999"'),
        ({"model_version": 999_999}, "model_version", 'Invalid pk "999999"'),
        ({"surprise": 1}, "surprise", ""),
    ],
)
def test_bad_inputs_are_refused_naming_the_field(world: World, change: dict[str, Any], field: str, says: str) -> None:
    objects = _credit(world)
    refused(world, objects, field, says, **change)


def refused(world: World, objects: dict[str, Any], field: str, says: str, **change: Any) -> dict[str, Any]:
    client = world.client("engineer_a")  # before counting: making its token writes an event
    before = (Job.objects.count(), AuditEvent.objects.count())
    response = request_audit(world, objects, client, **change)
    assert response.status_code == 400, response.content
    error: dict[str, Any] = response.json()["error"]
    assert field in error.get("fields", {}), error
    assert says in str(error), error
    assert (Job.objects.count(), AuditEvent.objects.count()) == before
    return error


def _dataset(world: World, columns: list[dict[str, Any]], name: str) -> Any:
    dataset = make_dataset(world.cast.team_a, world.cast.engineer_a, name=name, location=f"lake://{name.lower()}")
    return make_dataset_version(dataset, world.cast.engineer_a, schema={"columns": columns})


def test_a_dataset_whose_columns_do_not_match_the_model_is_refused_naming_what_is_missing(world: World) -> None:
    objects = _credit(world)
    without_debt = _dataset(world, [c for c in CREDIT_SCHEMA["columns"] if c["name"] != "debt"], "NoDebt")
    refused(world, objects, "dataset_version", "it lacks debt", dataset_version=without_debt.pk)
    textual = [{**c, "type": "string"} if c["name"] == "income" else c for c in CREDIT_SCHEMA["columns"]]
    text_income = _dataset(world, textual, "TextIncome")
    refused(world, objects, "dataset_version", "income is not numeric", dataset_version=text_income.pk)


def _model(world: World, name: str, graph: onnx.ModelProto) -> Any:
    folder = Path(settings.ARTIFACT_ROOT).parent / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.onnx"
    path.write_bytes(graph.SerializeToString())
    registered = make_model(world.cast.team_a, world.cast.engineer_a, name=name)
    return make_model_version(registered, world.cast.engineer_a, path)


def test_a_model_with_a_string_input_is_refused(world: World) -> None:
    # GIVEN a model that also takes the region as text (unused by its score, but an input all the same)
    objects = _credit(world)
    graph = onnx.load_from_string(scorer_bytes())
    graph.graph.input.append(helper.make_tensor_value_info("region", TensorProto.STRING, [None, 1]))
    version = _model(world, "Texty", graph)
    # THEN an explanation is refused on the model version, naming the input
    refused(world, objects, "model_version", "string input(s) region", model_version=version.pk)


def test_a_model_with_no_single_score_is_refused_naming_its_outputs(world: World) -> None:
    # GIVEN a three-class model: its output has three columns, no positive class to explain
    objects = _credit(world)
    graph = onnx.load_from_string(scorer_bytes())
    graph.graph.node[-1].input.append("p")
    del graph.graph.output[:]
    graph.graph.output.append(helper.make_tensor_value_info("probability", TensorProto.FLOAT, [None, 3]))
    version = _model(world, "ThreeWay", graph)
    error = refused(world, objects, "model_version", "no single score to explain", model_version=version.pk)
    assert "probability (float32, shape [None, 3])" in str(error), error


def test_a_dataset_that_flags_no_attribute_needs_them_named(world: World) -> None:
    objects = _credit(world)
    unflagged = _dataset(
        world,
        [{k: v for k, v in c.items() if k != "protected_attribute"} for c in CREDIT_SCHEMA["columns"]],
        "Unflagged",
    )
    refused(world, objects, "protected_attributes", "flags no column", dataset_version=unflagged.pk)
    response = request_audit(world, objects, dataset_version=unflagged.pk, protected_attributes=["region"])
    assert response.status_code == 202, response.content
