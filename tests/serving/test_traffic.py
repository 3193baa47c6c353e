"""Canary, shadow, promote, end of a trial, retire and one-command rollback (serving.actions), with the real
actions end to end: every change moves the route's revision, every refusal leaves the route as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from core.choices import AuditEventType, BoardRole
from core.models import AuditEvent
from governance import actions as governance
from governance.models import Release
from registry import actions as registry_actions
from registry.choices import VersionStatus
from serving.actions import (
    GateRefused,
    do_deploy,
    do_end_trial,
    do_promote,
    do_retire,
    do_rollback,
)
from serving.choices import DeploymentRole
from serving.models import Deployment, Route
from tests.governance.factories import ReleaseWorld
from tests.serving.factories import approve, new_version, request

pytestmark = pytest.mark.django_db


def events(event_type: str) -> list[Any]:
    return list(AuditEvent.objects.filter(event_type=event_type).order_by("seq"))


def route_of(rw: ReleaseWorld) -> Route:
    return Route.objects.get(model=rw.version.model, environment=rw.environment)


def snapshot(rw: ReleaseWorld) -> tuple[int | None, int | None, int | None, int]:
    route = route_of(rw)
    return route.primary_id, route.canary_id, route.shadow_id, route.revision


def primary_and_second(rw: ReleaseWorld, tmp_path: Path) -> tuple[Deployment, Release]:
    """Version 1 serving as the primary; version 2's release approved, not deployed."""
    approve(rw)
    first = do_deploy(rw.release, actor=rw.cast.engineer_a)
    second = request(rw, new_version(rw, tmp_path, 2))
    approve(rw, second)
    return first, second


def test_a_canary_runs_beside_the_primary_and_promotion_makes_it_the_primary(rw, tmp_path):
    # GIVEN version 1 serving, version 2 approved
    first, second = primary_and_second(rw, tmp_path)
    # WHEN version 2 is deployed as a canary taking 10 percent
    canary = do_deploy(second, actor=rw.cast.engineer_a, role=DeploymentRole.CANARY, traffic_percent=10)
    # THEN the route serves both, its revision moved on
    assert snapshot(rw) == (first.pk, canary.pk, None, 2)
    assert (canary.role, canary.traffic_percent, canary.replaces) == ("canary", 10, None)
    # WHEN engineer A promotes it
    promoted = do_promote(rw.version.model, rw.environment, actor=rw.cast.engineer_a)
    # THEN version 2 is the primary through a new passing evaluation, the canary has ended, it is no rollback
    assert snapshot(rw) == (promoted.pk, None, None, 3)
    assert (promoted.role, promoted.release, promoted.replaces) == ("primary", second, first)
    assert promoted.gate_evaluation.passed
    assert promoted.gate_evaluation_id != canary.gate_evaluation_id
    assert not promoted.is_rollback
    created = events(AuditEventType.DEPLOYMENT_CREATED)[-1]
    assert (created.after["promotes"], created.after["route_revision"]) == (canary.pk, 3)


def test_a_shadow_is_promoted_and_can_be_ended(rw, tmp_path):
    first, second = primary_and_second(rw, tmp_path)
    shadow = do_deploy(second, actor=rw.cast.engineer_a, role=DeploymentRole.SHADOW)
    assert snapshot(rw) == (first.pk, None, shadow.pk, 2)
    # WHEN the shadow ends
    route = do_end_trial(rw.version.model, rw.environment, actor=rw.cast.engineer_a, role=DeploymentRole.SHADOW)
    # THEN the primary alone serves; the event says which deployment ended
    assert snapshot(rw) == (first.pk, None, None, 3)
    assert route.revision == 3
    [ended] = events(AuditEventType.DEPLOYMENT_TRIAL_ENDED)
    assert ended.before == {"role": "shadow", "deployment": shadow.pk, "traffic_percent": 0}
    assert ended.after["route_revision"] == 3
    # AND with nothing running there is nothing to promote or end
    with pytest.raises(ValidationError, match="has no canary or shadow in production: nothing to promote") as bad:
        do_promote(rw.version.model, rw.environment, actor=rw.cast.engineer_a)
    assert list(bad.value.message_dict) == ["role"]
    with pytest.raises(ValidationError, match="has no shadow in production"):
        do_end_trial(rw.version.model, rw.environment, actor=rw.cast.engineer_a, role=DeploymentRole.SHADOW)
    with pytest.raises(ValidationError, match="End a canary or a shadow, not 'primary'"):
        do_end_trial(rw.version.model, rw.environment, actor=rw.cast.engineer_a, role=DeploymentRole.PRIMARY)
    assert snapshot(rw) == (first.pk, None, None, 3)


