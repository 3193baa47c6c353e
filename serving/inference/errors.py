"""The inference service's one refusal: an HTTP status, a message, and headers (Retry-After) to answer with."""

from __future__ import annotations


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
