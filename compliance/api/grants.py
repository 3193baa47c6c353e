"""The data access grants API (docs/grants.md): the catalogue of datasets a team may ask for, requests, each
side's approval or refusal, revocation and withdrawal. Both teams' members read a grant; the actions say who may
write. Views validate input and call compliance.actions."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from compliance import actions
from compliance.api import grants_serializers as s
from compliance.choices import GrantDecision
from compliance.grants import catalogue
from compliance.models import DataAccessGrant
from core.actors import acting_user
from core.api.base import RestrictedViewSetMixin, TeamScopedCreateMixin
from core.querysets import VIEW
from registry.models import Dataset, UseCase
from registry.querysets import teams_for


class DataAccessGrantViewSet(
    TeamScopedCreateMixin, RestrictedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Any]
):
    """Grants of another team's dataset to a team, for a use case and purpose, until an expiry. ``create`` is a
    request (engineers and admins of the requesting team); ``approve``/``refuse`` decide one side (``owner``: an
    admin of the owning team; ``compliance``: its compliance officer or a platform superuser; two different
    people, neither the requester); ``revoke`` ends an approved grant (the owning team); ``withdraw`` gives it up
    (the requester or an admin of the requesting team)."""

    queryset = DataAccessGrant.objects.select_related(
        "team", "owner_team", "dataset", "use_case", "requested_by"
    ).prefetch_related("decisions__decided_by")
    serializer_class = s.DataAccessGrantSerializer
    permission_classes = [IsAuthenticated]
    filterset_fields = ["status"]
    ordering_fields = ["requested_at", "expires_at"]
    team_writers = "engineers and admins"

    def writable_teams(self, action: str) -> QuerySet[Any]:
        return teams_for(self.request.user, action)

    def get_serializer_class(self) -> Any:
        if self.action == "create":
            return s.DataAccessGrantCreateSerializer
        if self.action == "catalogue":
            return s.CatalogueEntrySerializer
        return s.DataAccessGrantSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}

    def _read(self, grant: DataAccessGrant) -> dict[str, Any]:
        fresh = self.get_queryset().get(pk=grant.pk)
        return dict(s.DataAccessGrantSerializer(fresh, context=self.get_serializer_context()).data)

    @extend_schema(request=s.DataAccessGrantCreateSerializer, responses={201: s.DataAccessGrantSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().create(request, *args, **kwargs)
        response.data = self._read(self.created)
        return response

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        team = data.pop("team")
        # Any team's dataset may be named (the catalogue lists them all); only the requesting team's use cases.
        dataset = Dataset.objects.filter(pk=data.pop("dataset")).first()
        if dataset is None:
            raise serializers.ValidationError({"dataset": ["This dataset does not exist."]})
        use_case = UseCase.objects.restrict(self.request.user, VIEW).filter(pk=data.pop("use_case")).first()
        if use_case is None:
            raise serializers.ValidationError({"use_case": ["This use case does not exist."]})
        self.created = actions.do_request_grant(
            team, actor=acting_user(self.request.user), dataset=dataset, use_case=use_case, **data
        )

    @extend_schema(responses={200: s.CatalogueEntrySerializer(many=True)})
    @action(detail=False, methods=["get"])
    def catalogue(self, request: Request) -> Response:
        """Every team's datasets as a request names them: id, name, owning team, classification; nothing else."""
        rows = catalogue()
        page = self.paginate_queryset(rows)
        if page is not None:
            return self.get_paginated_response(s.CatalogueEntrySerializer(page, many=True).data)
        return Response(s.CatalogueEntrySerializer(rows, many=True).data)

    def _decide(self, request: Request, decision: str) -> Response:
        grant = self.get_object()
        serializer = s.GrantDecideSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        decided = actions.do_decide_grant(
            grant, actor=acting_user(request.user), decision=decision, **serializer.validated_data
        )
        return Response(self._read(decided))

    @extend_schema(request=s.GrantDecideSerializer, responses={200: s.DataAccessGrantSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """Approve one side; both approved makes the grant cover use until it expires."""
        return self._decide(request, GrantDecision.APPROVE)

    @extend_schema(request=s.GrantDecideSerializer, responses={200: s.DataAccessGrantSerializer})
    @action(detail=True, methods=["post"])
    def refuse(self, request: Request, pk: str | None = None) -> Response:
        """Refuse one side, saying why (``comment``): the grant is refused, finally."""
        return self._decide(request, GrantDecision.REFUSE)

    @extend_schema(request=s.GrantReasonSerializer, responses={200: s.DataAccessGrantSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        grant = self.get_object()
        serializer = s.GrantReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ended = actions.do_revoke_grant(grant, actor=acting_user(request.user), **serializer.validated_data)
        return Response(self._read(ended))

    @extend_schema(request=s.GrantReasonSerializer, responses={200: s.DataAccessGrantSerializer})
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        grant = self.get_object()
        serializer = s.GrantReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ended = actions.do_withdraw_grant(grant, actor=acting_user(request.user), **serializer.validated_data)
        return Response(self._read(ended))
