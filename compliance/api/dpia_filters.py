"""Filters of the DPIA API's lists."""

from __future__ import annotations

import django_filters

from compliance.dpia_rules import DpiaStatus
from compliance.models import ColumnReclassification, Dpia
from core.api.filters import FilterSet


class DpiaFilterSet(FilterSet):
    team = django_filters.CharFilter(field_name="use_case__team__slug")
    use_case = django_filters.NumberFilter(field_name="use_case_id")
    status = django_filters.MultipleChoiceFilter(
        choices=DpiaStatus.choices, field_name="versions__status", distinct=True, help_text="Any version in it."
    )

    class Meta:
        model = Dpia
        fields: list[str] = []


class ColumnReclassificationFilterSet(FilterSet):
    team = django_filters.CharFilter(field_name="dataset__team__slug")
    dataset = django_filters.NumberFilter(field_name="dataset_id")
    column = django_filters.CharFilter(field_name="column")

    class Meta:
        model = ColumnReclassification
        fields: list[str] = []
