"""Proxy detection over the API: POST /audits/proxy/ (a job) and POST /audit-reports/{id}/justifications/, each
tried by every persona; every bad input a 400 naming the field with nothing written; the justification rules
(compliance officers only, flagged pairs only, once) and the judge that counts them. No Spark here
(tests/audits/test_proxy_job.py runs the job)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError

from audits.actions import do_justify_proxy
from audits.kinds import spec
from audits.models import AuditReport, ProxyJustification
from core.choices import AuditEventType
from core.models import AuditEvent, Job
from tests.api_cases import PERSONAS, ApiCase, World, matrix, run_case
from tests.audits.factories import make_credit, make_report
from tests.audits.proxy_reports import make_proxy_report, pair, proxy_results
from tests.registry import factories
from tests.registry.factories import make_dataset, make_dataset_version

_empty_cache = factories._empty_cache
artifact_root = factories.artifact_root
world = factories.world

WRITERS = ("superuser", "admin_a", "engineer_a")
OFFICERS = ("superuser", "compliance")


def _credit(world: World) -> dict[str, Any]:
    return make_credit(world.cast.team_a, world.cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")


def _reported(world: World) -> dict[str, Any]:
    objects = _credit(world)
    report = make_proxy_report(objects["model_version"], objects["dataset_version"], world.cast.engineer_a)
    return {**objects, "report": report}


CASES = [
    ApiCase(
        "audits.proxy",
        "post",
        lambda w: "/api/v1/audits/proxy/",
        data=lambda w: {"model_version": w.model_version.pk, "dataset_version": w.dataset_version.pk},
        statuses={**dict.fromkeys(WRITERS, 202), "engineer_b": 400},
        setup=_credit,
        event=AuditEventType.JOB_REQUESTED,
        counted=(Job, AuditReport),
    ),
    ApiCase(
        "audit_reports.justify",
        "post",
        lambda w: f"/api/v1/audit-reports/{w.report.pk}/justifications/",
        data=lambda w: {"feature": "income", "attribute": "sex", "reason": "Income is what credit is about."},
        statuses={**dict.fromkeys(OFFICERS, 201), "engineer_b": 404},
        setup=_reported,
        event=AuditEventType.PROXY_JUSTIFIED,
        counted=(ProxyJustification,),
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES, PERSONAS))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)


def request_audit(world: World, objects: dict[str, Any], client: Any = None, **change: Any) -> Any:
    data = {"model_version": objects["model_version"].pk, "dataset_version": objects["dataset_version"].pk, **change}
    return (client or world.client("engineer_a")).post("/api/v1/audits/proxy/", data, format="json")


def test_a_proxy_audit_records_what_it_will_audit(world: World) -> None:
    # GIVEN a credit model reading income and debt, and data whose schema flags sex and age_band as protected
    objects = _credit(world)
    # WHEN an engineer asks for a proxy audit without naming the attributes
    response = request_audit(world, objects, sample_rows=100_000)
    # THEN a Spark job is queued with the model's inputs as features, the flagged columns as attributes
    assert response.status_code == 202, response.content
    job = Job.objects.get(public_id=response.json()["id"])
    assert job.kind == "audits.proxy"
    assert job.params == {
        "dataset_version": objects["dataset_version"].pk,
        "features": ["income", "debt"],
        "attributes": ["sex", "age_band"],
        "bins": 10,
        "max_categories": 20,
        "sample_rows": 100_000,
        "seed": 0,
    }


def test_prohibited_inputs_are_attributes_by_default(world: World) -> None:
    objects = _credit(world)
    columns = [
        {**c, "prohibited_input": True} if c["name"] == "region" else c
        for c in objects["dataset_version"].schema["columns"]
    ]
    dataset = make_dataset(world.cast.team_a, world.cast.engineer_a, name="Flagged", location="lake://flagged")
    version = make_dataset_version(dataset, world.cast.engineer_a, schema={"columns": columns})
    response = request_audit(world, objects, dataset_version=version.pk)
    assert response.status_code == 202, response.content
    assert Job.objects.get(public_id=response.json()["id"]).params["attributes"] == ["sex", "age_band", "region"]


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"attributes": ["nationality"]}, "attributes", "'nationality' is not a column of"),
        ({"attributes": ["sex", "sex"]}, "attributes", "distinct column names"),
        ({"attributes": []}, "attributes", "at least 1"),
        ({"bins": 1}, "bins", "An integer from 2 to 100"),
        ({"bins": 500}, "bins", "An integer from 2 to 100"),
        ({"max_categories": 1}, "max_categories", "An integer from 2 to 1000"),
        ({"sample_rows": 10}, "sample_rows", "An integer from 1000"),
        ({"seed": -1}, "seed", "An integer from 0"),
        ({"bins": "many"}, "bins", "valid integer"),
        ({"dataset_version": 999_999}, "dataset_version", 'Invalid pk "999999"'),
        ({"model_version": 999_999}, "model_version", 'Invalid pk "999999"'),
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
    objects = _credit(world)
    other = make_credit(world.cast.team_b, world.cast.engineer_b, Path(settings.ARTIFACT_ROOT).parent / "b")
    before = Job.objects.count()
    response = request_audit(world, objects, dataset_version=other["dataset_version"].pk)
    # without a data access grant: refused (403, the field named; docs/grants.md), nothing queued
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "no_data_grant"
    assert response.json()["error"]["message"].startswith("dataset_version: ")
    assert Job.objects.count() == before


def test_a_dataset_that_flags_no_attribute_needs_them_named(world: World) -> None:
    # GIVEN a dataset of the team whose schema flags nothing protected or prohibited
    objects = _credit(world)
    columns = objects["dataset_version"].schema["columns"]
    schema = {"columns": [{k: v for k, v in c.items() if k != "protected_attribute"} for c in columns]}
    dataset = make_dataset(world.cast.team_a, world.cast.engineer_a, name="Unflagged", location="lake://unflagged")
    unflagged = make_dataset_version(dataset, world.cast.engineer_a, schema=schema)
    # WHEN a proxy audit names no attribute THEN it is refused on "attributes"; naming one is accepted
    response = request_audit(world, objects, dataset_version=unflagged.pk)
    assert response.status_code == 400
    assert (
        "flags no column as a protected attribute or a prohibited input"
        in response.json()["error"]["fields"]["attributes"][0]
    )
    assert request_audit(world, objects, dataset_version=unflagged.pk, attributes=["region"]).status_code == 202


def test_a_model_input_named_as_an_attribute_is_audited_as_a_direct_use(world: World) -> None:
    # A feature that is itself an attribute is not refused: the job flags it as a direct use (test_proxy_pipeline).
    objects = _credit(world)
    response = request_audit(world, objects, attributes=["income"])
    assert response.status_code == 202, response.content


# --- Justifications -----------------------------------------------------------------------------------------------


def justify(world: World, report: Any, persona: str = "compliance", **change: Any) -> Any:
    data = {"feature": "income", "attribute": "sex", "reason": "Income is what credit is about.", **change}
    return world.client(persona).post(f"/api/v1/audit-reports/{report.pk}/justifications/", data, format="json")


def test_a_compliance_officer_justifies_a_flagged_proxy_once_and_the_check_then_passes(world: World) -> None:
    # GIVEN a proxy report that flagged income as a proxy of sex, and failed
    report = _reported(world)["report"]
    proxy = spec("proxy")
    assert report.verdict == "fail"
    assert proxy.judge(report, proxy.thresholds) == {"proxies": "fail"}
    # WHEN a compliance officer records why income is acceptable
    response = justify(world, report)
    # THEN it is recorded, who and why, shown in the report's detail, and audited
    assert response.status_code == 201, response.content
    assert response.json()["justified_by"] == world.cast.compliance.username
    detail = world.client("auditor").get(f"/api/v1/audit-reports/{report.pk}/").json()
    assert [(j["feature"], j["attribute"], j["reason"]) for j in detail["justifications"]] == [
        ("income", "sex", "Income is what credit is about.")
    ]
    event = AuditEvent.objects.filter(event_type=AuditEventType.PROXY_JUSTIFIED).get()
    assert event.after["reason"] == "Income is what credit is about."
    assert event.after["report"] == report.digest
    # AND the report's figures, judged again, pass (the report itself stays as registered)
    assert proxy.judge(report, proxy.thresholds) == {"proxies": "pass"}
    assert proxy.judge(report, {"auc_max": 0.6}) == {"proxies": "pass"}  # a stricter policy: still justified
    report.refresh_from_db()
    assert report.verdict == "fail"
    # AND the same pair cannot be justified twice
    again = justify(world, report, reason="Once more.")
    assert again.status_code == 400
    assert "already justified by" in again.json()["error"]["fields"]["feature"][0]
    assert ProxyJustification.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"feature": "debt"}, "feature", "did not flag 'debt' as a proxy of 'sex'"),
        ({"attribute": "age_band"}, "feature", "did not flag 'income' as a proxy of 'age_band'"),
        ({"reason": "   "}, "reason", "blank"),
        ({"reason": None}, "reason", "null"),
        ({"surprise": 1}, "surprise", ""),
    ],
)
def test_only_a_flagged_pair_with_a_reason_is_justified(
    world: World, change: dict[str, Any], field: str, says: str
) -> None:
    report = _reported(world)["report"]
    client = world.client("compliance")
    before = AuditEvent.objects.count()
    response = client.post(
        f"/api/v1/audit-reports/{report.pk}/justifications/",
        {"feature": "income", "attribute": "sex", "reason": "Because.", **change},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"], response.json()
    assert says in str(response.json())
    assert AuditEvent.objects.count() == before
    assert not ProxyJustification.objects.exists()


def test_only_a_compliance_officer_of_the_team_may_justify(world: World) -> None:
    report = _reported(world)["report"]
    with pytest.raises(PermissionDenied, match="Only compliance officers"):
        do_justify_proxy(report, feature="income", attribute="sex", reason="I built it.", actor=world.cast.engineer_a)
    assert not ProxyJustification.objects.exists()


def test_a_fairness_report_has_no_proxy_to_justify(world: World) -> None:
    objects = _credit(world)
    report = make_report(objects["model_version"], objects["dataset_version"], world.cast.engineer_a)
    with pytest.raises(ValidationError, match="not a proxy detection report"):
        do_justify_proxy(report, feature="income", attribute="sex", reason="Why not.", actor=world.cast.compliance)


def test_the_direct_use_of_a_prohibited_input_cannot_be_justified(world: World) -> None:
    # GIVEN data that flags income as a prohibited input, and a report that flagged the model reading it directly
    objects = _credit(world)
    columns = [
        {**c, "prohibited_input": True} if c["name"] == "income" else c
        for c in objects["dataset_version"].schema["columns"]
    ]
    dataset = make_dataset(world.cast.team_a, world.cast.engineer_a, name="Prohibited", location="lake://prohibited")
    version = make_dataset_version(dataset, world.cast.engineer_a, schema={"columns": columns})
    results = proxy_results([pair("income", "income", 1.0, direct=True), pair("debt", "income", 0.01)])
    report = make_proxy_report(objects["model_version"], version, world.cast.engineer_a, results)
    assert spec("proxy").judge(report, {}) == {"proxies": "fail"}
    # WHEN a compliance officer tries to justify it THEN it is refused
    with pytest.raises(ValidationError, match="prohibited input: its direct use cannot be justified"):
        do_justify_proxy(report, feature="income", attribute="income", reason="Hm.", actor=world.cast.compliance)
