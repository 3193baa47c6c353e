"""List filters of the lineage API (core.api.filters.FilterSet: unknown parameters refused, values checked)."""

from __future__ import annotations

import django_filters

from core.api.filters import FilterSet
from lineage.choices import DeliveryState
from lineage.models import LineageDelivery


class LineageDeliveryFilterSet(FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=DeliveryState.choices)
    job = django_filters.UUIDFilter(field_name="job__public_id")
    run_id = django_filters.UUIDFilter()
    team = django_filters.CharFilter(field_name="team__slug")

    class Meta:
        model = LineageDelivery
        fields = ["event_type"]
