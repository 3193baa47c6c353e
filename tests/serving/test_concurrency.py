"""Concurrent deploy requests and final approvals: exactly one deployment. Real threads, each with its own database
connection, committing (tests/core/test_api_concurrency.py's ``race``). On PostgreSQL the release's row lock
serializes them; on SQLite the IMMEDIATE transactions do, which still checks that the loser reads the winner's
outcome rather than its own stale snapshot."""

from __future__ import annotations

from functools import partial

import pytest
from django.core.exceptions import ValidationError

from core.choices import AuditEventType, BoardRole
from core.models import AuditEvent
from governance.models import GateEvaluation
from serving.actions import GateRefused, do_deploy, do_end_trial, do_promote
from serving.choices import DeploymentRole
from serving.models import Deployment, Route
from tests.core.test_api_concurrency import race
from tests.serving.factories import approve, new_version, request, submit

DEPLOYERS = 4


@pytest.mark.django_db(transaction=True)
def test_concurrent_deploys_of_one_release_make_one_deployment(rw):
    # GIVEN an approved release
    approve(rw)
    deployers = [rw.cast.engineer_a, rw.cast.admin_a] * (DEPLOYERS // 2)
    # WHEN four deploy requests arrive at the same moment
    results = race([partial(do_deploy, rw.release, actor=user) for user in deployers])
    # THEN one deployment; every other request was refused by the gate as already deployed, and recorded
    made = [result for result in results if isinstance(result, Deployment)]
    refused = [result for result in results if isinstance(result, GateRefused)]
    assert len(made) == 1, results
    assert len(refused) == DEPLOYERS - 1, results
    assert all([check["name"] for check in error.failed] == ["release_open"] for error in refused)
    assert Deployment.objects.count() == 1
    assert AuditEvent.objects.filter(event_type=AuditEventType.DEPLOYMENT_CREATED).count() == 1
    assert AuditEvent.objects.filter(event_type=AuditEventType.GATE_FAILED).count() == DEPLOYERS - 1
    assert GateEvaluation.objects.filter(passed=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_deploys_with_one_idempotency_key_return_one_deployment(rw):
    approve(rw)
    results = race(
        [partial(do_deploy, rw.release, actor=rw.cast.engineer_a, idempotency_key="ci-7") for _ in range(DEPLOYERS)]
    )
    assert all(isinstance(result, Deployment) for result in results), results
    assert {result.pk for result in results} == {Deployment.objects.get().pk}
    assert AuditEvent.objects.filter(event_type=AuditEventType.DEPLOYMENT_CREATED).count() == 1
    assert AuditEvent.objects.filter(event_type=AuditEventType.GATE_FAILED).count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_final_approval_racing_deploys_ends_in_one_deployment(rw):
    # GIVEN a release the legal reviewer approved; the technical approval is the last one needed
    submit(rw, rw.cast.reviewers[BoardRole.LEGAL], BoardRole.LEGAL)
    technical = rw.cast.reviewers[BoardRole.TECHNICAL]
    rw.key_of(technical)  # registered beforehand: only the signature races
    # WHEN the final approval and two deploy requests arrive at the same moment
    results = race(
        [
            partial(submit, rw, technical, BoardRole.TECHNICAL),
            partial(do_deploy, rw.release, actor=rw.cast.engineer_a),
            partial(do_deploy, rw.release, actor=rw.cast.admin_a),
        ]
    )
    # THEN the approval is stored, at most one deploy got through, and the others were refused (too early: quorum;
    # too late: already deployed)
    assert not isinstance(results[0], Exception), results
    deployed = [result for result in results[1:] if isinstance(result, Deployment)]
    assert len(deployed) <= 1, results
    assert all(isinstance(result, Deployment | GateRefused) for result in results[1:]), results
    # AND a deploy afterwards finds the release approved and ends with exactly one deployment either way
    if deployed:
        with pytest.raises(GateRefused, match="release_open failed"):
            do_deploy(rw.release, actor=rw.cast.engineer_a)
    else:
        do_deploy(rw.release, actor=rw.cast.engineer_a)
    assert Deployment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_promotion_racing_the_end_of_its_trial_and_another_promotion_has_one_outcome(rw, tmp_path):
    # GIVEN version 1 serving and version 2 as a canary
    approve(rw)
    first = do_deploy(rw.release, actor=rw.cast.engineer_a)
    second = request(rw, new_version(rw, tmp_path, 2))
    approve(rw, second)
    canary = do_deploy(second, actor=rw.cast.engineer_a, role=DeploymentRole.CANARY, traffic_percent=10)
    model, environment = rw.version.model, rw.environment
    # WHEN two promotions and the end of the canary arrive at the same moment
    results = race(
        [
            partial(do_promote, model, environment, actor=rw.cast.engineer_a),
            partial(do_promote, model, environment, actor=rw.cast.admin_a),
            partial(do_end_trial, model, environment, actor=rw.cast.admin_a, role=DeploymentRole.CANARY),
        ]
    )
    # THEN exactly one of them changed the route; the others were refused, naming the role
    succeeded = [result for result in results if not isinstance(result, Exception)]
    assert len(succeeded) == 1, results
    assert all(isinstance(result, ValidationError) for result in results if result not in succeeded), results
    route = Route.objects.get()
    assert route.canary_id is None
    assert route.revision == 3
    promoted = list(Deployment.objects.filter(role=DeploymentRole.PRIMARY, release=second).values_list("pk", flat=True))
    assert route.primary_id == (promoted[0] if promoted else first.pk)
    assert len(promoted) + AuditEvent.objects.filter(event_type=AuditEventType.DEPLOYMENT_TRIAL_ENDED).count() == 1
    assert canary.pk not in {route.primary_id, route.shadow_id}
