"""Deploying through the gate and rolling back (serving.actions), with the real actions end to end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from core.choices import AuditEventType, BoardRole
from core.idempotency import IDEMPOTENCY_KEY_HELP
from core.models import AuditEvent
from governance import actions as governance
from governance.models import GateEvaluation
from registry.choices import VersionStatus
from registry.models import ModelVersion
from serving.actions import GateRefused, IdempotencyConflict, do_deploy, do_rollback
from serving.models import Deployment
from tests.serving.factories import approve, new_version, overwrite_artifact, request

pytestmark = pytest.mark.django_db


def events(event_type: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=event_type).order_by("seq"))


def test_an_approved_release_is_deployed(rw):
    # GIVEN a release approved by legal and technical
    approve(rw)
    # WHEN engineer A deploys it
    deployment = do_deploy(rw.release, actor=rw.cast.engineer_a)
    # THEN one deployment, through a stored passing evaluation; the release and the version read deployed
    assert deployment.environment == rw.environment
    assert (deployment.model_id, deployment.model_version_id) == (rw.version.model_id, rw.version.pk)
    assert deployment.replaces is None
    assert not deployment.is_rollback
    assert deployment.deployed_by == rw.cast.engineer_a
    evaluation = deployment.gate_evaluation
    assert evaluation.passed
    assert evaluation.purpose == "deploy"
    rw.release.refresh_from_db()
    assert rw.release.status == "deployed"
    assert ModelVersion.objects.get(pk=rw.version.pk).status == VersionStatus.DEPLOYED
    (event,) = events(AuditEventType.DEPLOYMENT_CREATED)
    assert event.actor_id == rw.cast.engineer_a.pk
    assert event.after is not None
    assert event.after["release"] == str(rw.release.uid)
    assert event.after["gate_evaluation"] == evaluation.pk
    assert events(AuditEventType.GATE_FAILED) == []


def test_a_refused_deploy_keeps_its_evaluation_and_event_and_deploys_nothing(rw):
    # GIVEN a release only the legal reviewer approved
    from tests.serving.factories import submit

    submit(rw, rw.cast.reviewers[BoardRole.LEGAL], BoardRole.LEGAL)
    # WHEN engineer A deploys it
    with pytest.raises(GateRefused, match=r"^The deployment gate refused release \d+: quorum failed\.$") as refused:
        do_deploy(rw.release, actor=rw.cast.engineer_a)
    # THEN the gate's evaluation is stored (it outlived the rolled-back deploy), gate.failed lists every failed check,
    # and nothing was deployed
    evaluation = GateEvaluation.objects.get(pk=refused.value.evaluation.pk)
    assert not evaluation.passed
    assert [check["name"] for check in refused.value.failed] == ["quorum"]
    (event,) = events(AuditEventType.GATE_FAILED)
    assert event.actor_id == rw.cast.engineer_a.pk
    assert event.metadata["gate_evaluation"] == evaluation.pk
    assert [failed["name"] for failed in event.metadata["failed"]] == ["quorum"]
    assert "missing 1 technical" in event.metadata["failed"][0]["reason"]
    assert Deployment.objects.count() == 0
    rw.release.refresh_from_db()
    assert rw.release.status == "open"
    assert events(AuditEventType.DEPLOYMENT_CREATED) == []


def test_artifact_bytes_replaced_after_approval_are_caught_and_nothing_is_deployed(rw):
    # GIVEN an approved release
    approve(rw)
    # WHEN the stored artifact is rewritten on disk, then the release is deployed
    overwrite_artifact(rw.version)
    with pytest.raises(
        GateRefused, match=r"^The deployment gate refused release \d+: artifact_integrity failed\.$"
    ) as refused:
        do_deploy(rw.release, actor=rw.cast.engineer_a)
    # THEN the re-hash fails, both the corruption and the refusal are recorded, nothing is deployed
    assert [check["name"] for check in refused.value.failed] == ["artifact_integrity"]
    (corrupted,) = events(AuditEventType.ARTIFACT_CORRUPTED)
    assert corrupted.metadata["sha256"] == rw.version.artifact_sha256
    assert len(events(AuditEventType.GATE_FAILED)) == 1
    assert Deployment.objects.count() == 0


def test_a_release_deploys_once(rw):
    approve(rw)
    do_deploy(rw.release, actor=rw.cast.engineer_a)
    with pytest.raises(
        GateRefused, match=r"^The deployment gate refused release \d+: release_open failed\.$"
    ) as refused:
        do_deploy(rw.release, actor=rw.cast.admin_a)
    assert [check["name"] for check in refused.value.failed] == ["release_open"]
    assert Deployment.objects.count() == 1


def test_the_same_idempotency_key_returns_the_same_deployment(rw):
    approve(rw)
    first = do_deploy(rw.release, actor=rw.cast.engineer_a, idempotency_key="ci-run-42")
    again = do_deploy(rw.release, actor=rw.cast.engineer_a, idempotency_key="ci-run-42")
    assert again.pk == first.pk
    assert Deployment.objects.count() == 1
    assert len(events(AuditEventType.DEPLOYMENT_CREATED)) == 1
    assert events(AuditEventType.GATE_FAILED) == []


def test_an_idempotency_key_used_for_another_release_is_a_conflict(rw, tmp_path: Path):
    approve(rw)
    do_deploy(rw.release, actor=rw.cast.engineer_a, idempotency_key="ci-run-42")
    second = request(rw, new_version(rw, tmp_path, 2))
    approve(rw, second)
    with pytest.raises(
        IdempotencyConflict,
        match=r"^The idempotency key 'ci-run-42' was already used for another deployment \(deployment \d+",
    ):
        do_deploy(second, actor=rw.cast.engineer_a, idempotency_key="ci-run-42")
    assert Deployment.objects.count() == 1


# The one rule of core.idempotency, as for jobs: spaces and other punctuation are refused too.
@pytest.mark.parametrize("key", ["x" * 129, "line\nbreak", 42, "has spaces", "ci/run"])
def test_a_malformed_idempotency_key_is_refused(rw, key):
    approve(rw)
    with pytest.raises(ValidationError, match=re.escape(IDEMPOTENCY_KEY_HELP)) as error:
        do_deploy(rw.release, actor=rw.cast.engineer_a, idempotency_key=key)
    assert error.value.message_dict == {"idempotency_key": [IDEMPOTENCY_KEY_HELP]}
    assert Deployment.objects.count() == 0


@pytest.mark.parametrize("persona", ["engineer_b", "compliance", "auditor", "reviewer_legal"])
def test_only_engineers_and_admins_of_the_team_deploy(rw, persona):
    approve(rw)
    with pytest.raises(
        PermissionDenied, match=r"^Only engineers and admins of the model's team deploy its releases\.$"
    ):
        do_deploy(rw.release, actor=rw.cast.all()[persona])
    assert Deployment.objects.count() == 0
    assert GateEvaluation.objects.count() == 0


def _two_deployments(rw, tmp_path: Path):
    """Release 1 (version 1) deployed, then release 2 (version 2) deployed over it."""
    approve(rw)
    first = do_deploy(rw.release, actor=rw.cast.engineer_a)
    second_release = request(rw, new_version(rw, tmp_path, 2))
    approve(rw, second_release)
    second = do_deploy(second_release, actor=rw.cast.engineer_a)
    return first, second


def test_a_new_deployment_replaces_the_one_serving(rw, tmp_path):
    first, second = _two_deployments(rw, tmp_path)
    assert second.replaces == first
    assert not second.is_rollback


def test_rollback_returns_to_an_earlier_release_through_the_gate(rw, tmp_path):
    # GIVEN version 1, then version 2 deployed to production
    first, second = _two_deployments(rw, tmp_path)
    # WHEN engineer A rolls back to release 1
    back = do_rollback(rw.version.model, rw.environment, actor=rw.cast.engineer_a, to_release=rw.release)
    # THEN a new deployment of version 1, marked as a rollback, replacing version 2, through a new passing evaluation
    assert back.is_rollback
    assert back.release == rw.release
    assert back.model_version_id == rw.version.pk
    assert back.replaces == second
    assert back.gate_evaluation.passed
    assert back.gate_evaluation_id != first.gate_evaluation_id
    assert len(events(AuditEventType.DEPLOYMENT_CREATED)) == 3


def test_rollback_is_refused_when_the_earlier_approvals_no_longer_count(rw, tmp_path):
    # GIVEN version 1, then version 2 deployed; then the legal reviewer's key is revoked
    _two_deployments(rw, tmp_path)
    _, key = rw.key_of(rw.cast.reviewers[BoardRole.LEGAL])
    governance.do_revoke_signing_key(key, actor=rw.cast.compliance, reason="Key leaked")
    # WHEN engineer A rolls back to release 1
    with pytest.raises(GateRefused, match=r"^The deployment gate refused release \d+: quorum failed\.$") as refused:
        do_rollback(rw.version.model, rw.environment, actor=rw.cast.engineer_a, to_release=rw.release)
    # THEN the gate refuses: its legal approval no longer counts
    assert [check["name"] for check in refused.value.failed] == ["quorum"]
    assert "1 key_revoked" in refused.value.failed[0]["reason"]
    assert Deployment.objects.filter(is_rollback=True).count() == 0


def test_rollback_needs_a_release_deployed_there_before_and_not_serving_now(rw, tmp_path):
    approve(rw)
    do_deploy(rw.release, actor=rw.cast.engineer_a)
    model = rw.version.model
    # the release serving now
    with pytest.raises(
        ValidationError, match=r"^\{'release': \['Release \d+ is the one serving in this environment now\.'\]\}$"
    ) as invalid:
        do_rollback(model, rw.environment, actor=rw.cast.engineer_a, to_release=rw.release)
    assert list(invalid.value.message_dict) == ["release"]
    # a release never deployed
    never = request(rw, new_version(rw, tmp_path, 2))
    with pytest.raises(
        ValidationError, match=r"Release \d+ was never deployed: there is nothing to return to\."
    ) as invalid:
        do_rollback(model, rw.environment, actor=rw.cast.engineer_a, to_release=never)
    assert list(invalid.value.message_dict) == ["release"]
    # another environment
    staging = governance.do_create_environment(actor=rw.cast.superuser, slug="staging", name="Staging")
    with pytest.raises(ValidationError, match=r"Release \d+ is for production, not staging\.") as invalid:
        do_rollback(model, staging, actor=rw.cast.engineer_a, to_release=rw.release)
    assert list(invalid.value.message_dict) == ["release"]
    assert Deployment.objects.count() == 1