def test_a_canary_needs_a_primary_of_another_version_and_a_share_of_1_to_50(rw, tmp_path):
    approve(rw)
    # no primary yet
    with pytest.raises(ValidationError, match="A canary runs beside a primary") as bad:
        do_deploy(rw.release, actor=rw.cast.engineer_a, role=DeploymentRole.CANARY, traffic_percent=10)
    assert list(bad.value.message_dict) == ["role"]
    first = do_deploy(rw.release, actor=rw.cast.engineer_a)
    # the version already serving
    same = request(rw, rw.version)
    approve(rw, same)
    with pytest.raises(ValidationError, match="Version 1 already serves here; a canary is another version"):
        do_deploy(same, actor=rw.cast.engineer_a, role=DeploymentRole.CANARY, traffic_percent=10)
    second = request(rw, new_version(rw, tmp_path, 2))
    approve(rw, second)
    for percent in (0, 51, None, 100):
        with pytest.raises(ValidationError, match="between 1 and 50 percent") as bad:
            do_deploy(second, actor=rw.cast.engineer_a, role=DeploymentRole.CANARY, traffic_percent=percent)
        assert list(bad.value.message_dict) == ["traffic_percent"]
    assert snapshot(rw) == (first.pk, None, None, 1)
    assert Deployment.objects.count() == 1


def test_a_gate_refusal_of_a_promotion_leaves_the_route_as_it_was(rw, tmp_path):
    # GIVEN a canary of version 2; then the legal reviewer's key is revoked
    first, second = primary_and_second(rw, tmp_path)
    canary = do_deploy(second, actor=rw.cast.engineer_a, role=DeploymentRole.CANARY, traffic_percent=20)
    _, key = rw.key_of(rw.cast.reviewers[BoardRole.LEGAL])
    governance.do_revoke_signing_key(key, actor=rw.cast.compliance, reason="Key leaked")
    # WHEN the canary is promoted
    with pytest.raises(GateRefused, match=r"quorum failed\.$") as refused:
        do_promote(rw.version.model, rw.environment, actor=rw.cast.engineer_a)
    # THEN the gate refused, recorded; the canary still runs beside the same primary
    assert [check["name"] for check in refused.value.failed] == ["quorum"]
    assert snapshot(rw) == (first.pk, canary.pk, None, 2)
    assert events(AuditEventType.GATE_FAILED)[-1].metadata["is_rollback"] is True


def test_a_stale_approval_refuses_the_promotion(rw, tmp_path):
    first, second = primary_and_second(rw, tmp_path)
    canary = do_deploy(second, actor=rw.cast.engineer_a, role=DeploymentRole.CANARY, traffic_percent=5)
    # WHEN the training dataset's classification changes after the approvals
    dataset = rw.version.dataset_versions.get().dataset
    registry_actions.do_update_dataset(dataset, actor=rw.cast.engineer_a, classification="restricted")
    with pytest.raises(GateRefused, match="quorum") as refused:
        do_promote(rw.version.model, rw.environment, actor=rw.cast.engineer_a)
    # THEN the promotion is refused: the approvals no longer match what would be deployed
    assert "quorum" in [check["name"] for check in refused.value.failed]
    assert snapshot(rw) == (first.pk, canary.pk, None, 2)


