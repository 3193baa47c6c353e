"""The Celery application: JSON only, late acknowledgement, a redelivered message when a worker dies.

How jobs use it: docs/jobs.md.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assay.settings")

from django.conf import settings

app = Celery("assay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    event_serializer="json",
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_default_queue="default",
    # Spark jobs have a queue of their own, taken by one worker process (Procfile's "spark"): each holds a JVM,
    # and local[*] already uses every core. core.jobs sends each job to its kind's queue; this covers a direct call.
    task_routes={"assay.job.registry.*": {"queue": settings.SPARK_QUEUE}},
    # Publishing must not hang a web request when the broker is down: fail at once and answer 503.
    task_publish_retry=False,
    broker_connection_timeout=2,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
)
app.autodiscover_tasks(["workers"])
