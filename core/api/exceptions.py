"""One JSON error shape for the whole API.

``{"error": {"code": ..., "message": ..., "fields": {"name": ["..."]}}}``: ``fields`` names each offending field.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.refusals import Busy, Refusal


class Refused(exceptions.APIException):
    """A ``Refusal`` as an HTTP answer: its status, its reason as the error code, its message, and, for a 400 that
    names the request field at fault, that field in ``fields`` as every other invalid input has it."""

    def __init__(self, refusal: Refusal) -> None:
        self.status_code = refusal.status
        super().__init__(detail=refusal.message, code=refusal.reason)
        self.fields = {refusal.field: [refusal.message]} if refusal.field and refusal.status == 400 else None


class Unavailable(exceptions.APIException):
    """A ``Busy`` as an HTTP answer: 503, its code and message, and ``Retry-After`` (DRF sets it from ``wait``)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE

    def __init__(self, busy: Busy) -> None:
        super().__init__(detail=busy.message, code=busy.code)
        self.wait = busy.retry_after


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Refusal):
        exc = Refused(exc)
    elif isinstance(exc, Busy):
        exc = Unavailable(exc)
    elif isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(fields)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, IntegrityError):
        exc = exceptions.ValidationError({"non_field_errors": ["This conflicts with an existing record."]})
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = getattr(exc, "detail", None)
    code = "error"
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
    body: dict[str, Any] = {"code": code}
    if isinstance(exc, exceptions.ValidationError) and isinstance(detail, dict):
        body["message"] = "Invalid input: " + ", ".join(sorted(str(key) for key in detail))
        body["fields"] = _flatten(detail)
    elif isinstance(exc, exceptions.ValidationError) and isinstance(detail, list):
        body["message"] = "; ".join(str(item) for item in detail)
        body["fields"] = {"non_field_errors": _flatten(detail)}
    else:
        body["message"] = str(detail) if detail is not None else response.status_text
        # A refusal names the field at fault without being a ValidationError: it has a reason code of its own.
        if isinstance(exc, Refused) and exc.fields:
            body["fields"] = _flatten(exc.fields)
    response.data = {"error": body}
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        # RFC 6750 section 3: credentials that were presented and refused carry error="invalid_token"; a request
        # without any carries no error code.
        challenge = 'Bearer realm="api"'
        if isinstance(exc, exceptions.AuthenticationFailed):
            challenge += ', error="invalid_token"'
        response["WWW-Authenticate"] = challenge
    return response
