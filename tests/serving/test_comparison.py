"""The comparison page (serving.comparison, serving.views.route_compare) and its buttons: score distributions and
disagreement counted by the database from prediction log rows, the promote, end-trial and rollback buttons through
the actions with CSRF and permissions, and the environment page's link to it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audits.models import ReasonCatalogue
from serving.actions import do_deploy
from serving.choices import DeploymentRole
from serving.comparison import compare
from serving.models import Deployment, PredictionLog, Route
from tests.governance.factories import ReleaseWorld
from tests.serving.factories import approve, new_version, request

pytestmark = pytest.mark.django_db


def client_for(user: Any, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def log(deployment: Deployment, scores: list[float], *, request_id: uuid.UUID | None = None, **extra: Any) -> None:
    """One prediction log row of ``deployment`` (as the inference service's logbook writes them)."""
    PredictionLog.objects.create(
        request_id=request_id or uuid.uuid4(),
        logged_at=extra.pop("logged_at", timezone.now()),
        environment_id=deployment.environment_id,
        model_id=deployment.model_id,
        deployment=deployment,
        model_version_id=deployment.model_version_id,
        role=deployment.role,
        returned=deployment.role != DeploymentRole.SHADOW,
        caller="svc-demo",
        rows=len(scores),
        inputs=None,
        inputs_sha256="0" * 64,
        outputs=[{"y": score} for score in scores],
        scores=scores,
        latency_us=100,
    )


def with_trial(rw: ReleaseWorld, tmp_path: Path, role: str) -> tuple[Deployment, Deployment]:
    approve(rw)
    primary = do_deploy(rw.release, actor=rw.cast.engineer_a)
    second = request(rw, new_version(rw, tmp_path, 2))
    approve(rw, second)
    trial = do_deploy(second, actor=rw.cast.engineer_a, role=role, traffic_percent=10 if role == "canary" else None)
    return primary, trial


def route_of(rw: ReleaseWorld) -> Route:
    return Route.objects.select_related("primary", "canary", "shadow").get(model=rw.version.model)


def primary_version(rw: ReleaseWorld) -> int:
    primary = route_of(rw).primary
    assert primary is not None
    return int(primary.model_version.number)


def test_a_shadow_pairs_with_the_answers_by_request_and_row(rw, tmp_path):
    primary, shadow = with_trial(rw, tmp_path, DeploymentRole.SHADOW)
    # GIVEN three requests scored by both: one agrees, one differs on its second row, one differs on its only row
    same, second_row, only = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    log(primary, [0.2], request_id=same)
    log(shadow, [0.3], request_id=same)
    log(primary, [0.9, 0.1], request_id=second_row)
    log(shadow, [0.8, 0.7], request_id=second_row)
    log(primary, [0.45], request_id=only)
    log(shadow, [0.55], request_id=only)
    # AND one the primary answered before the shadow ran, and one outside the window
    log(primary, [0.99])
    log(shadow, [0.1], logged_at=timezone.now() - timedelta(days=2))
    # WHEN compared over the last 24 hours
    result = compare(route_of(rw), DeploymentRole.SHADOW, "24h")
    # THEN rows and bins are counted per side, and two of the three paired requests disagree at 0.5
    assert (result.primary.rows, result.trial.rows) == (5, 4)
    assert (result.primary.positive, result.trial.positive) == (2, 3)
    assert (result.paired_requests, result.disagreeing_requests) == (3, 2)
    assert result.disagreement == pytest.approx(2 / 3)
    assert result.primary.bins[19] == 1  # 0.99
    assert result.primary.bins[4] == 1  # 0.2
    assert result.trial.bins[16] == 1  # 0.8
    assert sum(result.trial.bins) == 4
    assert (result.threshold, result.threshold_source) == (0.5, "the default: no reason catalogue")
    # AND the 30-day window takes the older row in
    assert compare(route_of(rw), DeploymentRole.SHADOW, "30d").trial.rows == 5


def test_a_canary_compares_distributions_only_at_the_catalogues_threshold(rw, tmp_path):
    primary, canary = with_trial(rw, tmp_path, DeploymentRole.CANARY)
    # The catalogue row as stored (its action needs a model that names its features; this one is y = x + w).
    ReasonCatalogue.objects.create(
        model=rw.version.model,
        number=1,
        entries=[],
        threshold=0.8,
        positive_decision="Refer",
        negative_decision="Accept",
        digest="0" * 64,
    )
    for score in (0.1, 0.85, 1.0, -0.2):
        log(primary, [score])
    log(canary, [0.79])
    result = compare(route_of(rw), DeploymentRole.CANARY, "1h")
    assert result.threshold == 0.8
    assert result.threshold_source.startswith("reason catalogue v")
    assert (result.primary.positive, result.trial.positive) == (2, 0)
    # 1.0 and -0.2, outside the bins' half-open ranges, go to the end bins
    assert [index for index, count in enumerate(result.primary.bins) if count] == [0, 2, 17, 19]
    assert result.paired_requests is None
    assert result.disagreement is None


def test_the_environment_page_links_the_comparison_which_shows_the_trial(rw, tmp_path):
    primary, canary = with_trial(rw, tmp_path, DeploymentRole.CANARY)
    log(primary, [0.2, 0.7])
    log(canary, [0.6])
    client = client_for(rw.cast.compliance)
    page = client.get("/environments/production/").content.decode()
    url = f"/environments/production/models/{rw.version.model_id}/compare/"
    assert f'href="{url}"' in page
    assert "canary v2 (10%)" in page
    response = client.get(url + "?window=7d&role=nonsense")
    assert response.status_code == 200
    body = response.content.decode()
    assert "The canary against the primary" in body
    assert "primary 2 · canary 1" in body
    assert 'id="chart-compare-scores"' in body
    assert 'data-action="promote"' not in body  # compliance reads; it does not deploy
    assert client_for(rw.cast.engineer_b).get(url).status_code == 404


def test_the_buttons_promote_and_roll_back_through_the_actions(rw, tmp_path):
    _primary, canary = with_trial(rw, tmp_path, DeploymentRole.CANARY)
    url = f"/environments/production/models/{rw.version.model_id}/"
    engineer = client_for(rw.cast.engineer_a, csrf=True)
    page = engineer.get(url + "compare/").content.decode()
    assert 'data-action="promote"' in page
    # a POST without the CSRF token is refused
    assert engineer.post(url + "promote/").status_code == 403
    token = engineer.cookies["csrftoken"].value
    # compliance may read, not change
    assert client_for(rw.cast.compliance).post(url + "promote/").status_code == 403
    assert client_for(rw.cast.engineer_b).post(url + "promote/").status_code == 404
    assert route_of(rw).canary_id == canary.pk
    # WHEN engineer A promotes
    response = engineer.post(url + "promote/", {"role": "canary", "csrfmiddlewaretoken": token}, follow=True)
    assert "Promoted: v2 is the primary now." in response.content.decode()
    assert (primary_version(rw), route_of(rw).canary_id) == (2, None)
    # AND rolls back with one button
    response = engineer.post(url + "rollback/", {"csrfmiddlewaretoken": token}, follow=True)
    assert "Rolled back: v1 is the primary again." in response.content.decode()
    assert primary_version(rw) == 1
    # AND ending a trial that does not run says so
    response = engineer.post(url + "end-trial/", {"role": "canary", "csrfmiddlewaretoken": token}, follow=True)
    assert "has no canary in production" in response.content.decode()
    assert engineer.post(url + "explode/", {"csrfmiddlewaretoken": token}).status_code == 404
