"""Filters of the governance API's lists."""

from __future__ import annotations

import django_filters

from core.api.filters import FilterSet
from governance.choices import KeyKind, ReleaseStatus
from governance.models import Release, SigningKey


class ReleaseFilterSet(FilterSet):
    team = django_filters.CharFilter(field_name="model_version__model__team__slug")
    model = django_filters.NumberFilter(field_name="model_version__model_id")
    model_version = django_filters.NumberFilter(field_name="model_version_id")
    environment = django_filters.CharFilter(field_name="environment__slug")
    status = django_filters.MultipleChoiceFilter(choices=ReleaseStatus.choices)
    requested_by = django_filters.CharFilter(field_name="requested_by__username")

    class Meta:
        model = Release
        fields: list[str] = []


class SigningKeyFilterSet(FilterSet):
    owner = django_filters.CharFilter(field_name="owner__username")
    kind = django_filters.ChoiceFilter(choices=KeyKind.choices)
    revoked = django_filters.BooleanFilter(field_name="revoked_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = SigningKey
        fields: list[str] = []
