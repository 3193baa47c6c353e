from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet

from core.api.filters import FilterSet
from registry.choices import Classification, DecisionMode, RiskTier, StorageFormat, VersionStatus
from registry.models import (
    Dataset,
    DatasetVersion,
    FeatureView,
    KpiObservation,
    ModelVersion,
    RegisteredModel,
    UseCase,
)
from registry.models.registered_models import RegisteredModelTag
from registry.naming import name_key


def _tag(queryset: QuerySet[Any], model_field: str, value: str) -> QuerySet[Any]:
    # Exact, so that "fra" does not find "fraud": a lookup of the (tag, model) index of the tag rows.
    tagged = RegisteredModelTag.objects.filter(tag=value.strip().lower()).values("model_id")
    return queryset.filter(**{f"{model_field}__in": tagged})


def _name(queryset: QuerySet[Any], key_field: str, value: str) -> QuerySet[Any]:
    # Compared as names are when they are registered (registry.naming.name_key: case, width and look-alike
    # characters folded), on the indexed key, so that it finds the one model a team has under that name.
    return queryset.filter(**{key_field: name_key(value.strip())})


class UseCaseFilterSet(FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")
    risk_tier = django_filters.MultipleChoiceFilter(choices=RiskTier.choices)
    decision_mode = django_filters.ChoiceFilter(choices=DecisionMode.choices)
    owner = django_filters.CharFilter(field_name="owner__username")
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains")

    class Meta:
        model = UseCase
        fields: list[str] = []


class KpiObservationFilterSet(FilterSet):
    kpi = django_filters.CharFilter()
    observed_after = django_filters.IsoDateTimeFilter(field_name="observed_at", lookup_expr="gte")
    observed_before = django_filters.IsoDateTimeFilter(field_name="observed_at", lookup_expr="lt")

    class Meta:
        model = KpiObservation
        fields: list[str] = []


class DatasetFilterSet(FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")
    classification = django_filters.MultipleChoiceFilter(choices=Classification.choices)
    storage_format = django_filters.ChoiceFilter(choices=StorageFormat.choices)
    owner = django_filters.CharFilter(field_name="owner__username")
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains")

    class Meta:
        model = Dataset
        fields: list[str] = []


class DatasetVersionFilterSet(FilterSet):
    breaking_change = django_filters.BooleanFilter()

    class Meta:
        model = DatasetVersion
        fields: list[str] = []


class RegisteredModelFilterSet(FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")
    owner = django_filters.CharFilter(field_name="owner__username")
    use_case = django_filters.NumberFilter(field_name="use_case_id")
    tag = django_filters.CharFilter(method="filter_tag", label="Has this tag (exact)")
    name = django_filters.CharFilter(
        method="filter_name", label="Is named this (exact, compared as names are: case and look-alikes folded)"
    )
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains")

    class Meta:
        model = RegisteredModel
        fields: list[str] = []

    def filter_tag(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return _tag(queryset, "id", value)

    def filter_name(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return _name(queryset, "name_key", value)


class ModelVersionFilterSet(FilterSet):
    team = django_filters.CharFilter(field_name="model__team__slug")
    model = django_filters.NumberFilter(field_name="model_id")
    status = django_filters.MultipleChoiceFilter(choices=VersionStatus.choices)
    tag = django_filters.CharFilter(method="filter_tag", label="Model has this tag (exact)")
    name = django_filters.CharFilter(
        method="filter_name", label="Model is named this (exact, compared as names are: case and look-alikes folded)"
    )
    q = django_filters.CharFilter(field_name="model__name", lookup_expr="icontains", label="Model name contains")
    sha256 = django_filters.CharFilter(field_name="artifact_sha256")

    class Meta:
        model = ModelVersion
        fields: list[str] = []

    def filter_tag(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return _tag(queryset, "model_id", value)

    def filter_name(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return _name(queryset, "model__name_key", value)


class FeatureViewFilterSet(FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")
    entity = django_filters.CharFilter()
    source_dataset = django_filters.NumberFilter(field_name="source_dataset_id")
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains")

    class Meta:
        model = FeatureView
        fields: list[str] = []
