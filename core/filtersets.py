from __future__ import annotations

import django_filters

from core.api.filters import FilterSet
from core.choices import AuditEventType, JobStatus
from core.models import AuditEvent, Job, Membership


class AuditEventFilterSet(FilterSet):
    event_type = django_filters.MultipleChoiceFilter(choices=AuditEventType.choices)
    actor = django_filters.CharFilter(field_name="actor_name")
    team = django_filters.CharFilter(field_name="team_slug")
    target_type = django_filters.CharFilter()
    target_id = django_filters.CharFilter()
    request_id = django_filters.CharFilter()
    occurred_after = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    seq_min = django_filters.NumberFilter(field_name="seq", lookup_expr="gte")
    seq_max = django_filters.NumberFilter(field_name="seq", lookup_expr="lte")
    q = django_filters.CharFilter(field_name="target_repr", lookup_expr="icontains", label="Object contains")

    class Meta:
        model = AuditEvent
        fields: list[str] = []


class MembershipFilterSet(FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")
    user = django_filters.CharFilter(field_name="user__username")

    class Meta:
        model = Membership
        fields = ["role", "board_role"]


class JobFilterSet(FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=JobStatus.choices)
    team = django_filters.CharFilter(field_name="team__slug")

    class Meta:
        model = Job
        fields = ["kind"]
