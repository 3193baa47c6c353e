"""The fairness report page in a real browser: a board member reads the verdicts and the per-group figures, with no
console error or CSP violation, and the page fits the window. Screenshot: test-artifacts/screenshots/audit-report.png
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from audits.pipelines.fairness import FairnessParams, Thresholds, fairness_report
from tests.audits.factories import make_credit, make_report
from tests.audits.test_fairness_pipeline import aggregate, rows
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_a_board_member_reads_a_fairness_report(ui: Any, cast: Any, settings: Any, tmp_path: Path) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    objects = make_credit(cast.team_a, cast.engineer_a, tmp_path / "models")
    results = fairness_report(
        aggregate(rows(n=3000, bias=0.2), ["sex", "region"]),
        FairnessParams(("sex", "region"), bootstrap_iterations=50),
        Thresholds(),
    )
    report = make_report(objects["model_version"], objects["dataset_version"], cast.engineer_a, results=results)
    ui.login("rita-risk", PASSWORD)
    ui.go(f"/audit-reports/{report.pk}/")
    ui.assert_styled()
    assert ui.page.inner_text("#report-verdict") == "Fail"
    assert ui.page.inner_text("#report-rows") == "3000"
    assert "disparate_impact" in ui.page.inner_text("#report-checks")
    overflow = ui.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    assert not ui.csp_violations()
    ui.shot("audit-report")
