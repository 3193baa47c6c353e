"""The prediction log and a decision record in a real browser: from the environment page an engineer opens a model's
prediction log, reads each request's data quality flags, filters by role and time, and opens a recorded decision
with its statement of reasons (as recorded), downloadable as PDF. The engineer of another team gets a 404."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from pypdf import PdfReader

from serving.decisions import Decision, store_decision_records
from tests.audits.explain_factories import make_catalogue, make_explained_model, make_explanation_report
from tests.conftest import PASSWORD
from tests.governance.conftest import _small_kdf, onnx_path
from tests.governance.factories import make_release_world
from tests.serving.factories import deploy, make_prediction

__all__ = ["_small_kdf", "onnx_path"]

pytestmark = pytest.mark.browser

REASONS = [
    {"feature": "debt", "value": 1.4, "shap": 0.21, "direction": "raises", "text": "Existing debt is high"},
    {"feature": "utilisation", "value": 0.9, "shap": 0.12, "direction": "raises", "text": None},
]


def test_an_engineer_reads_the_prediction_log_and_a_decision(
    ui: Any, cast: Any, settings: Any, tmp_path: Path, onnx_path: Path
) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    # GIVEN a deployed model with three logged requests: one clean and decided, one with data quality flags, one old
    rw = make_release_world(cast, onnx_path)
    deployment = deploy(rw)
    decided = make_prediction(deployment)
    make_prediction(deployment, quality={"missing": {"x": 1}, "out_of_range": {"w": 2}})
    make_prediction(deployment, logged_at=timezone.now() - dt.timedelta(days=3), caller="svc-batch")
    credit = make_explained_model(cast.team_a, cast.engineer_a, tmp_path / "models")
    report = make_explanation_report(
        credit["model_version"], credit["dataset_version"], cast.engineer_a, method="tree_exact"
    )
    catalogue = make_catalogue(
        credit["model"], [{"feature": "debt", "direction": "raises", "text": "Existing debt is high"}]
    )
    (record,) = store_decision_records([(decided, Decision("Declined", 0.82, REASONS, report.pk, catalogue.pk, True))])

    ui.login("erin-engineer", PASSWORD)
    ui.go(f"/environments/{rw.environment.slug}/")
    # WHEN the engineer follows the model's Predictions link
    with ui.page.expect_navigation():
        ui.page.locator(f"[data-predictions='{deployment.model_id}']").click()
    ui.page.wait_for_load_state("networkidle")
    # THEN every request is listed, newest first, with its data quality flags
    assert ui.page.locator("#prediction-count").inner_text() == "3"
    flags = ui.page.locator(".quality-flag").all_inner_texts()
    assert flags == ["x: 1 missing", "w: 2 out of range"]
    assert ui.page.locator(f"tr[data-prediction='{decided.pk}'] a").inner_text() == "Declined"
    ui.assert_styled()
    ui.shot("prediction-log")
    # WHEN filtered to shadows, then to the last day
    ui.page.select_option("#f-role", "shadow")
    with ui.page.expect_navigation():
        ui.page.locator("#prediction-filter button[type=submit]").click()
    assert ui.page.locator("#prediction-count").inner_text() == "0"
    ui.page.select_option("#f-role", "primary")
    since = (timezone.now() - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    ui.page.fill("#f-after", since)
    with ui.page.expect_navigation():
        ui.page.locator("#prediction-filter button[type=submit]").click()
    # THEN the old request is left out
    assert ui.page.locator("#prediction-count").inner_text() == "2"
    # WHEN the decision is opened
    with ui.page.expect_navigation():
        ui.page.locator(f"tr[data-prediction='{decided.pk}'] a").click()
    ui.page.wait_for_load_state("networkidle")
    # THEN its statement gives the recorded decision and reasons, under the record's uid
    assert ui.page.locator("#statement-decision").inner_text() == "Declined"
    reasons = ui.page.locator("#statement-reasons").inner_text()
    assert "Existing debt is high" in reasons
    assert "utilisation raised the score" in reasons
    assert ui.page.locator("#statement-reference").inner_text() == str(record.uid)
    assert "version 1" in ui.page.locator("#statement-catalogue").inner_text()
    ui.assert_styled()
    ui.shot("decision-record")
    # AND its PDF says the same
    with ui.page.expect_download() as download:
        ui.page.locator("#download-pdf").click()
    pdf = Path(download.value.path()).read_bytes()
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Declined" in text
    assert "Existing debt is high" in text


def test_another_teams_engineer_sees_neither_page(ui: Any, cast: Any, settings: Any, tmp_path: Path, onnx_path: Path):
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    # GIVEN a decided request of team A's model
    rw = make_release_world(cast, onnx_path)
    deployment = deploy(rw)
    prediction = make_prediction(deployment)
    (record,) = store_decision_records([(prediction, Decision("Approved", 0.1, [], None, None, False))])
    # WHEN team B's engineer asks for the log and the decision
    ui.login(cast.engineer_b.username, PASSWORD)
    log = ui.go(f"/environments/{rw.environment.slug}/models/{deployment.model_id}/predictions/")
    decision = ui.go(f"/decisions/{record.uid}/")
    # THEN both are 404s
    assert log.status == 404
    assert decision.status == 404
