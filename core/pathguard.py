"""Path parameters follow the input rule of core.api.inputs: an id beyond the 64-bit range, or a NUL character in a
slug, names nothing. Such a URL is a 404 before any view looks it up (SQLite cannot bind the id: a 500 before;
PostgreSQL cannot hold the NUL: a 500 too), for the API and the web pages alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse

from core.api.inputs import integer_out_of_range


class PathInputMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        for value in (*args, *kwargs.values()):
            if (isinstance(value, str) and "\x00" in value) or integer_out_of_range(value):
                raise Http404("No such object.")
        return None
