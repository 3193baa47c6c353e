"""Worker lifecycle hooks. On start-up a worker node takes back the jobs it was running when it last died."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_ready
from django.db import connections

from core.jobs import sweep_interrupted_jobs

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
    finally:
        # The pool forks its children from this process later on: they must not inherit an open connection.
        connections.close_all()
    for job in swept:
        logger.warning("job %s (%s) was interrupted on %s: %s", job.public_id, job.kind, hostname, job.status)
