"""Filters of the compliance lists (API and pages)."""

from __future__ import annotations

import django_filters

from compliance.choices import HoldScope, HoldStatus, PurgeState
from compliance.models import LegalHold, Purge, RetentionPolicy
from core.api.filters import FilterSet


class RetentionPolicyFilterSet(FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")
    target_kind = django_filters.CharFilter()

    class Meta:
        model = RetentionPolicy
        fields: list[str] = []


class PurgeFilterSet(FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")
    target_kind = django_filters.CharFilter()
    state = django_filters.ChoiceFilter(choices=PurgeState.choices)

    class Meta:
        model = Purge
        fields: list[str] = []


class LegalHoldFilterSet(FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")
    scope = django_filters.ChoiceFilter(choices=HoldScope.choices)
    status = django_filters.MultipleChoiceFilter(choices=HoldStatus.choices)

    class Meta:
        model = LegalHold
        fields: list[str] = []
