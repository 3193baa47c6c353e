"""The report page: what a compliance officer or board member reads (figures as tables), restricted like the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from audits.pipelines.fairness import FairnessParams, Thresholds, fairness_report
from tests.audits.factories import make_credit, make_report
from tests.audits.test_fairness_pipeline import aggregate, rows
from tests.registry import factories

_empty_cache = factories._empty_cache
artifact_root = factories.artifact_root

pytestmark = pytest.mark.django_db


@pytest.fixture
def report(cast: Any, artifact_root: Path) -> Any:
    objects = make_credit(cast.team_a, cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")
    results = fairness_report(
        aggregate(rows(n=2000, bias=0.25), ["sex", "region"]),
        FairnessParams(("sex", "region"), bootstrap_iterations=20),
        Thresholds(),
    )
    return make_report(objects["model_version"], objects["dataset_version"], cast.engineer_a, results=results)


def test_a_board_member_reads_the_report(cast: Any, report: Any) -> None:
    client = Client()
    client.force_login(cast.reviewers["risk"])
    response = client.get(f"/audit-reports/{report.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert report.digest in page
    assert report.artifact_sha256 in page
    assert 'id="report-verdict">Fail<' in page
    assert "By sex and region" in page
    assert "reference group: sex=m" in page
    assert "disparate_impact" in page


def test_another_team_and_anonymous_do_not_see_it(cast: Any, report: Any) -> None:
    client = Client()
    assert client.get(f"/audit-reports/{report.pk}/").status_code == 302
    client.force_login(cast.engineer_b)
    assert client.get(f"/audit-reports/{report.pk}/").status_code == 404
