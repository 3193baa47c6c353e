"""After an erasure, Spark jobs still read the version: its files no longer hash to the pin its first read took, but
they hash to what the erasure recorded (decision 0007). Any other change still fails the job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from core.jobs import dispatch_job
from core.models import Job
from tests.compliance.factories import (
    SUBJECT,
    customers_table,
    erase,
    make_customers,
    make_request,
    search,
    write_customers,
)
from workers import tasks
from workers.runner import JobFailed


def a_job(cast: Any) -> Job:
    job, _ = dispatch_job("audit.verify", actor=cast.engineer_a, team=cast.team_a)
    return job


def test_an_erased_version_is_read_and_other_changes_still_fail(cast: Any, lake: Path, spark: Any) -> None:
    # GIVEN a version whose files a job read (and pinned)
    folder = write_customers(lake)
    version = make_customers(cast)
    assert tasks.read_checked(spark, version, a_job(cast)).count() == 6
    version.refresh_from_db()
    pinned = version.files_digest
    assert pinned

    # WHEN a subject's rows are erased
    request = make_request(cast)
    search(request, cast.compliance)
    erase(request, cast.compliance)

    # THEN the next read accepts the files, without the subject's rows, and the pin is unchanged (provenance)
    frame = tasks.read_checked(spark, version, a_job(cast))
    assert frame.count() == 3
    assert SUBJECT not in [row["email"] for row in frame.collect()]
    version.refresh_from_db()
    assert version.files_digest == pinned

    # AND a change that is not the erasure's still fails the read
    pq.write_table(customers_table([(9, "eve@example.com", 1.0)]), str(folder / "part-2.parquet"))
    with pytest.raises(JobFailed, match="changed after"):
        tasks.read_checked(spark, version, a_job(cast))
