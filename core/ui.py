"""What every app's pages share: paged and filtered lists, the teams a filter offers, an action's refusal on a form.

The templates beside these helpers are in ``templates/partials/`` (pagination, the filter card, its fields and its
errors). A list view builds its queryset through ``restrict(user)``, narrows it with a filterset or by hand, and
hands it to :func:`list_page`; the partials read the keys that function returns (``page``, ``query``,
``filtered``), so every list pages, filters and links its pages the same way.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Model, QuerySet
from django.forms import Form
from django.http import HttpRequest
from django_filters import FilterSet

from core.models import Team

M = TypeVar("M", bound=Model)


def query_without_page(request: HttpRequest) -> str:
    """The query string without its page number: the pagination links append their own."""
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


def is_filtered(request: HttpRequest) -> bool:
    """Whether the request asks for any filter at all (a page number alone is not one)."""
    return any(value for key, value in request.GET.items() if key != "page")


def visible_teams(request: HttpRequest) -> QuerySet[Team, tuple[str, str]]:
    """``(slug, name)`` of the teams the user may see, by name: the choices of a list's team filter."""
    return Team.objects.restrict(request.user).order_by("name").values_list("slug", "name")


def filter_with(
    request: HttpRequest, filterset_class: type[FilterSet], queryset: QuerySet[M]
) -> tuple[FilterSet, QuerySet[M], bool]:
    """Apply a filterset to ``queryset``: ``(filterset, rows, valid)``.

    An invalid filter shows nothing (``queryset.none()``) rather than everything, so that a mistyped filter is never
    mistaken for an answer; the page says so with ``partials/filter_errors.html`` and a 400.
    """
    filterset = filterset_class(request.GET or None, queryset=queryset)
    valid = filterset.is_valid() if filterset.is_bound else True
    return filterset, (filterset.qs if valid else queryset.none()), valid


def paginate(request: HttpRequest, rows: QuerySet[Any] | list[Any], size: int) -> Page[Any]:
    """The page the request names (``?page=``); a missing or out-of-range number gives the first or last page."""
    return Paginator(rows, size).get_page(request.GET.get("page"))


def list_page(request: HttpRequest, rows: QuerySet[Any] | list[Any], size: int) -> dict[str, Any]:
    """The context a list page's partials read: the page of ``rows``, the query to keep in the page links and
    whether a filter is asked for."""
    return {
        "page": paginate(request, rows, size),
        "query": query_without_page(request),
        "filtered": is_filtered(request),
    }


def apply_validation_error(form: Form, error: ValidationError, field_map: dict[str, str] | None = None) -> None:
    """Show an action's ValidationError on the form: on the field it names when the form has one (``field_map``
    renames the action's field to the form's), else on top of the form."""
    field_map = field_map or {}
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for name, errors in error.message_dict.items():
        field = field_map.get(name, name)
        form.add_error(field if field in form.fields else None, errors)
