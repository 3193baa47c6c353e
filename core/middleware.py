"""Request-level guards: a request id on every request and log line, a body-size limit answered with 413, and a
fast 503 when the database or the job broker is down."""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from core.context import current_request_id
from core.jobs import BrokerUnavailable

logger = logging.getLogger(__name__)

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


class RequestIdMiddleware:
    """Takes a well-formed ``X-Request-ID`` from the client or makes one; echoes it in the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _SAFE_REQUEST_ID.match(supplied) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = current_request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response


class BodySizeLimitMiddleware:
    """Answers 413 before reading a body whose declared length is over ``MAX_REQUEST_BODY_BYTES``.

    Upload endpoints (``settings.UPLOAD_PATHS``, POST only) take bodies up to ``MAX_ARTIFACT_BYTES`` plus room for
    the multipart framing; the upload itself enforces the exact artifact limit while it streams. Other POST paths
    may have a limit of their own (``settings.BODY_LIMIT_PATHS``: path pattern to bytes; OpenLineage batches).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(declared)
        except ValueError:
            return _error(request, 400, "invalid_content_length", "The Content-Length header is not a number.")
        limit = settings.MAX_REQUEST_BODY_BYTES
        if request.method == "POST" and any(pattern.fullmatch(request.path) for pattern in _upload_paths()):
            limit = settings.MAX_ARTIFACT_BYTES + _MULTIPART_ALLOWANCE
        elif request.method == "POST":
            limit = next((own for pattern, own in _own_limits() if pattern.fullmatch(request.path)), limit)
        if length > limit:
            return _error(
                request, 413, "request_too_large", f"The request body is {length} bytes; the limit is {limit} bytes."
            )
        return self.get_response(request)


_MULTIPART_ALLOWANCE = 1024 * 1024


@functools.cache
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(pattern) for pattern in patterns)


def _upload_paths() -> tuple[re.Pattern[str], ...]:
    return _compiled(tuple(settings.UPLOAD_PATHS))


def _own_limits() -> list[tuple[re.Pattern[str], int]]:
    limits: dict[str, int] = getattr(settings, "BODY_LIMIT_PATHS", {})
    return list(zip(_compiled(tuple(limits)), limits.values(), strict=True))


class ServiceUnavailableMiddleware:
    """Turns an unreachable database or broker into a quick 503 with ``Retry-After``, not a hang or a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, BrokerUnavailable):
            logger.warning("job broker unavailable: %s", exception)
            return _error(
                request,
                503,
                "broker_unavailable",
                "The job service is unavailable; nothing was started. Try again shortly.",
            )
        if isinstance(exception, (OperationalError, InterfaceError)) and _is_connection_error(exception):
            logger.error("database unavailable: %s", exception)
            return _error(request, 503, "database_unavailable", "The database is unavailable. Try again shortly.")
        return None


# Words of the errors that mean "cannot reach the database" (psycopg: refused, timed out, server gone; SQLite: the
# file cannot be opened, or another writer held the lock past the busy timeout), as opposed to a bad query.
_UNAVAILABLE = ("connect", "connection", "server closed", "timeout", "database is locked", "unable to open")


def _is_connection_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(words in text for words in _UNAVAILABLE)


def _error(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    if _wants_json(request):
        response: HttpResponse = JsonResponse({"error": {"code": code, "message": message}}, status=status)
    else:
        response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    if status == 503:
        response["Retry-After"] = "5"
    return response
