"""The explanation report's page: a board member reads the explainer, the importance, the dependence and the
importance per protected group, each chart's figures also in a table; the specs the browser draws hold the same
numbers (tests/browser/test_audit_pages.py draws them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from tests.audits.explanation_reports import make_explanation_report
from tests.audits.factories import make_credit
from tests.audits.test_ui import _charts
from tests.registry import factories

_empty_cache = factories._empty_cache
artifact_root = factories.artifact_root

pytestmark = pytest.mark.django_db


@pytest.fixture
def report(cast: Any, artifact_root: Path) -> Any:
    objects = make_credit(cast.team_a, cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")
    return make_explanation_report(objects["model_version"], objects["dataset_version"], cast.engineer_a)


def test_a_board_member_reads_the_explanation_report(cast: Any, report: Any) -> None:
    client = Client()
    client.force_login(cast.reviewers["risk"])
    response = client.get(f"/audit-reports/{report.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    # The explainer, its output space, its background and additivity
    assert '<code id="explanation-method">permutation</code>' in page
    assert "50 rows of the evaluation data, drawn with seed 3" in page
    assert "importance_shift" in page
    assert "≤ 0.2 (importance_shift_max)" in page
    assert "≤ 0.0001 (additivity_error_max)" in page
    # The charts, each with its figures in a table
    charts = _charts(page)
    assert list(charts) == [
        "chart-explain-importance",
        "chart-explain-beeswarm",
        "chart-explain-dependence",
        "chart-explain-groups",
    ]
    importance = {row["feature"]: row["mean_abs_shap"] for row in charts["chart-explain-importance"]["data"]["values"]}
    features = {f["feature"]: f for f in report.results["features"]}
    assert importance == {name: f["mean_abs_shap"] for name, f in features.items()}
    for name in features:
        assert f'<th scope="row"><code>{name}</code></th>' in page
    swarm = charts["chart-explain-beeswarm"]["data"]["values"]
    assert len(swarm) == sum(len(f["points"]) for f in features.values())
    assert all(0 <= p["level"] <= 1 for p in swarm if p["level"] is not None)
    # The groups: women's explanation shifted (a failure), the small age band insufficient data
    assert 'id="explanation-groups"' in page
    shifts = report.results["importance_shift"]
    women = next(g for g in shifts["sex"] if g["group"] == "f")
    assert women["distance"] > 0.2
    assert "badge--audit-insufficient-data" in page
    groups = {cell["group"] for cell in charts["chart-explain-groups"]["data"]["values"]}
    assert "all rows" in groups
    assert any(label.startswith("age_band=<18 (n=") for label in groups)


def test_another_team_does_not_see_it(cast: Any, report: Any) -> None:
    client = Client()
    client.force_login(cast.engineer_b)
    assert client.get(f"/audit-reports/{report.pk}/").status_code == 404
