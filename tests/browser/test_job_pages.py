"""Starting a Spark job from the web UI in a real browser: an engineer opens a churn-like feature view (the churn
demo's synthetic events and labels, written to a temporary lake), fills in the Materialize form and lands on the
job's page. The job then runs here, in this process, through the worker's own job function on the session's
``spark`` fixture (as seed_churn_demo --wait does); reloaded, the job page says it succeeded and the feature view
lists the feature-set version it wrote, linked to the job. Screenshots go to test-artifacts/screenshots/jobs-*.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.choices import JobStatus
from core.models import Job
from registry.management.commands import seed_churn_demo as demo
from registry.models import FeatureSetVersion
from tests.browser.test_registry_pages import text_of
from tests.conftest import PASSWORD
from tests.registry.factories import fingerprint, make_dataset, make_dataset_version, make_feature_view

pytestmark = pytest.mark.browser


@pytest.fixture
def churn_view(cast: Any, settings: Any, tmp_path: Path) -> Any:
    """Team A's card activity view over the churn demo's events, with its labels as a spine dataset."""
    settings.DATA_LAKE_ROOT = str(tmp_path / "lake")
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.SPARK_JOB_POLL_SECONDS = 1
    engineer = cast.engineer_a
    events, labels = demo.generate()
    demo.write_parquet(events, demo.EVENTS_SCHEMA, tmp_path / "lake" / "events")
    demo.write_parquet(labels, demo.LABELS_SCHEMA, tmp_path / "lake" / "labels")
    versions = {}
    for name, location, schema, columns in (
        ("Card activity events", "lake://events", demo.EVENTS_SCHEMA, events),
        ("Card churn labels", "lake://labels", demo.LABELS_SCHEMA, labels),
    ):
        dataset = make_dataset(cast.team_a, engineer, name=name, location=location, partitioning=[])
        versions[name] = make_dataset_version(
            dataset,
            engineer,
            schema=schema,
            content_fingerprint=fingerprint(name),
            row_count=len(columns["customer_id"]),
        )
    view = make_feature_view(
        cast.team_a,
        engineer,
        versions["Card activity events"].dataset,
        name=demo.VIEW,
        features=demo.FEATURES,
        description="Card-holders' recent activity: counts, spend and channel over 30 and 90 days.",
    )
    return {"view": view, "spine": versions["Card churn labels"]}


def test_an_engineer_materializes_a_feature_view_from_the_ui(ui: Any, cast: Any, churn_view: Any, spark: Any) -> None:
    from workers import tasks
    from workers.runner import run_job

    view = churn_view["view"]
    ui.login("erin-engineer", PASSWORD)
    with ui.page.expect_navigation():
        ui.page.click(".site-nav a:text-is('Features')")
    assert ui.page.url == ui.base_url + "/feature-views/"
    ui.assert_styled()
    assert ui.page.inner_text("#feature-view-count") == "1"
    ui.shot("jobs-feature-view-list")
    with ui.page.expect_navigation():
        ui.page.click(f"table.table--feature-views a:text-is('{demo.VIEW}')")
    definitions = text_of(ui.page.locator("#feature-definitions tbody"))
    assert "spend_mean_90d amount Mean 90d" in definitions
    assert "Not materialized yet." in text_of(ui.page.locator("#feature-set-versions"))

    # WHEN the engineer asks for the materialization at the labels' rows, then a training job
    ui.page.select_option("#id_spine_dataset_version", str(churn_view["spine"].pk))
    ui.assert_fits()
    ui.shot("jobs-feature-view-form")
    with ui.page.expect_navigation():
        ui.page.click("#materialize-form button[type=submit]")
    # THEN they are on the job's page, queued, with what was asked
    job = Job.objects.get(kind="registry.materialize_features")
    assert ui.page.url == f"{ui.base_url}/jobs/{job.public_id}/"
    assert "Materialization of card_activity requested" in ui.page.inner_text(".messages")
    assert ui.page.inner_text("#job [data-job-status]") == "Queued"
    assert job.params["spine_dataset_version"] == churn_view["spine"].pk
    ui.shot("jobs-job-queued")

    # The view's page lists the job while no worker has run it (no polling page stays open meanwhile).
    ui.go(f"/feature-views/{view.pk}/")
    assert "Queued" in text_of(ui.page.locator("#feature-view-jobs"))

    # WHEN the job runs (here, through the worker's own job function)
    run_job(job.pk, tasks.materialize_features.job_fn, task_id=job.task_id, worker="browser-test")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    version = FeatureSetVersion.objects.get(job=job)

    # THEN a job page left open follows it to the end without a reload and links what it made (the run is replayed
    # onto the page: SQLite's shared in-memory test database does not take the live server's reads during a job)
    finished = Job.objects.filter(pk=job.pk).values("status", "progress", "stage", "result", "finished_at").get()
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, progress=0.5, result={}, finished_at=None)
    ui.go(f"/jobs/{job.public_id}/")
    assert ui.page.locator("#job-outputs").is_hidden()
    Job.objects.filter(pk=job.pk).update(**finished)
    ui.page.wait_for_selector("#job-outputs a", state="visible", timeout=15_000)
    assert ui.page.inner_text("#job [data-job-status]") == "Succeeded"
    assert ui.page.inner_text("#job-percent") == "100%"
    assert f'"feature_set_version": {version.pk}' in ui.page.inner_text("#job-result")
    link = ui.page.locator("#job-outputs a")
    assert link.inner_text() == f"Feature-set version {version}"
    ui.shot("jobs-job-succeeded")
    # AND the reloaded page renders the same link on the server
    ui.go(f"/jobs/{job.public_id}/")
    assert ui.page.locator("#job-outputs a").get_attribute("href") == (
        f"/feature-views/{view.pk}/versions/{version.number}/"
    )

    # AND the feature view lists the version it wrote, linked to the job, with its statistics one click away
    ui.go(f"/feature-views/{view.pk}/")
    row = ui.page.locator("#feature-set-versions tbody tr").first
    assert text_of(row).startswith(f"v1 {version.row_count}")
    assert row.locator(f"a[href='/jobs/{job.public_id}/']").count() == 1
    assert "Succeeded" in text_of(ui.page.locator("#feature-view-jobs"))
    ui.assert_fits()
    ui.shot("jobs-feature-view-materialized")
    with ui.page.expect_navigation():
        row.locator("a:text-is('v1')").click()
    statistics = ui.page.locator("#feature-statistics tbody tr")
    assert statistics.count() == len(demo.FEATURES)
    assert text_of(statistics.first).startswith("events_30d 1 count · 30d")
    assert ui.page.locator("#version-job a").get_attribute("href") == f"/jobs/{job.public_id}/"
    ui.assert_fits()
    ui.shot("jobs-feature-set-version")
