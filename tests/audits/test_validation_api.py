"""POST /audits/validation/: each persona of the cast, the job's recorded parameters, and every bad input a 400
naming the field with no job; the same audit started from the model version page's form. Nothing here runs Spark
(tests/audits/test_validation_job.py does)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from audits.models import AuditReport
from core.choices import AuditEventType
from core.models import AuditEvent, Job
from tests.api_cases import ApiCase, World, matrix, run_case
from tests.audits.validation_factories import make_validation_credit
from tests.registry import factories

_empty_cache = factories._empty_cache
artifact_root = factories.artifact_root
world = factories.world

WRITERS = ("superuser", "admin_a", "engineer_a")


def _credit(world: World) -> dict[str, Any]:
    return make_validation_credit(
        world.cast.team_a, world.cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models"
    )


CASES = [
    ApiCase(
        "audits.validation",
        "post",
        lambda w: "/api/v1/audits/validation/",
        data=lambda w: {
            "model_version": w.model_version.pk,
            "dataset_version": w.dataset_version.pk,
            "label": "defaulted",
        },
        statuses={**dict.fromkeys(WRITERS, 202), "engineer_b": 400},
        setup=_credit,
        event=AuditEventType.JOB_REQUESTED,
        counted=(Job, AuditReport),
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)


def request_audit(objects: dict[str, Any], client: Any, **change: Any) -> Any:
    data = {
        "model_version": objects["model_version"].pk,
        "dataset_version": objects["dataset_version"].pk,
        "label": "defaulted",
        **change,
    }
    return client.post("/api/v1/audits/validation/", data, format="json")


def test_a_validation_audit_records_what_it_will_validate(world: World) -> None:
    # GIVEN a credit model and its evaluation data with an application time
    objects = _credit(world)
    # WHEN an engineer of the team asks for a validation with a holdout, a segment and a monotonic constraint
    response = request_audit(
        objects,
        world.client("engineer_a"),
        threshold=0.4,
        segment_column="REGION",
        time_column="applied_at",
        monotonic={"Income": "increasing"},
    )
    # THEN a Spark job is queued with the parameters, the columns as the schema spells them, and the defaults
    assert response.status_code == 202, response.content
    job = Job.objects.get(public_id=response.json()["id"])
    assert job.kind == "audits.validation"
    assert job.target_id == str(objects["model_version"].pk)
    assert job.params == {
        "dataset_version": objects["dataset_version"].pk,
        "label": "defaulted",
        "threshold": 0.4,
        "segment_column": "region",
        "time_column": "applied_at",
        "holdout_fraction": 0.2,
        "monotonic": {"income": "increasing"},
        "calibration_bins": 10,
        "min_segment_size": 30,
        "seed": 0,
        "score_bins": 1000,
    }


def test_score_bins_are_whole_reliability_bins(world: World) -> None:
    response = request_audit(_credit(world), world.client("engineer_a"), calibration_bins=7)
    assert response.status_code == 202, response.content
    assert Job.objects.get(public_id=response.json()["id"]).params["score_bins"] == 1001


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"label": "nope"}, "label", "'nope' is not a column of"),
        ({"label": "region"}, "label", "a binary label is boolean or an integer"),
        ({"threshold": 1.5}, "threshold", "A number from 0 to 1"),
        ({"threshold": -0.1}, "threshold", "A number from 0 to 1"),
        ({"segment_column": "district"}, "segment_column", "'district' is not a column of"),
        ({"segment_column": "defaulted"}, "segment_column", "The label cannot also be the segment column"),
        ({"time_column": "region"}, "time_column", "'region' is string; the holdout needs a date or timestamp"),
        ({"time_column": "income"}, "time_column", "'income' is float64; the holdout needs a date or timestamp"),
        ({"time_column": "when"}, "time_column", "'when' is not a column of"),
        ({"holdout_fraction": 0}, "holdout_fraction", "above 0"),
        ({"holdout_fraction": 0.95}, "holdout_fraction", "A number from 0 to 0.9"),
        ({"holdout_fraction": -0.2}, "holdout_fraction", "A number from 0 to 0.9"),
        ({"monotonic": {"region": "increasing"}}, "monotonic", "'region' is not a feature of the model"),
        ({"monotonic": {"age": "increasing"}}, "monotonic", "'age' is not a feature of the model"),
        ({"monotonic": {"income": "upwards"}}, "monotonic", '"increasing" or "decreasing", not'),
        ({"monotonic": ["income"]}, "monotonic", "dictionary"),
        ({"calibration_bins": 1}, "calibration_bins", "An integer from 2 to 100"),
        ({"calibration_bins": 101}, "calibration_bins", "An integer from 2 to 100"),
        ({"min_segment_size": 0}, "min_segment_size", "An integer from 1"),
        ({"seed": -1}, "seed", "An integer from 0"),
        ({"dataset_version": 999_999}, "dataset_version", 'Invalid pk "999999"'),
        ({"model_version": 999_999}, "model_version", 'Invalid pk "999999"'),
        ({"label": None}, "label", "null"),
        ({"surprise": 1}, "surprise", ""),
    ],
)
def test_bad_inputs_are_refused_naming_the_field(world: World, change: dict[str, Any], field: str, says: str) -> None:
    objects = _credit(world)
    client = world.client("engineer_a")  # before counting: making its token writes an event
    before = (Job.objects.count(), AuditEvent.objects.count())
    response = request_audit(objects, client, **change)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert field in error.get("fields", {}), error
    assert says in str(error), error
    assert (Job.objects.count(), AuditEvent.objects.count()) == before


def test_an_evaluation_dataset_of_another_team_is_refused(world: World) -> None:
    # GIVEN team B's dataset version, with the same columns
    objects = _credit(world)
    other = make_validation_credit(world.cast.team_b, world.cast.engineer_b, Path(settings.ARTIFACT_ROOT).parent / "b")
    # WHEN team A's engineer validates their model on it without a data access grant THEN refused (403, the field
    # named; docs/grants.md): nothing is queued
    before = Job.objects.count()
    response = request_audit(objects, world.client("engineer_a"), dataset_version=other["dataset_version"].pk)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "no_data_grant"
    assert response.json()["error"]["message"].startswith("dataset_version: ")
    assert Job.objects.count() == before


def _start_form(client: Any, version: Any, **fields: Any) -> Any:
    url = f"/models/{version.model_id}/versions/{version.number}/audits/new/"
    page = client.get(url).content.decode()
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page)
    assert key
    return client.post(url, {"idempotency_key": key.group(1), "kind": "validation", **fields})


def test_a_validation_audit_starts_from_the_model_version_page(
    cast: Any, artifact_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    # GIVEN the model version page's form, with the validation's own fields
    objects = make_validation_credit(cast.team_a, cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")
    client = Client()
    client.force_login(cast.engineer_a)
    # WHEN an engineer starts a validation with a holdout and two monotonic constraints
    with django_capture_on_commit_callbacks(execute=False):
        response = _start_form(
            client,
            objects["model_version"],
            dataset_version=objects["dataset_version"].pk,
            label="defaulted",
            time_column="applied_at",
            monotonic="income:increasing, debt:decreasing",
        )
    # THEN the job is queued with them
    job = Job.objects.get(kind="audits.validation")
    assert response.status_code == 302
    assert job.params["time_column"] == "applied_at"
    assert job.params["monotonic"] == {"income": "increasing", "debt": "decreasing"}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"time_column": "region"}, "time_column"),
        ({"monotonic": "income"}, "monotonic"),
        ({"monotonic": "planet:increasing"}, "monotonic"),
        ({"monotonic": "income:up"}, "monotonic"),
    ],
)
def test_a_refused_validation_form_shows_the_error_on_its_field(
    cast: Any, artifact_root: Path, fields: dict[str, Any], field: str
) -> None:
    objects = make_validation_credit(cast.team_a, cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")
    client = Client()
    client.force_login(cast.engineer_a)
    response = _start_form(
        client, objects["model_version"], dataset_version=objects["dataset_version"].pk, label="defaulted", **fields
    )
    assert response.status_code == 400
    assert f'id="id_{field}_error"' in response.content.decode()
    assert not Job.objects.exists()
