from __future__ import annotations

import django_filters

from core.api.filters import FilterSet
from serving.choices import DeploymentRole
from serving.models import Deployment, Route


class DeploymentFilterSet(FilterSet):
    environment = django_filters.CharFilter(field_name="environment__slug", label="Environment slug")
    model = django_filters.NumberFilter(field_name="model_id", label="Registered model id")
    release = django_filters.NumberFilter(field_name="release_id", label="Release id")
    is_rollback = django_filters.BooleanFilter()
    role = django_filters.ChoiceFilter(choices=DeploymentRole.choices)

    class Meta:
        model = Deployment
        fields: list[str] = []


class RouteFilterSet(FilterSet):
    environment = django_filters.CharFilter(field_name="environment__slug", label="Environment slug")
    model = django_filters.NumberFilter(field_name="model_id", label="Registered model id")

    class Meta:
        model = Route
        fields: list[str] = []
