"""GIVEN a second Assay instance (its own database, served over HTTP) as the external OpenLineage backend, with a
token of its team-a service account as OPENLINEAGE_API_KEY
WHEN a job of team A runs here and its deliveries are sent
THEN the second instance stored both events through its own ingestion endpoint and folded the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.jobs import dispatch_job
from lineage import forwarding
from lineage.emit import run_id
from lineage.models import LineageDelivery
from tests.lineage.job_kinds import KIND, lineage_reader
from tests.lineage.second_assay import SecondAssay, start_second_assay
from tests.registry.factories import make_dataset, make_dataset_version

pytestmark = pytest.mark.worker


@pytest.fixture
def second_assay(tmp_path: Path) -> Iterator[SecondAssay]:
    instance = start_second_assay(tmp_path / "second-assay")
    yield instance
    instance.stop()


def test_a_jobs_events_arrive_at_a_second_assay(
    cast: Any, settings: Any, second_assay: SecondAssay, django_capture_on_commit_callbacks: Any
) -> None:
    settings.OPENLINEAGE_URL = second_assay.url
    settings.OPENLINEAGE_API_KEY = second_assay.token
    dataset = make_dataset(cast.team_a, cast.engineer_a, name="Events", location="s3://bank-data/events")
    version = make_dataset_version(dataset, cast.engineer_a)
    job, _ = dispatch_job(KIND, actor=cast.engineer_a, team=cast.team_a, params={"input": version.pk})
    with django_capture_on_commit_callbacks(execute=True):
        assert lineage_reader.apply(args=(job.pk,), task_id=job.task_id).successful()

    assert forwarding.deliver_due() == (2, 0)

    assert set(LineageDelivery.objects.values_list("state", flat=True)) == {"delivered"}
    run = str(run_id(job, 1)).replace("-", "")
    stored = second_assay.rows(
        "SELECT event_type, source, job_name FROM lineage_lineageevent WHERE replace(run_id, '-', '') = ? "
        "ORDER BY event_time",
        (run,),
    )
    assert stored == [("START", "api", KIND), ("COMPLETE", "api", KIND)]
    assert second_assay.rows("SELECT name FROM lineage_namespace ORDER BY name") == [
        ("assay://team-a",),
        ("s3://bank-data",),
    ]
    assert second_assay.rows("SELECT state FROM lineage_lineagerun") == [("COMPLETE",)]
    assert second_assay.rows("SELECT name FROM lineage_lineagedataset") == [("events",)]
