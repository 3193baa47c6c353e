"""Base classes every app's API builds on."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.fields import harden
from core.api.filters import FilterBackend, StrictOrderingFilter
from core.models import Team
from core.querysets import CHANGE, VIEW


class StrictSerializer(serializers.Serializer[Any]):
    """Refuses fields it does not declare, and writable input for read-only fields, instead of ignoring them.

    Silently dropping ``team`` or ``created_by`` from a request hides a client's mistake (and an attacker's probe).

    Every writable field also follows the input rule of core.api.inputs (core.api.fields.harden): integers within
    the 64-bit range, JSON bounded in depth and free of NUL characters, ids beyond any column refused before a query.
    """

    def get_fields(self) -> dict[str, Any]:
        return {name: harden(field) for name, field in super().get_fields().items()}

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                read_only = [name for name in unknown if name in self.fields]
                errors = {name: ["This field is read-only."] for name in read_only}
                errors.update({name: ["Unknown field."] for name in unknown if name not in self.fields})
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class StrictModelSerializer(StrictSerializer, serializers.ModelSerializer[Any]):
    pass


# The filter backends of every API list; the same as settings.REST_FRAMEWORK's DEFAULT_FILTER_BACKENDS should name.
FILTER_BACKENDS: list[Any] = [FilterBackend, StrictOrderingFilter]


class ApiViewMixin(GenericAPIView[Any]):
    """What every API view of Assay shares: strict ordering and filtering."""

    filter_backends = FILTER_BACKENDS


class RestrictedViewSetMixin(ApiViewMixin):
    """Narrows the queryset with ``Model.objects.restrict(user, VIEW)`` so that out-of-scope objects are 404s."""

    def get_queryset(self) -> QuerySet[Any]:
        queryset: Any = super().get_queryset()
        restricted: QuerySet[Any] = queryset.restrict(self.request.user, VIEW)
        return restricted


class ReadOnlyRestrictedViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet[Any]):
    pass


class TeamScopedCreateMixin(GenericAPIView[Any]):
    """For views whose create names its ``team`` by slug: the team is checked before anything else in the body.

    A team you cannot see reads as absent (400, exactly like a missing slug); one you see but may not write to is a
    403. Either way nothing else is looked at, so other fields' errors cannot tell which usernames or names exist.
    The writable ``team`` field accepts only ``writable_teams``. Views name the rule through ``writable_teams`` and
    the 403's wording through ``team_writers`` ("admins", "engineers and admins").
    """

    team_writers = "admins"

    def writable_teams(self, action: str) -> QuerySet[Any]:
        teams: QuerySet[Any] = Team.objects.restrict(self.request.user, action)
        return teams

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        serializer = super().get_serializer(*args, **kwargs)
        fields = getattr(serializer, "fields", {})
        if "team" in fields and not fields["team"].read_only:
            fields["team"].queryset = self.writable_teams(CHANGE)
        return serializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        slug = request.data.get("team") if isinstance(request.data, dict) else None
        if isinstance(slug, str) and not self.writable_teams(CHANGE).filter(slug=slug).exists():
            if self.writable_teams(VIEW).filter(slug=slug).exists():
                raise PermissionDenied(f"Only {self.team_writers} of team {slug} may do this.")
            raise serializers.ValidationError({"team": [f"Object with slug={slug} does not exist."]})
        # Missing or of the wrong type: the serializer says so.
        response: Response = super().create(request, *args, **kwargs)  # type: ignore[misc]
        return response
