"""The legal holds API: place a hold on a scope of a team's records, read holds and their history, request a
release and confirm it (two different compliance officers). Reads are for the team's members; writes for its
compliance officers. Views validate input and call compliance.actions."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from compliance import actions
from compliance.api import holds_serializers as s
from compliance.api.access import officer_teams
from compliance.filtersets import LegalHoldFilterSet
from compliance.models import LegalHold, LegalHoldEvent
from core.actors import acting_user
from core.api.base import RestrictedViewSetMixin, TeamScopedCreateMixin
from core.api.permissions import RestrictedObjectPermission
from core.querysets import VIEW
from registry.models import Dataset, RegisteredModel, UseCase

SCOPE_MODELS: dict[str, Any] = {"dataset": Dataset, "model": RegisteredModel, "use_case": UseCase}


class LegalHoldViewSet(
    TeamScopedCreateMixin, RestrictedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Any]
):
    """Legal holds: while one stands, nothing it covers is deleted, by anyone (409). Its history is ``events``."""

    queryset = LegalHold.objects.select_related("team", "placed_by", "dataset", "model", "use_case").prefetch_related(
        Prefetch("events", queryset=LegalHoldEvent.objects.order_by("occurred_at", "id"))
    )
    serializer_class = s.LegalHoldSerializer
    permission_classes = [IsAuthenticated, RestrictedObjectPermission]
    filterset_class = LegalHoldFilterSet
    ordering_fields = ["placed_at", "case_reference"]
    team_writers = "compliance officers"

    def writable_teams(self, action: str) -> QuerySet[Any]:
        return officer_teams(self.request.user) if action != VIEW else super().writable_teams(action)

    def get_serializer_class(self) -> Any:
        return s.LegalHoldCreateSerializer if self.action == "create" else s.LegalHoldSerializer

    @extend_schema(request=s.LegalHoldCreateSerializer, responses={201: s.LegalHoldSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().create(request, *args, **kwargs)
        response.data = s.LegalHoldSerializer(self.created).data
        return response

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        team = data.pop("team")
        for name, model in SCOPE_MODELS.items():
            pk = data.pop(name, None)
            if pk is None:
                continue
            found = model.objects.restrict(self.request.user, VIEW).filter(pk=pk).first()
            if found is None:
                raise serializers.ValidationError({name: [f'Invalid pk "{pk}" - object does not exist.']})
            data[name] = found
        hold = actions.do_place_hold(team, actor=acting_user(self.request.user), **data)
        self.created = self.get_queryset().get(pk=hold.pk)

    @extend_schema(request=s.HoldStepSerializer, responses={200: s.LegalHoldSerializer})
    @action(detail=True, methods=["post"], url_path="request-release")
    def request_release(self, request: Request, pk: str | None = None) -> Response:
        """The first officer asks for the release, saying why; the hold still holds."""
        hold = self.get_object()
        serializer = s.HoldStepSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actions.do_request_hold_release(hold, actor=acting_user(request.user), **serializer.validated_data)
        return Response(s.LegalHoldSerializer(self.get_queryset().get(pk=hold.pk)).data)

    @extend_schema(request=s.HoldStepSerializer, responses={200: s.LegalHoldSerializer})
    @action(detail=True, methods=["post"], url_path="confirm-release")
    def confirm_release(self, request: Request, pk: str | None = None) -> Response:
        """A second officer confirms; the one who asked gets 403 ``same_officer``."""
        hold = self.get_object()
        serializer = s.HoldStepSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actions.do_confirm_hold_release(hold, actor=acting_user(request.user), **serializer.validated_data)
        return Response(s.LegalHoldSerializer(self.get_queryset().get(pk=hold.pk)).data, status=status.HTTP_200_OK)
