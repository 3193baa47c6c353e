"""The job page's Lineage card in a real browser: a job whose events could not reach the external OpenLineage backend
shows its runs and each pending delivery with its error; once the backend is back and the sweep ran, the deliveries
read delivered. Screenshots: test-artifacts/screenshots/jobs-lineage-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core.choices import JobStatus
from core.jobs import dispatch_job
from lineage import forwarding
from lineage.emit import run_id
from lineage.models import LineageDelivery
from tests.browser.test_registry_pages import text_of
from tests.conftest import PASSWORD
from tests.lineage.job_kinds import KIND, lineage_reader
from tests.lineage.receiver import Receiver
from tests.registry.factories import make_dataset, make_dataset_version

pytestmark = pytest.mark.browser


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    receiver = Receiver()
    settings.OPENLINEAGE_URL = receiver.url
    yield receiver
    receiver.stop()


def test_the_job_page_shows_the_forwarding_delay_then_the_delivery(ui: Any, cast: Any, receiver: Receiver) -> None:
    dataset = make_dataset(cast.team_a, cast.engineer_a, name="Card events", location="lake://churn/events")
    version = make_dataset_version(dataset, cast.engineer_a)
    job, _ = dispatch_job(KIND, actor=cast.engineer_a, team=cast.team_a, params={"input": version.pk})
    assert lineage_reader.apply(args=(job.pk,), task_id=job.task_id).successful()
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    # GIVEN the external backend down when the deliveries were tried
    assert forwarding.deliver_due() == (0, 2)

    ui.login("erin-engineer", PASSWORD)
    ui.go(f"/jobs/{job.public_id}/")
    ui.assert_styled()
    card = text_of(ui.page.locator("#job-lineage"))
    assert str(run_id(job, 1)) in card
    assert "COMPLETE" in card
    deliveries = text_of(ui.page.locator("#job-lineage-deliveries tbody"))
    assert deliveries.count("Pending") == 2
    assert "ConnectionError" in deliveries
    ui.assert_fits()
    ui.shot("jobs-lineage-pending")

    # WHEN the backend is back and the sweep runs
    receiver.start()
    LineageDelivery.objects.update(next_attempt_at=None)
    assert forwarding.deliver_due() == (2, 0)
    ui.go(f"/jobs/{job.public_id}/")
    deliveries = text_of(ui.page.locator("#job-lineage-deliveries tbody"))
    assert deliveries.count("Delivered") == 2
    assert [item.event["eventType"] for item in receiver.received] == ["START", "COMPLETE"]
    assert ui.csp_violations() == []
    ui.shot("jobs-lineage-delivered")