def test_rollback_without_a_release_returns_to_the_previous_primary(rw, tmp_path):
    # GIVEN version 1, then version 2 promoted from a canary
    _first, second = primary_and_second(rw, tmp_path)
    do_deploy(second, actor=rw.cast.engineer_a, role=DeploymentRole.CANARY, traffic_percent=10)
    promoted = do_promote(rw.version.model, rw.environment, actor=rw.cast.engineer_a)
    # WHEN engineer A rolls back naming nothing
    back = do_rollback(rw.version.model, rw.environment, actor=rw.cast.engineer_a)
    # THEN version 1 serves again, as a rollback replacing version 2, the route one revision on
    assert (back.release, back.is_rollback, back.replaces) == (rw.release, True, promoted)
    assert snapshot(rw) == (back.pk, None, None, 4)
    # AND rolling back again returns to version 2 (the primary the rollback took over from)
    again = do_rollback(rw.version.model, rw.environment, actor=rw.cast.engineer_a)
    assert again.release == second


def test_rollback_with_no_earlier_primary_names_what_to_do(rw):
    approve(rw)
    do_deploy(rw.release, actor=rw.cast.engineer_a)
    with pytest.raises(ValidationError, match="has no earlier primary in production to return to; name a release"):
        do_rollback(rw.version.model, rw.environment, actor=rw.cast.engineer_a)


def test_retire_stops_serving_and_a_rollback_brings_it_back(rw, tmp_path):
    first, second = primary_and_second(rw, tmp_path)
    canary = do_deploy(second, actor=rw.cast.engineer_a, role=DeploymentRole.CANARY, traffic_percent=10)
    # WHEN the model is retired from production
    with pytest.raises(ValidationError, match="Say why") as bad:
        do_retire(rw.version.model, rw.environment, actor=rw.cast.engineer_a, reason=" ")
    assert list(bad.value.message_dict) == ["reason"]
    route = do_retire(rw.version.model, rw.environment, actor=rw.cast.engineer_a, reason="Product closed")
    # THEN nothing serves; both versions serve nowhere, so they are deprecated (not retired: a rollback may return)
    assert snapshot(rw) == (None, None, None, 3)
    assert route.revision == 3
    [retired] = events(AuditEventType.DEPLOYMENT_RETIRED)
    assert retired.before == {"primary": first.pk, "canary": canary.pk}
    assert retired.after["reason"] == "Product closed"
    versions = rw.version.model.versions.order_by("number").values_list("status", flat=True)
    assert list(versions) == [VersionStatus.DEPRECATED, VersionStatus.DEPRECATED]
    with pytest.raises(ValidationError, match="is not served in production: nothing to retire"):
        do_retire(rw.version.model, rw.environment, actor=rw.cast.engineer_a, reason="Again")
    # WHEN rolled back naming nothing: the primary that served last returns, through the gate
    back = do_rollback(rw.version.model, rw.environment, actor=rw.cast.engineer_a)
    assert (back.release, back.is_rollback) == (rw.release, True)
    assert snapshot(rw) == (back.pk, None, None, 4)
    rw.version.refresh_from_db()
    assert rw.version.status == VersionStatus.DEPLOYED


@pytest.mark.parametrize("persona", ["engineer_b", "compliance", "auditor"])
def test_only_engineers_and_admins_of_the_team_promote_end_retire_and_roll_back(rw, tmp_path, persona):
    first, second = primary_and_second(rw, tmp_path)
    canary = do_deploy(second, actor=rw.cast.engineer_a, role=DeploymentRole.CANARY, traffic_percent=10)
    actor = getattr(rw.cast, persona)
    model, env = rw.version.model, rw.environment
    for attempt in (
        lambda: do_promote(model, env, actor=actor),
        lambda: do_end_trial(model, env, actor=actor, role=DeploymentRole.CANARY),
        lambda: do_retire(model, env, actor=actor, reason="No"),
        lambda: do_rollback(model, env, actor=actor),
    ):
        with pytest.raises(PermissionDenied, match="Only engineers and admins of the model's team"):
            attempt()
    assert snapshot(rw) == (first.pk, canary.pk, None, 2)
