"""Filters of the lineage API's lists."""

from __future__ import annotations

import django_filters

from core.api.filters import FilterSet
from lineage.models import Namespace


class NamespaceFilterSet(FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")
    claimed = django_filters.BooleanFilter(field_name="team", lookup_expr="isnull", exclude=True)

    class Meta:
        model = Namespace
        fields = ["name"]
