from __future__ import annotations

import django_filters

from audits.choices import AuditKind, Verdict
from audits.models import AuditReport
from core.api.filters import FilterSet


class AuditReportFilterSet(FilterSet):
    team = django_filters.CharFilter(field_name="model_version__model__team__slug")
    model = django_filters.NumberFilter(field_name="model_version__model_id")
    model_version = django_filters.NumberFilter(field_name="model_version_id")
    dataset_version = django_filters.NumberFilter(field_name="dataset_version_id")
    kind = django_filters.MultipleChoiceFilter(choices=AuditKind.choices)
    verdict = django_filters.MultipleChoiceFilter(choices=Verdict.choices)
    sha256 = django_filters.CharFilter(field_name="artifact_sha256", label="Audited artifact's SHA-256")
    dataset_fingerprint = django_filters.CharFilter()

    class Meta:
        model = AuditReport
        fields: list[str] = []
