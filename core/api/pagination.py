"""Page-number pagination with bounded page sizes.

``page_size`` above ``max_page_size`` is clamped to it (the response's ``results`` show how many came back); a
``page_size`` that is not a positive integer is a 400 naming the parameter, rather than DRF's silent fallback to the
default, which would hide a client's mistake.
"""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int | None:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise ValidationError({self.page_size_query_param: [f"Must be an integer from 1 to {self.max_page_size}."]})
        return min(size, self.max_page_size)
