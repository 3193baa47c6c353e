"""Filter backends for the API. Kept apart from core.api.base: settings name them, and DRF imports the settings'
backends while ``rest_framework.generics`` (which core.api.base needs) is still loading."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from rest_framework import filters, serializers
from rest_framework.request import Request


class StrictOrderingFilter(filters.OrderingFilter):
    """``?ordering=`` on a field the view does not declare in ``ordering_fields`` is a 400 naming it.

    DRF drops such terms silently; we refuse them, as we refuse unknown body fields, so that a client never reads
    a list in an order it did not get. Views that declare no ``ordering_fields`` accept no ordering at all (DRF
    would otherwise allow every serializer field, including ones that walk into related objects).
    """

    def get_valid_fields(self, queryset: QuerySet[Any], view: Any, context: Mapping[str, Any] | None = None) -> Any:
        if getattr(view, "ordering_fields", None) is None:
            return []
        return super().get_valid_fields(queryset, view, context or {})

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        params = request.query_params.get(self.ordering_param)
        if params:
            terms = [term.strip() for term in params.split(",") if term.strip()]
            valid = [name for name, _ in self.get_valid_fields(queryset, view, {"request": request})]
            invalid = [term for term in terms if term.removeprefix("-") not in valid]
            if invalid:
                allowed = ", ".join(valid) if valid else "nothing (this list has a fixed order)"
                raise serializers.ValidationError(
                    {self.ordering_param: [f"Cannot order by {', '.join(invalid)}; choose from {allowed}."]}
                )
        return super().get_ordering(request, queryset, view)
