"""Filter backends for the API. Kept apart from core.api.base: settings name them, and DRF imports the settings'
backends while ``rest_framework.generics`` (which core.api.base needs) is still loading."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django_filters import fields as filter_fields
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import filters, serializers
from rest_framework.request import Request

from core.api.inputs import INT_MAX, INT_MIN, InputRefused, check_datetime, integer_out_of_range


class StrictOrderingFilter(filters.OrderingFilter):
    """``?ordering=`` on a field the view does not declare in ``ordering_fields`` is a 400 naming it.

    DRF drops such terms silently; we refuse them, as we refuse unknown body fields, so that a client never reads
    a list in an order it did not get. Views that declare no ``ordering_fields`` accept no ordering at all (DRF
    would otherwise allow every serializer field, including ones that walk into related objects).
    """

    def get_valid_fields(self, queryset: QuerySet[Any], view: Any, context: Mapping[str, Any] | None = None) -> Any:
        if getattr(view, "ordering_fields", None) is None:
            return []
        return super().get_valid_fields(queryset, view, context or {})

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        params = request.query_params.get(self.ordering_param)
        if params:
            terms = [term.strip() for term in params.split(",") if term.strip()]
            valid = [name for name, _ in self.get_valid_fields(queryset, view, {"request": request})]
            invalid = [term for term in terms if term.removeprefix("-") not in valid]
            if invalid:
                allowed = ", ".join(valid) if valid else "nothing (this list has a fixed order)"
                raise serializers.ValidationError(
                    {self.ordering_param: [f"Cannot order by {', '.join(invalid)}; choose from {allowed}."]}
                )
        return super().get_ordering(request, queryset, view)


class BoundedDecimalField(forms.DecimalField):
    """NumberFilter's field, within the 64-bit range unless told otherwise (SQLite cannot bind a number beyond it)."""

    def __init__(self, *args: Any, max_value: Any = None, min_value: Any = None, **kwargs: Any) -> None:
        super().__init__(
            *args,
            max_value=INT_MAX if max_value is None else max_value,
            min_value=INT_MIN if min_value is None else min_value,
            **kwargs,
        )


class BoundedIntegerField(forms.IntegerField):
    def __init__(self, *args: Any, max_value: Any = None, min_value: Any = None, **kwargs: Any) -> None:
        super().__init__(
            *args,
            max_value=INT_MAX if max_value is None else max_value,
            min_value=INT_MIN if min_value is None else min_value,
            **kwargs,
        )


class BoundedModelChoiceField(filter_fields.ModelChoiceField):
    """An id beyond the 64-bit range is no choice: refused before the query."""

    def to_python(self, value: Any) -> Any:
        if integer_out_of_range(value):
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class BoundedModelMultipleChoiceField(filter_fields.ModelMultipleChoiceField):
    def _check_values(self, value: Any) -> Any:
        for item in value or ():
            if integer_out_of_range(item):
                raise ValidationError(
                    self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": item}
                )
        return super()._check_values(value)


class DateTimeBounds:
    """For a date-time form field: a value PostgreSQL and SQLite both hold (UTC offset within +-15:59, inside the
    calendar in UTC), or a ValidationError."""

    def to_python(self, value: Any) -> Any:
        parsed = super().to_python(value)  # type: ignore[misc]
        if parsed is not None:
            try:
                check_datetime(parsed)
            except InputRefused as refused:
                raise ValidationError(refused.message, code="invalid") from None
        return parsed


class BoundedIsoDateTimeField(DateTimeBounds, filter_fields.IsoDateTimeField):
    pass


class BoundedDateTimeField(DateTimeBounds, forms.DateTimeField):
    pass


# DRF-free form fields of django-filter's filters -> the same, bounded.
_BOUNDED_FIELDS: dict[type[Any], type[Any]] = {
    forms.DecimalField: BoundedDecimalField,
    forms.IntegerField: BoundedIntegerField,
    filter_fields.ModelChoiceField: BoundedModelChoiceField,
    filter_fields.ModelMultipleChoiceField: BoundedModelMultipleChoiceField,
    filter_fields.IsoDateTimeField: BoundedIsoDateTimeField,
    forms.DateTimeField: BoundedDateTimeField,
}


class FilterSet(django_filters.FilterSet):
    """The base of every filter set (API lists and web pages): numbers and ids a client filters by follow the input
    rule of core.api.inputs, so ``?model=9223372036854775808`` is a 400 naming ``model``, never a 500."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for filter_ in self.filters.values():
            bounded = _BOUNDED_FIELDS.get(filter_.field_class)
            if bounded is not None:
                filter_.field_class = bounded


class FilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend whose filter sets built from ``filterset_fields`` follow the same rule."""

    filterset_base = FilterSet
