"""The report page: what a compliance officer or board member reads (figures as tables), restricted like the API."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from audits.pipelines.fairness import FairnessParams, Thresholds, fairness_report
from core.models import Job
from tests.audits.factories import make_credit, make_report, proxy_results, validation_results
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


def _charts(page: str) -> dict[str, Any]:
    """The chart specs a page hands to the browser, by id (each a <script type="application/json">)."""
    found = re.findall(r'<script id="(chart-[\w-]+)" type="application/json">(.*?)</script>', page, re.S)
    return {chart_id: json.loads(body) for chart_id, body in found}


def test_the_fairness_page_charts_every_grouping_with_its_thresholds(cast: Any, report: Any) -> None:
    # GIVEN a fairness report over sex, region and their intersection
    client = Client()
    client.force_login(cast.compliance)
    # WHEN a compliance officer reads it
    page = client.get(f"/audit-reports/{report.pk}/").content.decode()
    charts = _charts(page)
    # THEN each grouping has its per-group chart and its named-metric chart, with the policy's threshold lines
    assert {"chart-groups-1", "chart-named-1", "chart-groups-3"} <= set(charts)
    named = charts["chart-named-1"]["data"]["values"]
    lines = sorted(row["threshold"] for row in named if row["kind"] == "threshold")
    assert lines == [-0.1, -0.1, -0.1, 0.1, 0.1, 0.1, 0.8]
    assert [row["threshold"] for row in named if row["kind"] == "parity"] == [1.0]
    assert {row["verdict"] for row in named if row["kind"] == "figure"} <= {"pass", "fail", "insufficient data"}
    # AND the verdicts are words in the table, not only colours
    assert 'badge--audit-fail">fail<' in page
    # AND the scripts are files of this site (no inline script: the CSP allows none)
    assert "vendor/vega-embed/vega-embed.min.js" in page
    assert "<script>" not in page


def test_an_insufficient_group_is_never_shown_as_a_pass(cast: Any, artifact_root: Path) -> None:
    # GIVEN a grouping in which one group has fewer rows than the minimum
    objects = make_credit(cast.team_a, cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")
    results = fairness_report(
        aggregate(rows(n=2000, bias=0.1), ["sex", "region"]),
        FairnessParams(("sex", "region"), bootstrap_iterations=5, min_group_size=300),
        Thresholds(),
    )
    report = make_report(objects["model_version"], objects["dataset_version"], cast.engineer_a, results=results)
    small = [g for grouping in results["groupings"] for g in grouping["insufficient_groups"]]
    assert small, "the fixture must have a small group"
    client = Client()
    client.force_login(cast.reviewers["risk"])
    page = client.get(f"/audit-reports/{report.pk}/").content.decode()
    # THEN the page says "insufficient data" for it, and its rows in the named chart carry no pass
    assert "Too few rows to judge, never counted as a pass" in page
    named = [
        row
        for chart_id, spec in _charts(page).items()
        if chart_id.startswith("chart-named")
        for row in spec["data"]["values"]
        if row.get("kind") == "figure" and row["value"] is None
    ]
    assert named
    assert {row["verdict"] for row in named} == {"insufficient data"}


def test_the_proxy_page_shows_the_heat_map_and_the_table(cast: Any, artifact_root: Path) -> None:
    # GIVEN a proxy report in which region stands in for sex
    objects = make_credit(cast.team_a, cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")
    report = make_report(
        objects["model_version"], objects["dataset_version"], cast.engineer_a, kind="proxy", results=proxy_results()
    )
    client = Client()
    client.force_login(cast.reviewers["legal"])
    # WHEN a board member reads it
    page = client.get(f"/audit-reports/{report.pk}/").content.decode()
    # THEN the heat map has a cell per pair, the flagged one marked
    cells = _charts(page)["chart-proxy-heatmap"]["data"]["values"]
    assert len(cells) == 6
    assert [(c["feature"], c["attribute"]) for c in cells if c["flagged"]] == [("region", "sex")]
    # AND the table holds the figures, flagged pairs first, with their reasons
    table = page[page.index('id="proxy-table"') :]
    assert table.index("region") < table.index("income")
    assert "association 0.71 &gt; 0.3" in table
    assert "1 flagged pair" in page
    assert "proxies" in page
    assert "association_max" in page


def test_the_validation_page_shows_segments_calibration_cost_and_edge_cases(cast: Any, artifact_root: Path) -> None:
    objects = make_credit(cast.team_a, cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")
    report = make_report(
        objects["model_version"],
        objects["dataset_version"],
        cast.engineer_a,
        kind="validation",
        results=validation_results(),
    )
    client = Client()
    client.force_login(cast.compliance)
    page = client.get(f"/audit-reports/{report.pk}/").content.decode()
    charts = _charts(page)
    assert set(charts) == {"chart-segments", "chart-calibration", "chart-cost"}
    # THEN south is below the segment AUC minimum (a fail), west too small (insufficient data), north a pass
    segments = charts["chart-segments"]["data"]["values"]
    verdicts = {row["label"]: row["verdict"] for row in segments if row["kind"] == "figure" and row["facet"] == "AUC"}
    assert verdicts == {"north": "pass", "south": "fail", "west": "insufficient data"}
    assert [row["threshold"] for row in segments if row["kind"] == "threshold"] == [0.65]
    # AND the cost curve marks the chosen threshold and the minimum
    marks = charts["chart-cost"]["layer"][1]["data"]["values"]
    assert {(m["what"], m["threshold"]) for m in marks} == {("chosen", 0.5), ("minimum", 0.35)}
    # AND the tables hold the numbers
    assert "score rose from 0.41 to 0.44 as income rose" in page
    assert "2 passed, 1 failed" in page
    assert 'id="validation-holdout"' in page
    assert "applied_at" in page
    assert page.count('badge--audit-fail">fail<') >= 2


def test_the_model_version_page_lists_its_reports_and_offers_the_form(cast: Any, report: Any) -> None:
    version = report.model_version
    url = f"/models/{version.model_id}/versions/{version.number}/"
    engineer = Client()
    engineer.force_login(cast.engineer_a)
    page = engineer.get(url).content.decode()
    assert f'href="/audit-reports/{report.pk}/"' in page
    assert "<strong>counts</strong>" in page
    assert 'id="audit-form"' in page
    # A reviewer reads the reports but is offered no form.
    reviewer = Client()
    reviewer.force_login(cast.reviewers["risk"])
    page = reviewer.get(url).content.decode()
    assert f'href="/audit-reports/{report.pk}/"' in page
    assert 'id="audit-form"' not in page
    assert 'id="audit-not-allowed"' in page
    assert reviewer.post(f"{url}audits/new/", {}).status_code == 403


def _form(client: Client, version: Any, **fields: Any) -> Any:
    url = f"/models/{version.model_id}/versions/{version.number}/audits/new/"
    page = client.get(url).content.decode()
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page)
    assert key
    return client.post(url, {"idempotency_key": key.group(1), "kind": "fairness", **fields})


def test_starting_an_audit_from_the_page_leads_to_its_job(
    cast: Any, artifact_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    objects = make_credit(cast.team_a, cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")
    client = Client()
    client.force_login(cast.engineer_a)
    with django_capture_on_commit_callbacks(execute=False):
        response = _form(
            client, objects["model_version"], dataset_version=objects["dataset_version"].pk, label="defaulted"
        )
    job = Job.objects.get(kind="audits.fairness")
    assert response.status_code == 302
    assert response["Location"] == f"/jobs/{job.public_id}/"
    assert job.params["protected_attributes"] == ["sex", "age_band"]
    assert job.params["label"] == "defaulted"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"label": "nope"}, "label"),
        ({"label": "defaulted", "threshold": "1.5"}, "threshold"),
        ({"label": "defaulted", "threshold": "x"}, "threshold"),
        ({"label": "defaulted", "protected_attributes": "sex, planet"}, "protected_attributes"),
        ({"label": "defaulted", "segment_column": "planet"}, "segment_column"),
    ],
)
def test_a_refused_audit_shows_the_error_on_its_field(
    cast: Any, artifact_root: Path, fields: dict[str, Any], field: str
) -> None:
    objects = make_credit(cast.team_a, cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")
    client = Client()
    client.force_login(cast.engineer_a)
    response = _form(client, objects["model_version"], dataset_version=objects["dataset_version"].pk, **fields)
    assert response.status_code == 400
    assert f'id="id_{field}_error"' in response.content.decode()
    assert not Job.objects.exists()


def test_another_teams_dataset_is_not_offered_and_refused(cast: Any, artifact_root: Path) -> None:
    objects = make_credit(cast.team_a, cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")
    other = make_credit(cast.team_b, cast.engineer_b, Path(settings.ARTIFACT_ROOT).parent / "models-b")
    client = Client()
    client.force_login(cast.engineer_a)
    response = _form(client, objects["model_version"], dataset_version=other["dataset_version"].pk, label="defaulted")
    assert response.status_code == 400
    assert 'id="id_dataset_version_error"' in response.content.decode()
    assert not Job.objects.exists()
