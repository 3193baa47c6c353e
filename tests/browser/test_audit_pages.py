"""The audit pages in a real browser. A board member reads a fairness, a proxy and a validation report: every chart is
drawn by the vendored Vega-Lite (an SVG in each figure) under the site's Content Security Policy (the conftest fails a
test on any CSP violation or console error), the tables hold the figures, and the page fits the window. An engineer
starts an audit from the model version page (a bad field shows its error; a good form leads to the job's page); the
release page links the reports its manifest holds.

Screenshots go to $ASSAY_DATA_DIR/shots (default /tmp/assay-ui/shots) and test-artifacts/screenshots.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from audits.pipelines.fairness import FairnessParams, Thresholds, fairness_report
from core.models import Job
from tests.audits.explanation_reports import make_explanation_report
from tests.audits.factories import make_credit, make_report, proxy_results, validation_results
from tests.audits.test_fairness_pipeline import aggregate, rows
from tests.conftest import PASSWORD
from tests.governance.factories import make_release_world, write_onnx
from tests.registry.factories import make_dataset, make_dataset_version

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("ASSAY_DATA_DIR") or Path(tempfile.gettempdir()) / "assay-ui") / "shots"


def shot(ui: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    ui.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    ui.shot(name)


def drawn_charts(ui: Any) -> list[str]:
    """Wait until every chart of the page is drawn or has failed; the ids of those drawn as SVG."""
    ui.page.wait_for_function(
        "() => [...document.querySelectorAll('[data-chart]')]"
        ".every(f => f.classList.contains('chart--drawn') || f.classList.contains('chart--failed'))"
    )
    failed = ui.page.eval_on_selector_all(".chart--failed", "els => els.map(e => e.dataset.chart)")
    assert not failed, f"charts not drawn: {failed}; console: {ui.console}"
    return ui.page.eval_on_selector_all(
        "[data-chart].chart--drawn",
        "els => els.filter(e => e.querySelector('svg .mark-rect, svg .mark-line, svg path')).map(e => e.dataset.chart)",
    )


def test_a_board_member_reads_a_fairness_report(ui: Any, cast: Any, settings: Any, tmp_path: Path) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    objects = make_credit(cast.team_a, cast.engineer_a, tmp_path / "models")
    results = fairness_report(
        aggregate(rows(n=3000, bias=0.2), ["sex", "region"]),
        FairnessParams(("sex", "region"), bootstrap_iterations=50, min_group_size=320),
        Thresholds(),
    )
    report = make_report(objects["model_version"], objects["dataset_version"], cast.engineer_a, results=results)
    # GIVEN a reviewer of the team's board (not an engineer of it)
    ui.login("rita-risk", PASSWORD)
    # WHEN she opens the report
    ui.go(f"/audit-reports/{report.pk}/")
    ui.assert_styled()
    # THEN every chart is drawn, the verdicts are words, and the tables hold the figures
    assert sorted(drawn_charts(ui)) == sorted(
        ["chart-groups-1", "chart-named-1", "chart-groups-2", "chart-named-2", "chart-groups-3", "chart-named-3"]
    )
    assert ui.page.inner_text("#report-verdict") == "Fail"
    assert ui.page.inner_text("#report-rows") == "3000"
    assert "disparate_impact" in ui.page.inner_text("#report-checks")
    comparisons = ui.page.locator("table.comparisons").first.inner_text()
    assert "fail" in comparisons
    # Two intersections have fewer than 320 rows: said in words, in the table and beside the chart.
    assert "insufficient data" in ui.page.inner_text("#insufficient-3")
    assert "sex=m, region=east" in ui.page.inner_text("#insufficient-3")
    ui.assert_fits()
    assert not ui.csp_violations()
    shot(ui, "audit-report")


def test_a_board_member_reads_proxy_and_validation_reports(ui: Any, cast: Any, settings: Any, tmp_path: Path) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    objects = make_credit(cast.team_a, cast.engineer_a, tmp_path / "models")
    proxy = make_report(
        objects["model_version"], objects["dataset_version"], cast.engineer_a, kind="proxy", results=proxy_results()
    )
    validation = make_report(
        objects["model_version"],
        objects["dataset_version"],
        cast.engineer_a,
        kind="validation",
        results=validation_results(),
    )
    ui.login("rita-risk", PASSWORD)
    ui.go(f"/audit-reports/{proxy.pk}/")
    assert drawn_charts(ui) == ["chart-proxy-heatmap"]
    table = ui.page.inner_text("#proxy-table")
    assert "0.71" in table
    assert "flagged" in table
    assert ui.page.inner_text("#proxy-flagged-count") == "1 flagged pair"
    ui.assert_fits()
    shot(ui, "audit-report-proxy")

    ui.go(f"/audit-reports/{validation.pk}/")
    assert sorted(drawn_charts(ui)) == ["chart-calibration", "chart-cost", "chart-segments"]
    segments = ui.page.inner_text("#validation-segments")
    assert "south" in segments
    assert "0.61" in segments
    assert "income monotonic" in ui.page.inner_text("#validation-edge-cases")
    assert ui.page.inner_text("#edge-summary") == "2 passed, 1 failed"
    ui.assert_fits()
    shot(ui, "audit-report-validation")


def test_a_board_member_reads_an_explanation_report(ui: Any, cast: Any, settings: Any, tmp_path: Path) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    objects = make_credit(cast.team_a, cast.engineer_a, tmp_path / "models")
    report = make_explanation_report(objects["model_version"], objects["dataset_version"], cast.engineer_a)
    # GIVEN a reviewer of the team's board WHEN she opens the global explanation report
    ui.login("rita-risk", PASSWORD)
    ui.go(f"/audit-reports/{report.pk}/")
    ui.assert_styled()
    # THEN the importance bars, the beeswarm, the dependence lines and the groups' heat map are drawn
    assert sorted(drawn_charts(ui)) == sorted(
        ["chart-explain-importance", "chart-explain-beeswarm", "chart-explain-dependence", "chart-explain-groups"]
    )
    assert ui.page.inner_text("#explanation-method") == "permutation"
    assert "50 rows" in ui.page.inner_text("#explanation-background")
    groups = ui.page.inner_text("#explanation-groups")
    assert "fail" in groups
    assert "insufficient data" in groups
    assert "income" in ui.page.inner_text("#explanation-importance")
    ui.assert_fits()
    shot(ui, "audit-report-explanation")


def test_an_engineer_starts_an_audit_from_the_model_version_page(
    ui: Any, cast: Any, settings: Any, tmp_path: Path
) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    objects = make_credit(cast.team_a, cast.engineer_a, tmp_path / "models")
    version = objects["model_version"]
    report = make_report(version, objects["dataset_version"], cast.engineer_a)
    ui.login("erin-engineer", PASSWORD)
    ui.go(f"/models/{version.model_id}/versions/{version.number}/")
    # The panel lists the report that counts, and the form.
    assert "counts" in ui.page.inner_text("#audit-reports")
    assert ui.page.locator(f'#audit-reports a[href="/audit-reports/{report.pk}/"]').count() == 1
    shot(ui, "model-version-audits")
    # WHEN the engineer asks with a threshold outside [0, 1]
    ui.page.select_option("#id_dataset_version", str(objects["dataset_version"].pk))
    ui.page.fill("#id_label", "defaulted")
    ui.page.fill("#id_threshold", "1.5")
    with ui.page.expect_navigation():
        ui.page.click("#audit-form button[type=submit]")
    # THEN the form comes back with the error on the threshold, and no job was started
    assert "from 0 to 1" in ui.page.inner_text("#id_threshold_error")
    assert not Job.objects.filter(kind="audits.fairness", params__label="defaulted").exists()
    shot(ui, "audit-start-refused")
    # WHEN the threshold is corrected
    ui.page.fill("#id_threshold", "0.4")
    with ui.page.expect_navigation():
        ui.page.click("#audit-form button[type=submit]")
    # THEN the job's page opens
    job = Job.objects.get(kind="audits.fairness", params__label="defaulted")
    assert ui.page.url.endswith(f"/jobs/{job.public_id}/")
    assert job.params["threshold"] == 0.4


def test_the_release_page_links_its_audit_reports(ui: Any, cast: Any, settings: Any, tmp_path: Path) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    rw = make_release_world(cast, write_onnx(tmp_path / "add.onnx"))
    dataset = make_dataset(cast.team_a, cast.engineer_a, name="Evaluation set")
    report = make_report(rw.version, make_dataset_version(dataset, cast.engineer_a), cast.engineer_a)
    ui.login("rita-risk", PASSWORD)
    ui.go(f"/releases/{rw.release.pk}/")
    row = ui.page.locator('#manifest-audit-reports tr[data-audit-kind="fairness"]')
    assert "pass" in row.inner_text()
    assert report.digest[:16] in row.inner_text()
    with ui.page.expect_navigation():
        row.locator("a").click()
    assert ui.page.url.endswith(f"/audit-reports/{report.pk}/")
