from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from core.api.filters import FilterSet
from serving.choices import DeploymentRole
from serving.models import Deployment, PredictionLog, Route
from serving.subjects import subject_digest


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


class PredictionFilterSet(FilterSet):
    """Prediction logs by where and what served them, by request, by time (``logged_after`` inclusive,
    ``logged_before`` exclusive) and by data subject: ``subject`` is the raw identifier, compared by its keyed hash
    (serving.subjects.subject_digest), never stored or logged."""

    deployment = django_filters.NumberFilter(field_name="deployment_id", label="Deployment id")
    model = django_filters.NumberFilter(field_name="model_id", label="Registered model id")
    environment = django_filters.CharFilter(field_name="environment__slug", label="Environment slug")
    role = django_filters.ChoiceFilter(choices=DeploymentRole.choices)
    request_id = django_filters.UUIDFilter(field_name="request_id")
    logged_after = django_filters.IsoDateTimeFilter(field_name="logged_at", lookup_expr="gte")
    logged_before = django_filters.IsoDateTimeFilter(field_name="logged_at", lookup_expr="lt")
    subject = django_filters.CharFilter(method="filter_subject", max_length=256, label="Data subject's identifier")

    class Meta:
        model = PredictionLog
        fields: list[str] = []

    def filter_subject(self, queryset: QuerySet[PredictionLog], name: str, value: str) -> QuerySet[PredictionLog]:
        return queryset.filter(subject_digest=subject_digest(value))
