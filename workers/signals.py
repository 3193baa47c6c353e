"""Worker lifecycle hooks. On start-up a worker node takes back the jobs it was running when it last died and
removes the staging files of jobs that no longer run; each pool process stops its SparkSession when it exits."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

from celery.signals import worker_process_shutdown, worker_ready
from django.conf import settings
from django.db import connections

from core.choices import FINISHED_JOB_STATUSES, JobStatus
from core.jobs import sweep_interrupted_jobs
from core.models import Job
from registry.pipelines.io import clean_stale_staging
from workers.spark import stop_spark
from workers.tasks import remove_unregistered_output

logger = logging.getLogger(__name__)


@worker_ready.connect
def sweep_on_start(sender: Any, **kwargs: Any) -> None:
    """Queue again (or fail) every job still "running" under this node's name: its previous process died.

    Runs in the worker's main process before it takes any message, so nothing it sweeps is really running here.
    A job whose node never comes back under the same name is not swept: give workers stable names (``-n``).
    """
    hostname = getattr(sender, "hostname", "")
    if not hostname:
        return
    try:
        swept = sweep_interrupted_jobs(worker=hostname)
        _clean_staging()
    finally:
        # The pool forks its children from this process later on: they must not inherit an open connection.
        connections.close_all()
    for job in swept:
        logger.warning("job %s (%s) was interrupted on %s: %s", job.public_id, job.kind, hostname, job.status)


# Staging folders younger than this may belong to a job whose row says "queued" for a moment longer.
STAGING_GRACE_SECONDS = 600


def _clean_staging() -> None:
    """Remove what jobs that are not running left in ARTIFACT_ROOT/.staging (a worker killed mid-write)."""
    running = {
        str(public_id) for public_id in Job.objects.filter(status=JobStatus.RUNNING).values_list("public_id", flat=True)
    }
    removed = clean_stale_staging(
        Path(settings.ARTIFACT_ROOT), lambda owner: owner in running, older_than=STAGING_GRACE_SECONDS
    )
    if removed:
        logger.warning(
            "removed the staging files of %d job(s) that no longer run: %s", len(removed), ", ".join(removed)
        )
    _clean_unregistered_outputs()


def _clean_unregistered_outputs() -> None:
    """Remove the feature outputs of finished jobs that never registered them (failed after their last attempt)."""
    folder = Path(settings.ARTIFACT_ROOT) / "features"
    if not folder.is_dir():
        return
    names = [child.name for child in folder.iterdir() if child.is_dir() and _is_uuid(child.name)]
    for job in Job.objects.filter(public_id__in=names, status__in=FINISHED_JOB_STATUSES):
        if remove_unregistered_output(job):
            logger.warning("removed the unregistered output of job %s (%s)", job.public_id, job.status)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@worker_process_shutdown.connect
def stop_spark_on_exit(**kwargs: Any) -> None:
    """A pool process that exits (worker shutdown, max-tasks-per-child) stops its JVM cleanly."""
    try:
        stop_spark()
    except Exception:  # exiting anyway: a JVM that will not stop dies with the process
        logger.exception("stopping Spark at process exit failed")
