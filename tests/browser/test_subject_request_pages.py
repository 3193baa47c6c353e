"""A compliance officer handles an erasure request in a real browser: records it from the list page, runs the
search, reads the report (files and rows), confirms the erasure and reads what was erased. The jobs run in this
process through the worker's own job functions. Screenshots go to test-artifacts/screenshots/subjects-*.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from compliance.models import SubjectRequest
from core.choices import JobStatus
from core.models import Job
from tests.browser.test_registry_pages import text_of
from tests.compliance.factories import SUBJECT, make_customers, run, write_customers
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_an_officer_records_searches_and_erases_from_the_ui(ui: Any, cast: Any, settings: Any, tmp_path: Path) -> None:
    # GIVEN team A's customers table in the lake, declaring e-mail and customer id as subject identifiers
    settings.DATA_LAKE_ROOT = tmp_path / "lake"
    write_customers(tmp_path / "lake")
    version = make_customers(cast)

    # WHEN the compliance officer records an erasure request from the list page
    ui.login("carol-compliance", PASSWORD)
    ui.go("/")
    with ui.page.expect_navigation():
        ui.page.click("#compliance-links a:text-is('Data-subject requests')")
    ui.assert_styled()
    ui.page.select_option("#id_kind", "erasure")
    ui.page.fill("#id_subject_identifier", SUBJECT)
    ui.page.fill("#id_asked_by", "Ana Keller, by e-mail to the DPO")
    ui.shot("subjects-list-form")
    with ui.page.expect_navigation():
        ui.page.click("#subject-request-form button[type=submit]")
    request = SubjectRequest.objects.get()
    assert ui.page.url == f"{ui.base_url}/compliance/subject-requests/{request.pk}/"
    assert ui.page.inner_text("#subject-identifier") == SUBJECT

    # AND runs the search, which a worker runs
    with ui.page.expect_navigation():
        ui.page.click("#run-search")
    search_job = Job.objects.get(kind="compliance.subject_search")
    assert run(search_job).status == JobStatus.SUCCEEDED

    # THEN the request's page lists the version's files and the subject's rows in each
    ui.go(f"/compliance/subject-requests/{request.pk}/")
    hits = text_of(ui.page.locator(".table--subject-hits tbody"))
    assert f"{version} dataset_rows part-0.parquet 2" in hits
    assert f"{version} dataset_rows part-1.parquet 1" in hits
    ui.assert_fits()
    ui.shot("subjects-report")

    # WHEN the officer confirms the erasure and it runs
    with ui.page.expect_navigation():
        ui.page.click("#confirm-erasure")
    erase_job = Job.objects.get(kind="compliance.subject_erase")
    assert run(erase_job).status == JobStatus.SUCCEEDED

    # THEN the page shows the erasure report and the request as erased
    ui.go(f"/compliance/subject-requests/{request.pk}/")
    erased = text_of(ui.page.locator(".table--erasure tbody"))
    assert f"{version} Erased 3" in erased
    assert "Erased" in ui.page.inner_text("h1")
    assert "confirming again does nothing more" in ui.page.inner_text("#erased-note")
    ui.shot("subjects-erased")
