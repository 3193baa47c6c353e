"""Per-request (or per-job) context that log lines and audit events carry. Imports no models, so that logging
configuration can load it before the apps are ready."""

from __future__ import annotations

import contextvars
import logging

# Set per request by core.middleware.RequestIdMiddleware, and per job by the worker runner.
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("assay_request_id", default="")


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get() or "-"
        return True
