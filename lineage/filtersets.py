"""Filters of the lineage API's lists."""

from __future__ import annotations

import django_filters

from core.api.filters import FilterSet
from lineage.choices import DeliveryState
from lineage.models import LineageDelivery, Namespace


class NamespaceFilterSet(FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")
    claimed = django_filters.BooleanFilter(field_name="team", lookup_expr="isnull", exclude=True)

    class Meta:
        model = Namespace
        fields = ["name"]


class LineageDeliveryFilterSet(FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=DeliveryState.choices)
    job = django_filters.UUIDFilter(field_name="job__public_id")
    run_id = django_filters.UUIDFilter()
    team = django_filters.CharFilter(field_name="team__slug")

    class Meta:
        model = LineageDelivery
        fields = ["event_type"]
