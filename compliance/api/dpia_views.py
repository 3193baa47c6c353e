"""The DPIA API (``/api/v1/dpias/``) and column reclassifications (``/api/v1/column-reclassifications/``). Views
validate input and call compliance.actions; they never write models themselves.

Reads are restricted in SQL: a DPIA of a team you are not in is a 404. Writes by a team member who may not write
are a 403 before the body is read; approving or returning is judged by the action (the privacy reviewer of the
team, never the author), which records every refusal.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from compliance import actions
from compliance.api import dpia_serializers as s
from compliance.api.dpia_filters import ColumnReclassificationFilterSet, DpiaFilterSet
from compliance.models import ColumnReclassification, Dpia, DpiaTransition, DpiaVersion
from core.actors import acting_user
from core.api.base import RestrictedViewSetMixin
from core.api.permissions import RestrictedObjectPermission

REVIEW_ACTIONS = ("approve", "return_")


class DpiaWritePermission(RestrictedObjectPermission):
    """Edits need the DPIA in ``restrict(user, "change")`` (a 403 before the body is read); a review is judged by
    its action, which records the refusal."""

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        if getattr(view, "action", None) in REVIEW_ACTIONS:
            return True
        return super().has_object_permission(request, view, obj)


def dpia_queryset() -> QuerySet[Dpia]:
    versions = DpiaVersion.objects.prefetch_related(
        Prefetch("transitions", queryset=DpiaTransition.objects.order_by("at", "id"))
    ).select_related("created_by")
    return Dpia.objects.select_related("use_case__team", "created_by").prefetch_related(
        Prefetch("versions", queryset=versions)
    )


class DpiaViewSet(RestrictedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Any]):
    """Data protection impact assessments, one per use case, read by the use case's team. Compliance officers and
    admins of the team create one (version 1, a draft pre-filled from the datasets' schemas), edit the newest
    version while it is a draft or returned (PATCH), screen it, submit it, and start a new version of an approved
    one (``versions/``). The team's privacy/DPO reviewer, never the author, approves or returns a submitted one."""

    queryset = dpia_queryset()
    serializer_class = s.DpiaSerializer
    permission_classes = [IsAuthenticated, DpiaWritePermission]
    filterset_class = DpiaFilterSet
    ordering_fields = ["created_at"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def respond(self, dpia: Dpia, code: int = status.HTTP_200_OK) -> Response:
        return Response(s.DpiaSerializer(self.get_queryset().get(pk=dpia.pk)).data, status=code)

    @extend_schema(request=s.DpiaCreateSerializer, responses={201: s.DpiaSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = s.DpiaCreateSerializer(data=request.data)
        serializer.restrict_to(request.user)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        use_case = data.pop("use_case")
        data.setdefault("datasets", [])
        version = actions.do_create_dpia(use_case, actor=acting_user(request.user), **data)
        return self.respond(version.dpia, status.HTTP_201_CREATED)

    @extend_schema(request=s.DpiaEditSerializer, responses={200: s.DpiaSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Edit the newest version while it is a draft or returned; an approved version is never edited."""
        dpia = self.get_object()
        serializer = s.DpiaEditSerializer(data=request.data)
        serializer.restrict_to(request.user)
        serializer.is_valid(raise_exception=True)
        actions.do_edit_dpia(dpia, actor=acting_user(request.user), **serializer.validated_data)
        return self.respond(dpia)

    @extend_schema(request=s.DpiaScreenSerializer, responses={200: s.DpiaSerializer})
    @action(detail=True, methods=["post"])
    def screen(self, request: Request, pk: str | None = None) -> Response:
        """Record the screening against the EDPB's nine criteria: two or more met and a full DPIA is required."""
        dpia = self.get_object()
        serializer = s.DpiaScreenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actions.do_screen_dpia(dpia, actor=acting_user(request.user), criteria=serializer.validated_data["criteria"])
        return self.respond(dpia)

    @extend_schema(request=s.DpiaCommentSerializer, responses={200: s.DpiaSerializer})
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str | None = None) -> Response:
        """Send the newest version to the privacy reviewer; every missing section is named."""
        dpia = self.get_object()
        serializer = s.DpiaCommentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actions.do_submit_dpia(dpia, actor=acting_user(request.user), comment=serializer.validated_data["comment"])
        return self.respond(dpia)

    def review(self, request: Request, decision: str) -> Response:
        dpia = self.get_object()
        serializer = s.DpiaCommentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actions.do_review_dpia(
            dpia, actor=acting_user(request.user), decision=decision, comment=serializer.validated_data["comment"]
        )
        return self.respond(dpia)

    @extend_schema(request=s.DpiaCommentSerializer, responses={200: s.DpiaSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """Approve the submitted version (the team's privacy/DPO reviewer, not its author)."""
        return self.review(request, "approve")

    @extend_schema(request=s.DpiaCommentSerializer, responses={200: s.DpiaSerializer})
    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    def return_(self, request: Request, pk: str | None = None) -> Response:
        """Return the submitted version to its author, saying what must change (``comment`` required)."""
        return self.review(request, "return")

    @extend_schema(request=None, responses={201: s.DpiaSerializer})
    @action(detail=True, methods=["post"])
    def versions(self, request: Request, pk: str | None = None) -> Response:
        """Start the next version of an approved DPIA as a draft copy; the approved version stays as it was."""
        dpia = self.get_object()
        actions.do_new_dpia_version(dpia, actor=acting_user(request.user))
        return self.respond(dpia, status.HTTP_201_CREATED)


class ColumnReclassificationViewSet(
    RestrictedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Any]
):
    """Reclassifications of dataset columns (an overlay on immutable dataset versions), read by the dataset's team.
    POST reclassifies one column (compliance officers and admins of the dataset's team), with a reason: releases
    covering the dataset change their manifests, DPIAs covering it show it."""

    queryset = ColumnReclassification.objects.select_related("dataset__team", "created_by")
    serializer_class = s.ColumnReclassificationSerializer
    permission_classes = [IsAuthenticated]
    filterset_class = ColumnReclassificationFilterSet
    ordering_fields = ["created_at"]

    @extend_schema(
        request=s.ColumnReclassificationCreateSerializer, responses={201: s.ColumnReclassificationSerializer}
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = s.ColumnReclassificationCreateSerializer(data=request.data)
        serializer.restrict_to(request.user)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        row = actions.do_reclassify_column(data.pop("dataset"), actor=acting_user(request.user), **data)
        return Response(
            s.ColumnReclassificationSerializer(self.get_queryset().get(pk=row.pk)).data, status=status.HTTP_201_CREATED
        )
