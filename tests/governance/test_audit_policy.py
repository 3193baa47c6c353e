"""What release policies ask of audits (governance.audit_policy): the audit kinds a policy version requires, with
their maximum age and thresholds, validated when the version is written; the thresholds an audit job judges by
(the strictest of the policies that may govern the model); and the gate check ``audits_passed`` judging a release's
reports by its own policy version. GIVEN / WHEN / THEN."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from audits.fairness import HIGH_RISK, THRESHOLDS
from core.choices import AuditEventType
from core.models import AuditEvent
from governance import actions
from governance.audit_policy import audit_thresholds
from governance.choices import EvaluationPurpose
from governance.gate import evaluate_gate
from governance.manifest import build_manifest
from governance.models import ReleasePolicyVersion
from registry.models import DatasetVersion
from tests.audits.explanation_reports import make_explanation_report
from tests.audits.factories import fairness_results, make_report
from tests.governance.factories import make_board, make_environment, make_policy
from tests.registry.factories import make_dataset_version, make_model, make_use_case
from tests.serving.factories import approve

pytestmark = pytest.mark.django_db

AUDITED: dict[str, Any] = {"required_checks": ["audits_passed"], "audit_requirements": {"fairness": {}}}


@pytest.fixture
def env(cast: Any) -> Any:
    return make_environment(cast.superuser)


@pytest.fixture
def board(cast: Any) -> Any:
    return make_board(cast.compliance, cast.team_a, dict(cast.reviewers))


def version_of(model: Any) -> Any:
    """What audit_thresholds reads of a model version: its model (no artifact needed)."""
    return SimpleNamespace(model=model)


# --- Validation ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"audit_requirements": ["fairness"]}, 'An object of audit kind -> {"max_age_days"'),
        ({"audit_requirements": {"astrology": {}}}, "Unknown audit kind 'astrology'; the kinds are fairness"),
        ({"audit_requirements": {"fairness": {"max_age": 3}}}, 'fairness: an object with "max_age_days" and'),
        ({"audit_requirements": {"fairness": {"max_age_days": 0}}}, "fairness.max_age_days: a whole number of days"),
        ({"audit_requirements": {"fairness": {"max_age_days": 3651}}}, "from 1 to 3650"),
        ({"audit_requirements": {"fairness": {"max_age_days": True}}}, "fairness.max_age_days: a whole number"),
        ({"audit_requirements": {"fairness": {"thresholds": [0.8]}}}, "fairness.thresholds: an object of threshold"),
        (
            {"audit_requirements": {"fairness": {"thresholds": {"auc_min": 0.7}}}},
            "fairness.thresholds: unknown threshold 'auc_min'; the fairness thresholds are average_odds_max, "
            "disparate_impact_min, equal_opportunity_max, statistical_parity_max.",
        ),
        (
            {"audit_requirements": {"fairness": {"thresholds": {"disparate_impact_min": 1.5}}}},
            "fairness.thresholds.disparate_impact_min: a number from 0 to 1.",
        ),
        (
            {"audit_requirements": {"fairness": {"thresholds": {"disparate_impact_min": "0.9"}}}},
            "fairness.thresholds.disparate_impact_min: a number from 0 to 1.",
        ),
        (
            {"audit_requirements": {"fairness": {"thresholds": {"statistical_parity_max": float("nan")}}}},
            "fairness.thresholds.statistical_parity_max: a number from 0 to 1.",
        ),
        (
            {"required_checks": ["audits_passed"]},
            "The policy requires audits_passed: name at least one audit kind it requires",
        ),
        (
            {"required_checks": ["audits_passed"], "audit_requirements": {}},
            "The policy requires audits_passed: name at least one audit kind it requires",
        ),
        (
            {"audit_requirements": {"fairness": {}}},
            "Audit kinds are judged by the gate check audits_passed: add it to required_checks",
        ),
    ],
)
def test_audit_requirements_are_validated(cast: Any, env: Any, board: Any, rules: dict[str, Any], message: str):
    # WHEN a policy is created with these audit requirements THEN it is refused naming audit_requirements
    with pytest.raises(ValidationError, match=re.escape(message)) as raised:
        make_policy(cast.compliance, cast.team_a, env, board, **rules)
    assert message in " ".join(raised.value.message_dict["audit_requirements"])
    # AND nothing is written
    assert not ReleasePolicyVersion.objects.exists()
    assert not AuditEvent.objects.filter(event_type=AuditEventType.POLICY_CREATED).exists()


def test_audit_requirements_are_stored_with_their_defaults_and_frozen(cast: Any, env: Any, board: Any):
    # GIVEN a policy requiring a fairness audit at most 30 days old with disparate impact at least 0.9
    policy = make_policy(
        cast.compliance,
        cast.team_a,
        env,
        board,
        required_checks=["audits_passed"],
        audit_requirements={"fairness": {"max_age_days": 30, "thresholds": {"disparate_impact_min": 0.9}}},
    )
    version = policy.versions.get()
    assert version.audit_requirements == {"fairness": {"max_age_days": 30, "thresholds": {"disparate_impact_min": 0.9}}}
    # AND the version event says so
    event = AuditEvent.objects.get(event_type=AuditEventType.POLICY_VERSION_CREATED)
    assert event.after is not None
    assert event.after["audit_requirements"] == version.audit_requirements
    # AND a new version with a kind and no details takes the default age and no thresholds of its own
    added = actions.do_add_policy_version(
        policy,
        actor=cast.compliance,
        required_roles={"legal": 1},
        min_total=1,
        approval_valid_days=7,
        **AUDITED,
    )
    assert added.audit_requirements == {"fairness": {"max_age_days": 180, "thresholds": {}}}
    # AND the column cannot be changed afterwards
    with pytest.raises(Exception, match="immutable"), transaction.atomic():
        ReleasePolicyVersion.objects.filter(pk=version.pk).update(audit_requirements={})


def test_audit_requirements_over_the_api(cast: Any, env: Any, board: Any, client: Any):
    # GIVEN a compliance officer
    client.force_login(cast.compliance)
    body = {
        "team": "team-a",
        "name": "Audited",
        "environment": env.slug,
        "risk_tier": "high",
        "board": board.pk,
        "required_roles": {"legal": 1},
        "min_total": 1,
        "approval_valid_days": 30,
        "required_checks": ["audits_passed"],
        "audit_requirements": {"fairness": {"thresholds": {"disparate_impact_min": 2}}},
    }
    # WHEN a threshold is out of bounds THEN a 400 names audit_requirements
    response = client.post("/api/v1/release-policies/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "audit_requirements" in response.json()["error"]["fields"]
    # WHEN it is within bounds THEN the policy shows its requirements
    body["audit_requirements"] = {"fairness": {"thresholds": {"disparate_impact_min": 0.9}}}
    response = client.post("/api/v1/release-policies/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    current = response.json()["current_version"]
    assert current["audit_requirements"] == {
        "fairness": {"max_age_days": 180, "thresholds": {"disparate_impact_min": 0.9}}
    }
    # AND a new version over the API is validated the same way
    policy = response.json()["id"]
    response = client.post(
        f"/api/v1/release-policies/{policy}/versions/",
        {"required_roles": {}, "min_total": 1, "approval_valid_days": 3, "required_checks": ["audits_passed"]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "name at least one audit kind" in response.json()["error"]["fields"]["audit_requirements"][0]


def test_a_policy_says_when_decisions_are_recorded(cast: Any, env: Any, board: Any, client: Any):
    """GIVEN a compliance officer writing a policy over the API
    WHEN decision_records is not one of its values, then "always", then left out of a new version
    THEN 400 names the field; the policy's version says always; the next version says on_request (the default)."""
    client.force_login(cast.compliance)
    body = {
        "team": "team-a",
        "name": "Recorded",
        "environment": env.slug,
        "risk_tier": "high",
        "board": board.pk,
        "required_roles": {"legal": 1},
        "min_total": 1,
        "approval_valid_days": 30,
        "decision_records": "sometimes",
    }
    response = client.post("/api/v1/release-policies/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "decision_records" in response.json()["error"]["fields"]
    response = client.post(
        "/api/v1/release-policies/", {**body, "decision_records": "always"}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["current_version"]["decision_records"] == "always"
    response = client.post(
        f"/api/v1/release-policies/{response.json()['id']}/versions/",
        {"required_roles": {"legal": 1}, "min_total": 1, "approval_valid_days": 3},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["decision_records"] == "on_request"


# --- Thresholds an audit job judges by ----------------------------------------------------------------------------


def test_thresholds_are_the_strictest_of_the_policies_that_may_govern_the_model(cast: Any, env: Any, board: Any):
    # GIVEN a model of team A serving a high-risk use case, and one without a use case
    use_case = make_use_case(cast.team_a, cast.engineer_a, name="Credit", risk_tier="high")
    model = make_model(cast.team_a, cast.engineer_a, name="Scorer", use_case=use_case)
    version = version_of(model)
    bare = version_of(make_model(cast.team_a, cast.engineer_a, name="Bare"))
    high = {**THRESHOLDS, **HIGH_RISK}
    # THEN with no policy the defaults for the tier apply
    assert audit_thresholds(version, "fairness") == high
    # GIVEN team A's production policy asks disparate impact of at least 0.85
    make_policy(
        cast.compliance,
        cast.team_a,
        env,
        board,
        required_checks=["audits_passed"],
        audit_requirements={"fairness": {"thresholds": {"disparate_impact_min": 0.85, "average_odds_max": 0.08}}},
    )
    # AND the organisation's staging policy 0.9 and statistical parity at most 0.02
    staging = make_environment(cast.superuser, slug="staging", rank=1)
    org_board = make_board(cast.superuser, None, {"legal": cast.reviewers["legal"]}, slug="org-board")
    make_policy(
        cast.superuser,
        None,
        staging,
        org_board,
        required_roles={"legal": 1},
        min_total=1,
        required_checks=["audits_passed"],
        audit_requirements={"fairness": {"thresholds": {"disparate_impact_min": 0.9, "statistical_parity_max": 0.02}}},
    )
    # AND team B's policy (not team A's) and a policy for another tier ask for more
    board_b = make_board(cast.superuser, cast.team_b, {"legal": cast.engineer_b}, slug="board-b")
    make_policy(
        cast.superuser,
        cast.team_b,
        env,
        board_b,
        required_roles={"legal": 1},
        min_total=1,
        required_checks=["audits_passed"],
        audit_requirements={"fairness": {"thresholds": {"disparate_impact_min": 0.99}}},
    )
    make_policy(
        cast.compliance,
        cast.team_a,
        env,
        board,
        name="Limited",
        risk_tier="limited",
        required_checks=["audits_passed"],
        audit_requirements={"fairness": {"thresholds": {"disparate_impact_min": 0.95}}},
    )
    # THEN team A's high-risk model is judged by the strictest of its own team's and the organisation's, over
    # the tier's defaults (average odds 0.05 by default beats the policy's looser 0.08)
    assert audit_thresholds(version, "fairness") == {
        **high,
        "disparate_impact_min": 0.9,
        "statistical_parity_max": 0.02,
    }
    # AND a model without a use case gets the defaults
    assert audit_thresholds(bare, "fairness") == THRESHOLDS


def test_only_the_current_version_of_a_policy_counts(cast: Any, env: Any, board: Any):
    use_case = make_use_case(cast.team_a, cast.engineer_a, name="Credit", risk_tier="high")
    version = version_of(make_model(cast.team_a, cast.engineer_a, name="Scorer", use_case=use_case))
    policy = make_policy(
        cast.compliance,
        cast.team_a,
        env,
        board,
        required_checks=["audits_passed"],
        audit_requirements={"fairness": {"thresholds": {"disparate_impact_min": 0.95}}},
    )
    # WHEN the policy's next version relaxes the requirement THEN the earlier version no longer counts
    actions.do_add_policy_version(
        policy, actor=cast.compliance, required_roles={"legal": 1}, min_total=1, approval_valid_days=7, **AUDITED
    )
    assert audit_thresholds(version, "fairness")["disparate_impact_min"] == THRESHOLDS["disparate_impact_min"]


# --- The gate -----------------------------------------------------------------------------------------------------


def _require_audits(rw: Any, audit_requirements: dict[str, Any]) -> Any:
    """A new policy version requiring ``audit_requirements``; the world's release withdrawn."""
    actions.do_add_policy_version(
        rw.policy,
        actor=rw.cast.compliance,
        required_roles={"legal": 1, "technical": 1},
        min_total=2,
        approval_valid_days=30,
        required_checks=["audits_passed"],
        audit_requirements=audit_requirements,
    )
    actions.do_withdraw_release(rw.release, actor=rw.cast.engineer_a, reason="New policy")


def _audits_check(release: Any, actor: Any) -> dict[str, Any]:
    evaluation = evaluate_gate(release, actor=actor, purpose=EvaluationPurpose.PREVIEW)
    return next(check for check in evaluation.checks if check["name"] == "audits_passed")


def _dataset_version(rw: Any) -> DatasetVersion:
    return rw.version.dataset_versions.get()


def test_the_gate_refuses_a_release_until_its_required_audit_passes_the_policy(rw: Any):
    # GIVEN a policy requiring a fairness audit with disparate impact at least 0.9
    _require_audits(rw, {"fairness": {"max_age_days": 30, "thresholds": {"disparate_impact_min": 0.9}}})
    engineer = rw.cast.engineer_a
    release = actions.do_request_release(rw.version, actor=engineer, environment=rw.environment)
    approve(rw, release)
    # THEN with no report the gate refuses, naming the kind
    check = _audits_check(release, engineer)
    assert not check["passed"]
    assert "no fairness audit of artifact" in check["reason"]
    # AND the manifest carries what the gate judges by
    assert build_manifest(release)["policy"]["requirements"]["audit_requirements"] == {
        "fairness": {"max_age_days": 30, "thresholds": {"disparate_impact_min": 0.9}}
    }
    # WHEN a report passing the default 0.8 but not the policy's 0.9 is registered THEN the gate still refuses
    make_report(rw.version, _dataset_version(rw), engineer, results=fairness_results(disparate_impact=0.85))
    check = _audits_check(release, engineer)
    assert not check["passed"]
    assert "is fail: disparate_impact fail." in check["reason"]
    # WHEN a report that meets the policy is registered THEN the check passes
    make_report(rw.version, _dataset_version(rw), engineer, results=fairness_results(disparate_impact=0.95))
    check = _audits_check(release, engineer)
    assert check["passed"], check["reason"]
    # WHEN the dataset is registered again THEN the report is of an older version and no longer counts
    make_dataset_version(_dataset_version(rw).dataset, engineer)
    check = _audits_check(release, engineer)
    assert not check["passed"]
    assert "(its reports are of older or changed dataset versions)" in check["reason"]


def test_a_policy_without_audit_requirements_keeps_its_manifest_shape(rw: Any):
    # Releases under policies that require no audits keep the manifest they were signed with.
    assert "audit_requirements" not in build_manifest(rw.release)["policy"]["requirements"]


def test_the_gate_refuses_a_policy_that_records_every_decision_without_an_explanation_report(rw: Any):
    """GIVEN a policy whose decisions are recorded always (each with its principal reasons)
    WHEN a release of a version with no explanation report goes to the gate
    THEN ``decisions_explainable`` fails, naming the missing report; once an explanation report of the artifact is
    registered it passes. Under the default policy (on request) the check passes without one."""
    engineer = rw.cast.engineer_a
    check = _check(rw.release, engineer, "decisions_explainable")
    assert check["passed"], check["reason"]
    assert "on request only" in check["reason"]
    actions.do_add_policy_version(
        rw.policy,
        actor=rw.cast.compliance,
        required_roles={"legal": 1, "technical": 1},
        min_total=2,
        approval_valid_days=30,
        decision_records="always",
    )
    actions.do_withdraw_release(rw.release, actor=engineer, reason="New policy")
    release = actions.do_request_release(rw.version, actor=engineer, environment=rw.environment)
    approve(rw, release)
    check = _check(release, engineer, "decisions_explainable")
    assert not check["passed"]
    assert f"model version {rw.version.number} has no explanation report" in check["reason"]
    report = make_explanation_report(rw.version, _dataset_version(rw), engineer)
    check = _check(release, engineer, "decisions_explainable")
    assert check["passed"], check["reason"]
    assert f"explanation report {report.pk}" in check["reason"]


def _check(release: Any, actor: Any, name: str) -> dict[str, Any]:
    evaluation = evaluate_gate(release, actor=actor, purpose=EvaluationPurpose.PREVIEW)
    return next(check for check in evaluation.checks if check["name"] == name)
