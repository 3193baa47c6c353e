"""Filters of the lineage API's lists (and the lineage pages)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet

from core.api.filters import FilterSet
from lineage.choices import DeliveryState, RunState
from lineage.models import LineageDataset, LineageDelivery, LineageJob, LineageRun, Namespace
from lineage.models.graph import MAX_NAME


def _registered(queryset: QuerySet[Any], name: str, value: bool | None) -> QuerySet[Any]:
    if value is None:
        return queryset
    linked = Q(registry_dataset__isnull=False) | Q(feature_set_version__isnull=False) | Q(model_version__isnull=False)
    return queryset.filter(linked) if value else queryset.exclude(linked)


class NamespaceFilterSet(FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")
    claimed = django_filters.BooleanFilter(field_name="team", lookup_expr="isnull", exclude=True)
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", max_length=MAX_NAME)

    class Meta:
        model = Namespace
        fields = ["name"]


class LineageDatasetFilterSet(FilterSet):
    namespace = django_filters.CharFilter(field_name="namespace__name", max_length=MAX_NAME)
    name = django_filters.CharFilter(max_length=MAX_NAME)
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", max_length=MAX_NAME)
    registered = django_filters.BooleanFilter(method=_registered)
    registry_dataset = django_filters.NumberFilter(field_name="registry_dataset_id")

    class Meta:
        model = LineageDataset
        fields: list[str] = []


class LineageJobFilterSet(FilterSet):
    namespace = django_filters.CharFilter(field_name="namespace__name", max_length=MAX_NAME)
    name = django_filters.CharFilter(max_length=MAX_NAME)
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", max_length=MAX_NAME)

    class Meta:
        model = LineageJob
        fields: list[str] = []


class LineageRunFilterSet(FilterSet):
    namespace = django_filters.CharFilter(field_name="job__namespace__name", max_length=MAX_NAME)
    job = django_filters.CharFilter(field_name="job__name", max_length=MAX_NAME)
    state = django_filters.MultipleChoiceFilter(choices=RunState.choices)
    after = django_filters.IsoDateTimeFilter(field_name="state_at", lookup_expr="gte")
    before = django_filters.IsoDateTimeFilter(field_name="state_at", lookup_expr="lt")

    class Meta:
        model = LineageRun
        fields: list[str] = []


class LineageDeliveryFilterSet(FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=DeliveryState.choices)
    job = django_filters.UUIDFilter(field_name="job__public_id")
    run_id = django_filters.UUIDFilter()
    team = django_filters.CharFilter(field_name="team__slug")

    class Meta:
        model = LineageDelivery
        fields = ["event_type"]
