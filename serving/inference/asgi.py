"""The inference service's ASGI entry point: ``serving.inference.asgi:app`` (Procfile ``inference``).

Django is set up at import (settings, the ORM for routes, tokens and logs); the service's threads (the routes'
poller, the log writer) start with the ASGI lifespan, in each worker process, never in a parent that forks.
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assay.settings")
django.setup()

from django.conf import settings  # noqa: E402  (after django.setup(): the models need the app registry)

from serving.actions import do_record_logs_dropped  # noqa: E402
from serving.inference.app import InferenceService, process_name  # noqa: E402
from serving.inference.auth import TokenCache  # noqa: E402
from serving.inference.loaded import Routes  # noqa: E402
from serving.inference.logbook import Logbook  # noqa: E402


def build() -> InferenceService:
    """The service as the settings describe it."""
    name = process_name()
    return InferenceService(
        routes=Routes(
            refresh_seconds=settings.INFERENCE_REFRESH_SECONDS,
            intra_op_threads=settings.INFERENCE_INTRA_OP_THREADS,
        ),
        logbook=Logbook(
            capacity=settings.PREDICTION_LOG_BUFFER,
            batch=settings.PREDICTION_LOG_BATCH,
            flush_seconds=settings.PREDICTION_LOG_FLUSH_SECONDS,
            spool_dir=settings.PREDICTION_SPOOL_DIR,
            on_dropped=lambda count, since: do_record_logs_dropped(count, since=since, process=name),
        ),
        tokens=TokenCache(settings.INFERENCE_TOKEN_CACHE_SECONDS),
        max_body_bytes=settings.INFERENCE_MAX_BODY_BYTES,
        max_rows=settings.INFERENCE_MAX_ROWS,
    )


app = build()
