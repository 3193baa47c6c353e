"""The deployment gate (governance.gate): every check runs and is reported, failures say why, a policy's required
checks run through the registry other apps contribute to, and nothing unknown or broken lets a release through."""

from __future__ import annotations

from typing import Any

import pytest

from core.choices import AuditEventType
from core.models import AuditEvent
from governance import actions, gate
from governance.choices import EvaluationPurpose
from governance.gate import evaluate_gate, known_checks, register_check, run_gate
from governance.models import GateEvaluation
from registry import actions as registry_actions
from tests.serving.factories import approve, overwrite_artifact

pytestmark = pytest.mark.django_db

BUILT_IN = ["release_open", "policy_current", "quorum", "manifest_current", "artifact_integrity"]
# Every check that runs for every release: the built-ins, then the ones the apps register with always=True.
ALWAYS_RUN = [*BUILT_IN, "decisions_explainable"]


def verdicts(evaluation: Any) -> dict[str, bool]:
    return {check["name"]: check["passed"] for check in evaluation.checks}


def reason(evaluation: Any, name: str) -> str:
    return next(check["reason"] for check in evaluation.checks if check["name"] == name)


@pytest.fixture
def extra_check() -> Any:
    """A check another app would contribute, registered for one test and removed after it."""
    calls: list[Any] = []
    outcome: dict[str, Any] = {"result": (True, "Model card complete.")}

    def check(context: gate.GateContext) -> gate.Verdict:
        calls.append(context.release.pk)
        result = outcome["result"]
        if isinstance(result, Exception):
            raise result
        return result

    register_check("example_check", "A check another app contributes (say, a model card is complete).")(check)
    yield outcome, calls
    gate._CHECKS.pop("example_check", None)


def test_the_built_in_checks_are_known_and_always_run():
    checks = known_checks()
    assert list(checks)[: len(BUILT_IN)] == BUILT_IN
    assert all(checks[name].always and checks[name].description for name in BUILT_IN)


def test_an_approved_release_passes_every_check_and_the_evaluation_is_stored(rw):
    # GIVEN a release approved by legal and technical
    approve(rw)
    # WHEN the gate runs
    evaluation = evaluate_gate(rw.release, actor=rw.cast.engineer_a, purpose=EvaluationPurpose.DEPLOY)
    # THEN every built-in check passed, each with its reason, and the evaluation is a stored row
    assert evaluation.pk
    assert evaluation.passed
    assert verdicts(evaluation) == dict.fromkeys(ALWAYS_RUN, True)
    assert all(check["reason"] for check in evaluation.checks)
    assert "re-hashed" in reason(evaluation, "artifact_integrity")
    assert evaluation.manifest_digest == rw.release.manifest_digest
    assert evaluation.evaluated_by == rw.cast.engineer_a
    assert evaluation.duration_ms > 0
    assert GateEvaluation.objects.filter(release=rw.release, purpose="deploy").count() == 1


def test_an_unsigned_release_fails_quorum_and_manifest_and_reports_the_rest(rw):
    evaluation = evaluate_gate(rw.release, actor=rw.cast.engineer_a, purpose=EvaluationPurpose.PREVIEW)
    assert not evaluation.passed
    assert verdicts(evaluation) == {
        "release_open": True,
        "policy_current": True,
        "quorum": False,
        "manifest_current": False,
        "artifact_integrity": True,
        "decisions_explainable": True,
    }
    assert "missing 1 legal, 1 technical" in reason(evaluation, "quorum")
    assert "nobody has signed yet" in reason(evaluation, "manifest_current")


def test_a_dataset_changed_after_approval_fails_naming_what_changed(rw):
    # GIVEN an approved release
    approve(rw)
    # WHEN the training dataset's classification changes
    dataset = rw.version.dataset_versions.get().dataset
    registry_actions.do_update_dataset(dataset, actor=rw.cast.engineer_a, classification="restricted")
    # THEN the signatures are stale and the gate says which field changed, from what to what
    evaluation = evaluate_gate(rw.release, actor=rw.cast.engineer_a, purpose=EvaluationPurpose.PREVIEW)
    assert verdicts(evaluation)["quorum"] is False
    assert "2 stale" in reason(evaluation, "quorum")
    changed = reason(evaluation, "manifest_current")
    assert "dataset.classification: 'confidential' → 'restricted'" in changed
    assert "signed again" in changed


def test_artifact_bytes_replaced_on_disk_fail_the_rehash_and_are_recorded(rw):
    # GIVEN an approved release
    approve(rw)
    # WHEN someone rewrites the stored artifact's bytes (same size)
    overwrite_artifact(rw.version)
    # THEN the gate fails on the re-hash, names the digest found, and artifact.corrupted is written
    evaluation = evaluate_gate(rw.release, actor=rw.cast.engineer_a, purpose=EvaluationPurpose.DEPLOY)
    assert not evaluation.passed
    assert verdicts(evaluation) == {**dict.fromkeys(ALWAYS_RUN, True), "artifact_integrity": False}
    assert "no longer matches its digest" in reason(evaluation, "artifact_integrity")
    event = AuditEvent.objects.get(event_type=AuditEventType.ARTIFACT_CORRUPTED)
    assert event.metadata["sha256"] == rw.version.artifact_sha256
    assert event.actor_id == rw.cast.engineer_a.pk


def test_a_missing_artifact_fails(rw):
    approve(rw)
    from registry.artifacts import ArtifactStore

    ArtifactStore.default().path_for(rw.version.artifact_sha256).unlink()
    evaluation = evaluate_gate(rw.release, actor=rw.cast.engineer_a, purpose=EvaluationPurpose.DEPLOY)
    assert verdicts(evaluation)["artifact_integrity"] is False
    assert "No artifact" in reason(evaluation, "artifact_integrity")


