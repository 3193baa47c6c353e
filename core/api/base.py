"""Base classes every app's API builds on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import filters, serializers, viewsets
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request

from core.querysets import VIEW


class StrictSerializer(serializers.Serializer[Any]):
    """Refuses fields it does not declare, and writable input for read-only fields, instead of ignoring them.

    Silently dropping ``team`` or ``created_by`` from a request hides a client's mistake (and an attacker's probe).
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                read_only = [name for name in unknown if name in self.fields]
                errors = {name: ["This field is read-only."] for name in read_only}
                errors.update({name: ["Unknown field."] for name in unknown if name not in self.fields})
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class StrictModelSerializer(StrictSerializer, serializers.ModelSerializer[Any]):
    pass


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


# The filter backends of every API list; the same as settings.REST_FRAMEWORK's DEFAULT_FILTER_BACKENDS should name.
FILTER_BACKENDS: list[Any] = [DjangoFilterBackend, StrictOrderingFilter]


class ApiViewMixin(GenericAPIView[Any]):
    """What every API view of Assay shares: strict ordering and filtering."""

    filter_backends = FILTER_BACKENDS


class RestrictedViewSetMixin(ApiViewMixin):
    """Narrows the queryset with ``Model.objects.restrict(user, VIEW)`` so that out-of-scope objects are 404s."""

    def get_queryset(self) -> QuerySet[Any]:
        queryset: Any = super().get_queryset()
        restricted: QuerySet[Any] = queryset.restrict(self.request.user, VIEW)
        return restricted


class ReadOnlyRestrictedViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet[Any]):
    pass
