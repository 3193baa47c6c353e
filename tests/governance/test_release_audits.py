"""A release request starts the audits its policy requires (governance.actions.releases.start_planned_audits):
each required kind without a passing report and with a plan (audits.AuditPlan) gets one job, on the newest version
of the plan's dataset, once per release; the release's API answer says where each required audit stands; a job
service that is down does not lose the release request. GIVEN / WHEN / THEN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from audits.actions import do_set_audit_plan
from core.models import Job
from governance import actions
from governance.actions.releases import start_planned_audits
from governance.audit_policy import release_audit_key, release_audits
from governance.models import Release
from tests.api_cases import World
from tests.audits.factories import CREDIT_SCHEMA, fairness_results, make_credit, make_report
from tests.governance.factories import make_board, make_environment, make_policy
from tests.registry import factories
from tests.registry.factories import make_dataset_version, make_use_case
from tests.workers.conftest import broker_at, closed_port_broker

artifact_root = factories.artifact_root
world = factories.world
__all__ = ["broker_at"]  # a fixture, used by name

pytestmark = pytest.mark.django_db

PLAN = {"label": "defaulted", "threshold": 0.4, "bootstrap_iterations": 20}


@pytest.fixture
def audited(world: World) -> dict[str, Any]:
    """Team A's credit model (a high-risk use case) with its evaluation data, and a production policy requiring a
    fairness audit at most 30 days old."""
    cast = world.cast
    use_case = make_use_case(cast.team_a, cast.engineer_a, name="Credit limits", risk_tier="high")
    objects = make_credit(
        cast.team_a, cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models", use_case=use_case
    )
    environment = make_environment(cast.superuser)
    board = make_board(cast.compliance, cast.team_a, dict(cast.reviewers))
    make_policy(
        cast.compliance,
        cast.team_a,
        environment,
        board,
        required_checks=["audits_passed"],
        audit_requirements={"fairness": {"max_age_days": 30}},
    )
    return {**objects, "environment": environment}


def plan(world: World, audited: dict[str, Any]) -> Any:
    planned, _ = do_set_audit_plan(
        audited["model"], kind="fairness", actor=world.cast.engineer_a, dataset=audited["dataset"].pk, params=PLAN
    )
    return planned


def request(world: World, audited: dict[str, Any]) -> Any:
    return world.client("engineer_a").post(
        "/api/v1/releases/",
        {"model_version": audited["model_version"].pk, "environment": "production"},
        format="json",
    )


def test_a_release_request_starts_the_planned_audit_once(
    world: World, audited: dict[str, Any], django_capture_on_commit_callbacks: Any
):
    # GIVEN a fairness plan on the credit dataset, which was registered again since (version 2)
    plan(world, audited)
    newest = make_dataset_version(audited["dataset"], world.cast.engineer_a, schema=CREDIT_SCHEMA)
    # WHEN the engineer requests the release
    with django_capture_on_commit_callbacks(execute=True) as sent:
        response = request(world, audited)
    # THEN the release is written and one fairness job is queued on the newest dataset version, with the plan's
    # parameters, requested by the engineer, keyed by the release
    assert response.status_code == 201, response.content
    release = Release.objects.get(pk=response.json()["id"])
    job = Job.objects.get(kind="audits.fairness")
    assert job.params == {
        "dataset_version": newest.pk,
        "label": "defaulted",
        "protected_attributes": ["sex", "age_band"],
        "segment_column": None,
        "threshold": 0.4,
        "min_group_size": 30,
        "bootstrap_iterations": 20,
        "seed": 0,
        "score_bins": 1000,
    }
    assert job.target_id == str(audited["model_version"].pk)
    assert job.requested_by == world.cast.engineer_a
    assert job.idempotency_key == release_audit_key(release, "fairness")
    assert job.status == "queued"
    assert len(sent) >= 1  # the job's message goes out after commit
    # AND the answer says which audit was started
    assert response.json()["audits"] == [
        {
            "kind": "fairness",
            "status": "started",
            "job": str(job.public_id),
            "job_status": "queued",
            "reason": response.json()["audits"][0]["reason"],
        }
    ]
    assert "no fairness audit of artifact" in response.json()["audits"][0]["reason"]
    # WHEN the start is retried for the same release THEN no second job is made
    assert start_planned_audits(release, actor=world.cast.engineer_a) == [job]
    assert Job.objects.filter(kind="audits.fairness").count() == 1
    # AND the release's detail says the same, and so does its page
    detail = world.client("engineer_a").get(f"/api/v1/releases/{release.pk}/").json()
    assert detail["audits"][0]["job"] == str(job.public_id)
    client = Client()
    client.force_login(world.cast.engineer_a)
    page = client.get(f"/releases/{release.pk}/").content.decode()
    assert "Fairness audit" in page
    assert f"/jobs/{job.public_id}/" in page
    assert "at most 30 days old" in page


def test_a_required_audit_with_neither_report_nor_plan_is_named(world: World, audited: dict[str, Any]):
    # GIVEN no plan WHEN the release is requested THEN it is written, no job is started, and the audit is missing
    response = request(world, audited)
    assert response.status_code == 201, response.content
    assert not Job.objects.filter(kind="audits.fairness").exists()
    (state,) = response.json()["audits"]
    assert state["kind"] == "fairness"
    assert state["status"] == "missing"
    assert "No audit plan" in state["reason"]


def test_a_passing_report_starts_no_audit(world: World, audited: dict[str, Any]):
    # GIVEN a plan and a passing report of this artifact on the newest data
    plan(world, audited)
    report = make_report(
        audited["model_version"], audited["dataset_version"], world.cast.engineer_a, results=fairness_results()
    )
    jobs = Job.objects.count()
    # WHEN the release is requested THEN nothing is started: the audit has passed
    response = request(world, audited)
    assert response.status_code == 201, response.content
    assert Job.objects.count() == jobs
    assert response.json()["audits"] == [{"kind": "fairness", "status": "passed", "reports": [report.pk]}]


def test_a_policy_without_audits_starts_none(world: World, audited: dict[str, Any]):
    # GIVEN a plan, but the policy's newest version requires no audit
    plan(world, audited)
    policy = actions.policy_in_force(world.cast.team_a, audited["environment"], "high")
    assert policy is not None
    actions.do_add_policy_version(
        policy.policy,
        actor=world.cast.compliance,
        required_roles={"legal": 1, "technical": 1},
        min_total=2,
        approval_valid_days=30,
    )
    # THEN the release request starts nothing and lists no audit
    response = request(world, audited)
    assert response.status_code == 201, response.content
    assert response.json()["audits"] == []
    assert not Job.objects.filter(kind="audits.fairness").exists()


def test_a_job_service_that_is_down_does_not_lose_the_release(world: World, audited: dict[str, Any], broker_at: Any):
    # GIVEN a plan, and a job broker that refuses connections
    plan(world, audited)
    client = world.client("engineer_a")
    broker_at(closed_port_broker())
    # WHEN the release is requested
    response = client.post(
        "/api/v1/releases/",
        {"model_version": audited["model_version"].pk, "environment": "production"},
        format="json",
    )
    # THEN the release is written, no job is, and the answer says the planned audit was not started
    assert response.status_code == 201, response.content
    assert Release.objects.filter(pk=response.json()["id"]).exists()
    assert not Job.objects.filter(kind="audits.fairness").exists()
    (state,) = response.json()["audits"]
    assert state["status"] == "not_started"
    assert "the job service was unavailable" in state["reason"]


def test_a_plan_that_no_longer_fits_the_data_is_not_started(world: World, audited: dict[str, Any]):
    # GIVEN a plan, then the dataset registered again without the plan's label
    plan(world, audited)
    schema = {"columns": [c for c in CREDIT_SCHEMA["columns"] if c["name"] != "defaulted"]}
    make_dataset_version(audited["dataset"], world.cast.engineer_a, schema=schema, allow_breaking_change=True)
    # WHEN the release is requested THEN it is written and the audit is reported not started
    response = request(world, audited)
    assert response.status_code == 201, response.content
    assert not Job.objects.filter(kind="audits.fairness").exists()
    release = Release.objects.get(pk=response.json()["id"])
    assert [state["status"] for state in release_audits(release)] == ["not_started"]


def test_a_failing_report_without_a_plan_is_reported_failed(world: World, audited: dict[str, Any]):
    # GIVEN a report of this artifact whose disparate impact misses the four-fifths rule, and no plan
    make_report(
        audited["model_version"],
        audited["dataset_version"],
        world.cast.engineer_a,
        results=fairness_results(disparate_impact=0.6),
    )
    # WHEN the release is requested THEN the audit is reported failed, naming the check
    response = request(world, audited)
    assert response.status_code == 201, response.content
    (state,) = response.json()["audits"]
    assert state["status"] == "failed"
    assert state["reason"].endswith("is fail: disparate_impact fail.")
