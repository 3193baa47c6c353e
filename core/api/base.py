"""Base classes every app's API builds on."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers, viewsets
from rest_framework.generics import GenericAPIView

from core.api.filters import StrictOrderingFilter
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
