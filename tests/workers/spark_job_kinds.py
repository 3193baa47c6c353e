"""Job kinds for the tests of the Spark job plumbing (tests/workers/test_spark_jobs.py): small Spark jobs that run
through the same path as the registry's (workers.tasks.spark_work: the job group, the watcher, the staging clean-up).

Imported by the test process (to dispatch them) and by the test's worker (``celery worker -I`` this module).
"""

from __future__ import annotations

import os
import time
from typing import Any

from django.conf import settings

from core.models import Job
from registry.pipelines.io import output_path, write_parquet_atomically
from workers.runner import JobContext, job_task
from workers.tasks import artifact_root, spark_work


def _slow(seconds: float) -> Any:
    from pyspark.sql import functions as f

    def wait(value: int) -> int:
        time.sleep(seconds)
        return value

    return f.udf(wait, "long")


@job_task("tests.spark_sum", queue=settings.SPARK_QUEUE, description="Sum 0..n-1 on Spark (tests only).")
def spark_sum(job: Job, ctx: JobContext) -> dict[str, Any]:
    with spark_work(job, ctx) as (spark, watch):
        watch.report(0.1, "summing")
        frame = spark.range(int(job.params["n"]), numPartitions=4)
        if job.params.get("sleep"):
            frame = frame.select(_slow(float(job.params["sleep"]))("id").alias("id"))
        total = frame.groupBy().sum("id").collect()[0][0]
        watch.report(0.9, "summed")
    return {"sum": total, "pid": os.getpid(), "ppid": os.getppid(), "spark": dict(watch.figures)}


@job_task("tests.spark_write", queue=settings.SPARK_QUEUE, description="Write Parquet atomically (tests only).")
def spark_write(job: Job, ctx: JobContext) -> dict[str, Any]:
    with spark_work(job, ctx) as (spark, watch):
        frame = spark.range(int(job.params["n"]), numPartitions=2)
        if job.attempts == 1 and job.params.get("sleep_first_attempt"):
            frame = frame.select(_slow(float(job.params["sleep_first_attempt"]))("id").alias("id"))
        watch.report(0.2, "writing")
        destination = write_parquet_atomically(
            frame,
            output_path(artifact_root(), "test-output", str(job.public_id)),
            artifact_root=artifact_root(),
            owner=str(job.public_id),
        )
    return {"path": str(destination), "attempt": job.attempts}
