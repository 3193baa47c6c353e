"""The audits' API: POST /audits/fairness/ (a job), GET /audit-reports/ and /audit-reports/{id}/.

Each persona of the cast tries each endpoint; then every bad input of a request is a 400 naming the field, with no
job. Nothing here runs Spark (tests/audits/test_audit_job.py does).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from audits.models import AuditReport
from core.choices import AuditEventType
from core.models import AuditEvent, Job
from tests.api_cases import PERSONAS, TEAM_A, ApiCase, World, matrix, run_case
from tests.audits.factories import make_credit, make_report
from tests.registry import factories
from tests.registry.factories import make_dataset, make_dataset_version

_empty_cache = factories._empty_cache
artifact_root = factories.artifact_root
world = factories.world

WRITERS = ("superuser", "admin_a", "engineer_a")
READERS = ("superuser", *TEAM_A)


def _credit(world: World) -> dict[str, Any]:
    return make_credit(world.cast.team_a, world.cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")


def _reported(world: World) -> dict[str, Any]:
    objects = _credit(world)
    report = make_report(objects["model_version"], objects["dataset_version"], world.cast.engineer_a)
    return {**objects, "report": report}


CASES = [
    ApiCase(
        "audits.fairness",
        "post",
        lambda w: "/api/v1/audits/fairness/",
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
    ApiCase(
        "audit_reports.list",
        "get",
        lambda w: "/api/v1/audit-reports/",
        statuses=dict.fromkeys(PERSONAS, 200),
        setup=_reported,
        listed=lambda w: w.report.digest,
        visible_to=READERS,
    ),
    ApiCase(
        "audit_reports.detail",
        "get",
        lambda w: f"/api/v1/audit-reports/{w.report.pk}/",
        statuses=dict.fromkeys(READERS, 200),
        default=404,
        setup=_reported,
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)


def request_audit(world: World, objects: dict[str, Any], client: Any = None, **change: Any) -> Any:
    data = {
        "model_version": objects["model_version"].pk,
        "dataset_version": objects["dataset_version"].pk,
        "label": "defaulted",
        **change,
    }
    client = client or world.client("engineer_a")
    return client.post("/api/v1/audits/fairness/", data, format="json")


def test_a_fairness_audit_records_what_it_will_audit(world: World) -> None:
    # GIVEN a credit model and its evaluation data, whose schema flags sex and age_band as protected
    objects = _credit(world)
    # WHEN an engineer of the team asks for a fairness audit without naming the attributes
    response = request_audit(world, objects, threshold=0.4)
    # THEN a Spark job is queued with the flagged attributes and the defaults, pinned in its parameters
    assert response.status_code == 202, response.content
    job = Job.objects.get(public_id=response.json()["id"])
    assert job.kind == "audits.fairness"
    assert job.target_id == str(objects["model_version"].pk)
    assert job.params == {
        "dataset_version": objects["dataset_version"].pk,
        "label": "defaulted",
        "protected_attributes": ["sex", "age_band"],
        "segment_column": None,
        "threshold": 0.4,
        "min_group_size": 30,
        "bootstrap_iterations": 200,
        "seed": 0,
        "score_bins": 1000,
    }


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"label": "nope"}, "label", "'nope' is not a column of"),
        ({"label": "region"}, "label", "'region' is string; a binary label is boolean or an integer"),
        ({"protected_attributes": ["nationality"]}, "protected_attributes", "'nationality' is not a column of"),
        ({"protected_attributes": ["sex", "sex"]}, "protected_attributes", "distinct column names"),
        ({"protected_attributes": ["defaulted"]}, "protected_attributes", "label cannot also be"),
        ({"segment_column": "district"}, "segment_column", "'district' is not a column of"),
        ({"segment_column": "sex"}, "segment_column", "is the label or a protected attribute"),
        ({"threshold": 1.5}, "threshold", "A number from 0 to 1"),
        ({"threshold": -0.1}, "threshold", "A number from 0 to 1"),
        ({"min_group_size": 0}, "min_group_size", "An integer from 1"),
        ({"bootstrap_iterations": 100_000}, "bootstrap_iterations", "An integer from 0 to 10000"),
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
    response = request_audit(world, objects, client, **change)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert field in error.get("fields", {}), error
    assert says in str(error), error
    assert (Job.objects.count(), AuditEvent.objects.count()) == before


def test_an_evaluation_dataset_of_another_team_is_refused(world: World) -> None:
    # GIVEN team B's dataset version, with the same columns
    objects = _credit(world)
    other = make_credit(world.cast.team_b, world.cast.engineer_b, Path(settings.ARTIFACT_ROOT).parent / "b")
    # WHEN team A's engineer audits their model on it without a data access grant THEN refused (403, the field
    # named, the refusal recorded): nothing is queued (docs/grants.md)
    before = Job.objects.count()
    response = request_audit(world, objects, dataset_version=other["dataset_version"].pk)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "no_data_grant"
    assert response.json()["error"]["message"].startswith("dataset_version: ")
    assert AuditEvent.objects.filter(event_type=AuditEventType.DATA_ACCESS_REFUSED).count() == 1
    assert Job.objects.count() == before


def test_a_dataset_that_does_not_match_the_model_s_interface_is_refused(world: World) -> None:
    # GIVEN a dataset of the team with the label and protected attribute, but without the model's "debt" input
    objects = _credit(world)
    schema = {"columns": [c for c in objects["dataset_version"].schema["columns"] if c["name"] != "debt"]}
    dataset = make_dataset(world.cast.team_a, world.cast.engineer_a, name="Credit lite", location="lake://lite")
    lite = make_dataset_version(dataset, world.cast.engineer_a, schema=schema)
    response = request_audit(world, objects, dataset_version=lite.pk)
    assert response.status_code == 400
    assert "does not match the interface" in str(response.json())
    assert "lacks debt" in str(response.json())


def test_a_dataset_without_protected_attributes_needs_them_named(world: World) -> None:
    objects = _credit(world)
    columns = objects["dataset_version"].schema["columns"]
    schema = {"columns": [{k: v for k, v in c.items() if k != "protected_attribute"} for c in columns]}
    dataset = make_dataset(world.cast.team_a, world.cast.engineer_a, name="Unflagged", location="lake://unflagged")
    unflagged = make_dataset_version(dataset, world.cast.engineer_a, schema=schema)
    response = request_audit(world, objects, dataset_version=unflagged.pk)
    assert response.status_code == 400
    assert "flags no column as a protected attribute" in str(response.json())
    assert request_audit(world, objects, dataset_version=unflagged.pk, protected_attributes=["sex"]).status_code == 202


def test_a_report_filters_by_artifact_and_verdict(world: World) -> None:
    objects = _reported(world)
    client = world.client("engineer_a")
    sha = objects["model_version"].artifact_sha256
    assert client.get(f"/api/v1/audit-reports/?sha256={sha}").json()["count"] == 1
    assert client.get("/api/v1/audit-reports/?verdict=fail").json()["count"] == 0
    detail = client.get(f"/api/v1/audit-reports/{objects['report'].pk}/").json()
    assert detail["digest"] == objects["report"].digest
    assert detail["results"]["verdict"] == "pass"
    assert client.get("/api/v1/audit-reports/?verdict=maybe").status_code == 400
