"""The API of data-subject requests, for a team's compliance officers (docs/subject-requests.md).

Requests, their search reports and erasure reports are visible only to the compliance officers of the request's team
(and superusers): a report names a person and what is held about them. Everyone else gets the same 404 as for a
request that does not exist; recording a request for a team one belongs to without being its compliance officer
is a 403.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from compliance.actions import subjects as actions
from compliance.api import subjects_serializers as s
from compliance.models import DatasetFilesErasure, SubjectErasure, SubjectRequest, SubjectSearch
from compliance.models.subjects import SUBJECT_POLICY
from core.actors import acting_user
from core.api.base import ReadOnlyRestrictedViewSet, RestrictedViewSetMixin, TeamScopedCreateMixin
from core.api.parsers import JSONParser
from core.api.permissions import RestrictedObjectPermission
from core.api.serializers import JobSerializer
from core.models import Job, Team
from core.querysets import member_team_ids

PERMISSIONS: list[Any] = [IsAuthenticated, RestrictedObjectPermission]


def job_response(requested: tuple[Job, bool]) -> Response:
    """202 with a new job; 200 with the earlier one (the same idempotency key, or an erasure already done)."""
    job, created = requested
    return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


@extend_schema(responses=s.SubjectRequestSerializer)
class SubjectRequestViewSet(
    TeamScopedCreateMixin, RestrictedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Any]
):
    """Access and erasure requests of data subjects: record one, search for the subject, confirm an erasure,
    close it."""

    queryset = SubjectRequest.objects.select_related("team", "created_by")
    permission_classes = PERMISSIONS
    filterset_fields = ["kind", "status"]
    ordering_fields = ["received_at", "due_at"]
    team_writers = "compliance officers"

    def writable_teams(self, action: str) -> QuerySet[Any]:
        user = self.request.user
        if user.is_superuser:
            return Team.objects.all()
        if action == "view":
            # Members see their team exists (a 403 then, not a 400 saying it does not).
            return Team.objects.restrict(user, action)
        return Team.objects.filter(pk__in=member_team_ids(user, SUBJECT_POLICY.get(action, ())))

    def get_serializer_class(self) -> Any:
        return s.SubjectRequestDetailSerializer if self.action == "retrieve" else s.SubjectRequestSerializer

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        team = data.pop("team")
        serializer.instance = actions.do_create_subject_request(team, actor=acting_user(self.request.user), **data)

    @extend_schema(
        request=s.SubjectJobRequestSerializer,
        responses={202: JobSerializer, 200: OpenApiResponse(JobSerializer, description="The job of an earlier call")},
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def search(self, request: Request, pk: str | None = None) -> Response:
        """Start the job that finds every record Assay holds about the subject; its report is at
        /api/v1/subject-searches/{id}/ once it succeeded (the job's result names it)."""
        subject_request = self.get_object()
        body = s.SubjectJobRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return job_response(
            actions.do_request_subject_search(
                subject_request,
                actor=acting_user(request.user),
                idempotency_key=body.validated_data.get("idempotency_key", ""),
            )
        )

    @extend_schema(
        request=s.SubjectJobRequestSerializer,
        responses={
            202: JobSerializer,
            200: OpenApiResponse(JobSerializer, description="The job that already erased, or of an earlier call"),
        },
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def erase(self, request: Request, pk: str | None = None) -> Response:
        """Confirm the erasure of what the latest search found: a job deletes what no hold or duty keeps and records
        what it did and kept. Erasing twice returns the first job."""
        subject_request = self.get_object()
        body = s.SubjectJobRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return job_response(
            actions.do_request_subject_erasure(
                subject_request,
                actor=acting_user(request.user),
                idempotency_key=body.validated_data.get("idempotency_key", ""),
            )
        )

    @extend_schema(request=s.CloseRequestSerializer, responses={200: s.SubjectRequestDetailSerializer})
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def close(self, request: Request, pk: str | None = None) -> Response:
        """Close the request: nothing more is searched or erased under it."""
        subject_request = self.get_object()
        body = s.CloseRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        closed = actions.do_close_subject_request(
            subject_request, actor=acting_user(request.user), reason=body.validated_data["reason"]
        )
        return Response(s.SubjectRequestDetailSerializer(closed, context=self.get_serializer_context()).data)


CSV_COLUMNS = ("kind", "object_type", "object_id", "label", "location", "file", "rows")


def report_csv(search: SubjectSearch) -> str:
    """One line per file of each hit (or per hit without files), then the not-searched entries."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, "why"])
    for hit in search.hits:
        for file in hit.get("files") or [{"path": "", "rows": hit.get("rows", 0)}]:
            row = {**hit, "file": file.get("path", ""), "rows": file.get("rows", 0)}
            writer.writerow([*(row.get(column, "") for column in CSV_COLUMNS), ""])
    for item in search.unsearched:
        writer.writerow([*(item.get(column, "") for column in CSV_COLUMNS[:5]), "", "", item.get("why", "")])
    return out.getvalue()


@extend_schema(responses=s.SubjectSearchSerializer)
class SubjectSearchViewSet(ReadOnlyRestrictedViewSet):
    """The reports of searches for data subjects: every record found, with files and row counts, and a digest."""

    queryset = SubjectSearch.objects.select_related("job", "request__team")
    serializer_class = s.SubjectSearchSerializer
    permission_classes = PERMISSIONS
    filterset_fields = ["request"]

    @extend_schema(
        request=s.ExportSerializer,
        responses={
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="The report as JSON"),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The report as CSV, one line per file"),
        },
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def export(self, request: Request, pk: str | None = None) -> HttpResponse:
        """Download the report (JSON or CSV) to answer an access request: recorded in the audit log, since it is
        personal data leaving Assay. A POST for that reason."""
        search = self.get_object()
        body = s.ExportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fmt = body.validated_data["format"]
        actions.do_record_report_export(search, actor=acting_user(request.user), fmt=fmt)
        return export_response(search, fmt)


def export_response(search: SubjectSearch, fmt: str) -> HttpResponse:
    """The report as a download: JSON (the request, the hits, what was not searched, the digest) or CSV."""
    name = f"subject-report-{search.request.public_id}-{search.pk}.{fmt}"
    if fmt == "csv":
        response = HttpResponse(report_csv(search), content_type="text/csv; charset=utf-8")
    else:
        document = {
            "request": str(search.request.public_id),
            "kind": search.request.kind,
            "subject_identifier": search.request.subject_identifier,
            "searched_at": search.created_at.isoformat(),
            "hits": search.hits,
            "unsearched": search.unsearched,
            "digest": search.digest,
        }
        response = HttpResponse(json.dumps(document, indent=2, ensure_ascii=False), content_type="application/json")
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response


@extend_schema(responses=s.SubjectErasureSerializer)
class SubjectErasureViewSet(ReadOnlyRestrictedViewSet):
    """What each erasure did and kept, with why."""

    queryset = SubjectErasure.objects.select_related("job", "request__team")
    serializer_class = s.SubjectErasureSerializer
    permission_classes = PERMISSIONS
    filterset_fields = ["request"]


@extend_schema(responses=s.DatasetFilesErasureSerializer)
class DatasetFilesErasureViewSet(ReadOnlyRestrictedViewSet):
    """Dataset versions whose files were rewritten without a data subject's rows: rows erased, the files' digests
    before and after (docs/decisions/0008-erasing-rows-of-dataset-versions.md)."""

    queryset = DatasetFilesErasure.objects.select_related("request__team", "dataset_version")
    serializer_class = s.DatasetFilesErasureSerializer
    permission_classes = PERMISSIONS
    filterset_fields = ["dataset_version"]
