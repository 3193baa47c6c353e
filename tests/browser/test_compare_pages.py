"""The comparison page in a real browser: an engineer finds the canary on the environment page, opens the
comparison, sees the chart drawn (no console error, no CSP violation), promotes with the button and rolls back.
Data comes from the real actions with real ONNX files; prediction log rows as the inference service writes them.
Screenshots go to $ASSAY_DATA_DIR/shots (default /tmp/assay-ui/shots)."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from serving.actions import do_deploy
from serving.choices import DeploymentRole
from serving.models import Deployment, PredictionLog, Route
from tests.conftest import PASSWORD
from tests.governance.factories import ReleaseWorld, make_release_world, write_onnx
from tests.serving.factories import approve, new_version, request

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("ASSAY_DATA_DIR") or Path(tempfile.gettempdir()) / "assay-ui") / "shots"


def shot(ui: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    ui.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log(deployment: Deployment, scores: list[float]) -> None:
    PredictionLog.objects.bulk_create(
        PredictionLog(
            request_id=uuid.uuid4(),
            logged_at=timezone.now(),
            environment_id=deployment.environment_id,
            model_id=deployment.model_id,
            deployment=deployment,
            model_version_id=deployment.model_version_id,
            role=deployment.role,
            caller="svc-demo",
            rows=1,
            inputs_sha256="0" * 64,
            outputs=[{"y": score}],
            scores=[score],
            latency_us=100,
        )
        for score in scores
    )


@pytest.fixture
def rw(cast: Any, settings: Any, tmp_path: Path) -> ReleaseWorld:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    return make_release_world(cast, write_onnx(tmp_path / "add.onnx"))


def test_an_engineer_compares_a_canary_promotes_it_and_rolls_back(ui: Any, rw: ReleaseWorld, tmp_path: Path) -> None:
    approve(rw)
    primary = do_deploy(rw.release, actor=rw.cast.engineer_a)
    second = request(rw, new_version(rw, tmp_path, 2))
    approve(rw, second)
    canary = do_deploy(second, actor=rw.cast.engineer_a, role=DeploymentRole.CANARY, traffic_percent=20)
    log(primary, [i / 40 for i in range(40)])
    log(canary, [0.3 + i / 40 for i in range(20)])

    ui.login("erin-engineer", PASSWORD)
    ui.go("/environments/production/")
    assert "canary v2 (20%)" in ui.page.inner_text("[data-trial]")
    shot(ui, "environment-with-canary")
    with ui.page.expect_navigation():
        ui.page.click("[data-compare]")
    ui.page.wait_for_selector("#chart-compare-scores-figure.chart--drawn")
    assert "primary 40 · canary 20" in ui.page.inner_text("[data-rows]")
    overflow = ui.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    shot(ui, "compare-canary")

    with ui.page.expect_navigation():
        ui.page.click("[data-action=promote]")
    assert "Promoted: v2 is the primary now." in ui.page.inner_text(".messages")
    assert "none" in ui.page.inner_text("[data-route-canary]")
    assert "v2" in ui.page.inner_text("[data-route-primary]")
    shot(ui, "compare-promoted")

    with ui.page.expect_navigation():
        ui.page.click("[data-action=rollback]")
    assert "Rolled back: v1 is the primary again." in ui.page.inner_text(".messages")
    route = Route.objects.select_related("primary__model_version").get()
    assert route.primary is not None
    assert route.primary.model_version.number == 1
    shot(ui, "compare-rolled-back")