def test_a_preview_without_rehash_only_checks_the_size(rw):
    approve(rw)
    overwrite_artifact(rw.version)  # same size: only a re-hash sees it
    run = run_gate(rw.release, actor=rw.cast.engineer_a, purpose=EvaluationPurpose.PREVIEW, rehash=False)
    assert run.passed
    assert "not re-hashed" in next(c["reason"] for c in run.checks if c["name"] == "artifact_integrity")
    overwrite_artifact(rw.version, b"short")
    run = run_gate(rw.release, actor=rw.cast.engineer_a, purpose=EvaluationPurpose.PREVIEW, rehash=False)
    assert not run.passed
    assert GateEvaluation.objects.count() == 0  # run_gate writes nothing


def test_a_withdrawn_release_is_not_open(rw):
    approve(rw)
    actions.do_withdraw_release(rw.release, actor=rw.cast.engineer_a, reason="Found a bug")
    evaluation = evaluate_gate(rw.release, actor=rw.cast.engineer_a, purpose=EvaluationPurpose.PREVIEW)
    assert verdicts(evaluation)["release_open"] is False
    assert "withdrawn: Found a bug" in reason(evaluation, "release_open")


def test_a_release_is_judged_by_the_policy_version_it_recorded_while_that_is_in_force(rw):
    # GIVEN an approved release
    approve(rw)
    # WHEN compliance writes a new version of the policy (three approvers from now on)
    actions.do_add_policy_version(
        rw.policy,
        actor=rw.cast.compliance,
        required_roles={"legal": 1, "technical": 1},
        min_total=3,
        approval_valid_days=30,
    )
    # THEN the release, requested under version 1, must be requested again; its quorum under v1 still reads met
    evaluation = evaluate_gate(rw.release, actor=rw.cast.engineer_a, purpose=EvaluationPurpose.PREVIEW)
    assert verdicts(evaluation)["policy_current"] is False
    assert "version 2 is in force now" in reason(evaluation, "policy_current")
    assert "requested under 'High-risk production' version 1" in reason(evaluation, "policy_current")
    assert verdicts(evaluation)["quorum"] is True


def test_a_use_case_moved_to_another_risk_tier_leaves_the_release_without_its_policy(rw):
    approve(rw)
    use_case = rw.version.model.use_case
    registry_actions.do_update_use_case(use_case, actor=rw.cast.engineer_a, risk_tier="limited")
    evaluation = evaluate_gate(rw.release, actor=rw.cast.engineer_a, purpose=EvaluationPurpose.PREVIEW)
    assert verdicts(evaluation)["policy_current"] is False
    assert "No policy is in force now for production and limited risk" in reason(evaluation, "policy_current")
    assert verdicts(evaluation)["quorum"] is False  # the risk tier is in the manifest: the signatures are stale


def _require(rw: Any, *names: str) -> Any:
    """Give the policy a new version requiring ``names`` and request the release again under it."""
    actions.do_add_policy_version(
        rw.policy,
        actor=rw.cast.compliance,
        required_roles={"legal": 1, "technical": 1},
        min_total=2,
        approval_valid_days=30,
        required_checks=list(names),
    )
    actions.do_withdraw_release(rw.release, actor=rw.cast.engineer_a, reason="New policy")
    release = actions.do_request_release(rw.version, actor=rw.cast.engineer_a, environment=rw.environment)
    approve(rw, release)
    return release


def test_a_required_check_contributed_by_another_app_runs_and_can_fail(rw, extra_check):
    outcome, calls = extra_check
    release = _require(rw, "example_check")
    evaluation = evaluate_gate(release, actor=rw.cast.engineer_a, purpose=EvaluationPurpose.PREVIEW)
    assert evaluation.passed
    assert [c["name"] for c in evaluation.checks] == [*ALWAYS_RUN, "example_check"]
    assert calls == [release.pk]
    outcome["result"] = (False, "The model card lacks its limitations.")
    evaluation = evaluate_gate(release, actor=rw.cast.engineer_a, purpose=EvaluationPurpose.PREVIEW)
    assert not evaluation.passed
    assert reason(evaluation, "example_check") == "The model card lacks its limitations."


def test_a_required_check_that_raises_fails_closed_and_the_others_still_run(rw, extra_check):
    outcome, _ = extra_check
    release = _require(rw, "example_check")
    outcome["result"] = RuntimeError("model card service unreachable")
    evaluation = evaluate_gate(release, actor=rw.cast.engineer_a, purpose=EvaluationPurpose.PREVIEW)
    assert not evaluation.passed
    assert verdicts(evaluation) == {**dict.fromkeys(ALWAYS_RUN, True), "example_check": False}
    assert "could not run: RuntimeError: model card service unreachable" in reason(evaluation, "example_check")


def test_a_required_check_nobody_provides_fails_closed(rw, extra_check):
    # GIVEN a policy requiring a check whose app was since removed
    release = _require(rw, "example_check")
    gate._CHECKS.pop("example_check")
    # THEN the gate fails it, naming it
    evaluation = evaluate_gate(release, actor=rw.cast.engineer_a, purpose=EvaluationPurpose.PREVIEW)
    assert not evaluation.passed
    assert "requires the check 'example_check', which no installed app provides" in reason(evaluation, "example_check")


def test_two_checks_cannot_share_a_name():
    with pytest.raises(ValueError, match="already registered"):
        register_check("quorum", "Another quorum.")(lambda context: (True, ""))


def test_an_unknown_purpose_is_refused(rw):
    with pytest.raises(ValueError, match="purpose"):
        run_gate(rw.release, actor=rw.cast.engineer_a, purpose="whatever")
