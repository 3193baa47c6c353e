"""A job kind for the emission tests: it reads the dataset version named in its params and, as told by them,
succeeds, fails or is cancelled. Its lineage is registered like the workers' kinds (lineage.emit)."""

from __future__ import annotations

from typing import Any

from core.models import Job
from lineage.emit import JobLineage, dataset_version_input, register_job_lineage
from registry.models import DatasetVersion
from workers.runner import JobCancelled, JobContext, JobFailed, job_task

KIND = "tests.lineage_reader"


@job_task(KIND, description="Read a dataset version and end as its params say (tests only).")
def lineage_reader(job: Job, ctx: JobContext) -> dict[str, Any]:
    ctx.progress(0.5, "reading")
    ending = job.params.get("end", "succeed")
    if ending == "fail":
        raise JobFailed("The column 'amount' is missing.")
    if ending == "cancel":
        raise JobCancelled()
    if ending == "crash":
        raise RuntimeError("boom")
    return {"read": job.params["input"]}


def reader_lineage(job: Job) -> JobLineage:
    version = DatasetVersion.objects.select_related("dataset").filter(pk=job.params.get("input")).first()
    return JobLineage(inputs=[dataset_version_input(version)] if version is not None else [])


register_job_lineage(KIND, reader_lineage)
