"""Actions of data-subject requests: record a request, start its search and its erasure (as jobs), record what they
found and did, close it, and log the handing out of a report. Each writes its audit event in its own transaction;
the audit log carries the identifier's keyed hash, never the identifier. docs/subject-requests.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from compliance.models import (
    DatasetFilesErasure,
    SubjectErasure,
    SubjectRequest,
    SubjectRequestKind,
    SubjectRequestStatus,
    SubjectRequestTransition,
    SubjectSearch,
)
from compliance.models.subjects import SUBJECT_POLICY
from compliance.subjects import IdentifierRefused, check_identifier, one_month_after, subject_digest
from core.audit import record_event
from core.canonical import canonical_digest
from core.choices import AuditEventType
from core.jobs import dispatch_job
from core.models import Job, Team
from core.querysets import CHANGE, member_team_ids
from core.refusals import Refusal, refusals_recorded
from registry.models import DatasetVersion

SEARCH_JOB = "compliance.subject_search"
ERASE_JOB = "compliance.subject_erase"
MAX_ASKED_BY_LENGTH = 200
# The longest a deadline may be pushed at creation: art. 12(3) allows two further months for complex requests.
MAX_DUE_DAYS = 92


def may_handle(user: User, team: Team) -> bool:
    """Whether ``user`` may record and act on the team's data-subject requests (its compliance officers)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return Team.objects.filter(pk=team.pk, pk__in=member_team_ids(user, SUBJECT_POLICY[CHANGE])).exists()


def require_handler(user: User, team: Team) -> None:
    if not may_handle(user, team):
        raise PermissionDenied(f"Only compliance officers of team {team.slug} handle its data-subject requests.")


def _refused(reason: str, message: str, *, status: int = 409, field: str = "", request: SubjectRequest) -> Refusal:
    return Refusal(
        reason,
        message,
        event_type=AuditEventType.SUBJECT_REQUEST_REFUSED,
        status=status,
        field=field,
        metadata={"reason": reason, "request": str(request.public_id)},
    )


def _transition(request: SubjectRequest, *, actor: User | None, to_status: str, reason: str) -> SubjectRequest:
    # Race: two jobs or officers moving the same request at once would both read the same "from".
    locked = SubjectRequest.objects.select_for_update().get(pk=request.pk)
    if locked.status == to_status:
        return locked
    SubjectRequestTransition.objects.create(
        request=locked,
        from_status=locked.status,
        to_status=to_status,
        reason=reason,
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "a job",
    )
    SubjectRequest.objects.filter(pk=locked.pk).update(status=to_status)
    locked.refresh_from_db(fields=["status"])
    return locked


@transaction.atomic
def do_create_subject_request(
    team: Team,
    *,
    actor: User,
    kind: str,
    subject_identifier: str,
    asked_by: str,
    received_at: dt.datetime | None = None,
    due_at: dt.datetime | None = None,
) -> SubjectRequest:
    """Record an access or erasure request about ``subject_identifier`` for ``team``'s records.

    ``received_at`` defaults to now and may not be in the future; ``due_at`` to one month after it, and may be set
    up to three months after it (art. 12(3)'s extension). Raises ``ValidationError`` naming the field at fault.
    """
    require_handler(actor, team)
    try:
        identifier = check_identifier(subject_identifier)
    except IdentifierRefused as refused:
        raise ValidationError({"subject_identifier": refused.message}) from None
    if kind not in SubjectRequestKind.values:
        raise ValidationError({"kind": f"Must be one of {', '.join(SubjectRequestKind.values)}."})
    if not isinstance(asked_by, str) or not asked_by.strip():
        raise ValidationError({"asked_by": "Say who asked: the data subject, or who acts for them."})
    now = timezone.now()
    received = received_at or now
    if received > now + dt.timedelta(minutes=5):
        raise ValidationError({"received_at": "A request cannot be received in the future."})
    due = due_at or one_month_after(received)
    if due < received:
        raise ValidationError({"due_at": "The deadline cannot come before the request was received."})
    if due > received + dt.timedelta(days=MAX_DUE_DAYS):
        raise ValidationError({"due_at": "The deadline can be at most three months after receipt (art. 12(3))."})
    request = SubjectRequest(
        team=team,
        kind=kind,
        subject_identifier=identifier,
        subject_digest=subject_digest(identifier),
        asked_by=asked_by.strip(),
        received_at=received,
        due_at=due,
        created_by=actor,
    )
    request.full_clean()
    request.save(force_insert=True)
    SubjectRequestTransition.objects.create(
        request=request,
        from_status="",
        to_status=SubjectRequestStatus.RECEIVED,
        reason=f"{request.get_kind_display()} request received",
        actor=actor,
        actor_name=actor.get_username(),
    )
    record_event(
        AuditEventType.SUBJECT_REQUEST_CREATED,
        actor=actor,
        target=request,
        team=team,
        after={
            "kind": kind,
            "subject_digest": request.subject_digest,
            "received_at": received.isoformat(),
            "due_at": due.isoformat(),
        },
    )
    return request


def _open(request: SubjectRequest) -> None:
    if request.status == SubjectRequestStatus.CLOSED:
        raise _refused("request_closed", "This request is closed: nothing more is done under it.", request=request)


def do_request_subject_search(request: SubjectRequest, *, actor: User, idempotency_key: str = "") -> tuple[Job, bool]:
    """Start the job that searches every registered finder for the request's subject. Returns ``(job, created)``."""
    require_handler(actor, request.team)
    with refusals_recorded(actor=actor, target=request, team=request.team):
        _open(request)
    return dispatch_job(
        SEARCH_JOB,
        actor=actor,
        team=request.team,
        target=request,
        params={"request": request.pk},
        idempotency_key=idempotency_key,
    )


def report_digest(request: SubjectRequest, hits: Sequence[Any], unsearched: Sequence[Any]) -> str:
    """SHA-256 of the report's canonical JSON: the subject's keyed hash, the hits, what could not be searched."""
    report = {"subject_digest": request.subject_digest, "hits": list(hits), "unsearched": list(unsearched)}
    return canonical_digest(report)


@transaction.atomic
def do_record_subject_search(
    request: SubjectRequest, *, job: Job, hits: Sequence[Mapping[str, Any]], unsearched: Sequence[Mapping[str, Any]]
) -> SubjectSearch:
    """Record what ``job`` found, once: a retried job gets the report its earlier attempt recorded."""
    existing = SubjectSearch.objects.filter(job=job).first()
    if existing is not None:
        return existing
    hits = [dict(hit) for hit in hits]
    unsearched = [dict(item) for item in unsearched]
    search = SubjectSearch.objects.create(
        request=request,
        job=job,
        hits=hits,
        unsearched=unsearched,
        hit_count=len(hits),
        row_count=sum(int(hit.get("rows", 0)) for hit in hits),
        digest=report_digest(request, hits, unsearched),
    )
    if request.status == SubjectRequestStatus.RECEIVED:
        _transition(request, actor=job.requested_by, to_status=SubjectRequestStatus.REPORTED, reason="search report")
    record_event(
        AuditEventType.SUBJECT_REQUEST_SEARCHED,
        actor=job.requested_by,
        target=request,
        team=request.team,
        metadata={
            "subject_digest": request.subject_digest,
            "search": search.pk,
            "job": str(job.public_id),
            "hits": search.hit_count,
            "rows": search.row_count,
            "unsearched": len(unsearched),
            "digest": search.digest,
        },
    )
    return search


def do_request_subject_erasure(
    request: SubjectRequest, *, actor: User, search: SubjectSearch | None = None, idempotency_key: str = ""
) -> tuple[Job, bool]:
    """Confirm the erasure of what ``search`` (the latest report by default) found: start the erasure job.

    Refused (409, recorded) for an access request, a closed one, or one with no report yet. A request already
    erased returns the job that erased it (``created`` false): erasing twice does nothing more.
    """
    require_handler(actor, request.team)
    with refusals_recorded(actor=actor, target=request, team=request.team):
        _open(request)
        if request.kind != SubjectRequestKind.ERASURE:
            raise _refused(
                "not_an_erasure_request", "This is an access request: it cannot erase anything.", request=request
            )
        done = request.erasures.select_related("job").first()
        if done is not None:
            return done.job, False
        search = search or request.searches.first()
        if search is None or search.request_id != request.pk:
            raise _refused(
                "no_report",
                "Search for the subject first: an erasure acts on a search report.",
                field="search",
                request=request,
            )
    return dispatch_job(
        ERASE_JOB,
        actor=actor,
        team=request.team,
        target=request,
        params={"request": request.pk, "search": search.pk},
        idempotency_key=idempotency_key,
    )


@transaction.atomic
def do_record_dataset_erasure(
    request: SubjectRequest,
    version: DatasetVersion,
    *,
    actor: User | None,
    rows: int,
    files_before: str,
    files_after: str,
    files: list[list[Any]],
) -> DatasetFilesErasure:
    """Record that ``version``'s files were rewritten without the subject's rows, once per (request, version)."""
    existing = DatasetFilesErasure.objects.filter(request=request, dataset_version=version).first()
    if existing is not None:
        return existing
    erasure = DatasetFilesErasure(
        request=request,
        dataset_version=version,
        rows_erased=rows,
        files_before=files_before,
        files_after=files_after,
        files=files,
    )
    erasure.full_clean()
    erasure.save(force_insert=True)
    record_event(
        AuditEventType.DATASET_ROWS_ERASED,
        actor=actor,
        target=version,
        team=version.dataset.team,
        metadata={
            "request": str(request.public_id),
            "subject_digest": request.subject_digest,
            "rows": rows,
            "files_before": files_before,
            "files_after": files_after,
        },
    )
    return erasure


@transaction.atomic
def do_record_subject_erasure(
    request: SubjectRequest,
    search: SubjectSearch,
    *,
    job: Job,
    done: Sequence[Mapping[str, Any]],
    kept: Sequence[Mapping[str, Any]],
) -> SubjectErasure:
    """Record what the erasure ``job`` did and kept, once, and mark the request erased."""
    existing = SubjectErasure.objects.filter(job=job).first()
    if existing is not None:
        return existing
    done = [dict(item) for item in done]
    kept = [dict(item) for item in kept]
    erasure = SubjectErasure.objects.create(
        request=request,
        search=search,
        job=job,
        done=done,
        kept=kept,
        rows_erased=sum(int(item.get("rows", 0)) for item in done),
        digest=canonical_digest({"subject_digest": request.subject_digest, "done": done, "kept": kept}),
    )
    _transition(request, actor=job.requested_by, to_status=SubjectRequestStatus.ERASED, reason="erasure report")
    record_event(
        AuditEventType.SUBJECT_REQUEST_ERASED,
        actor=job.requested_by,
        target=request,
        team=request.team,
        metadata={
            "subject_digest": request.subject_digest,
            "erasure": erasure.pk,
            "job": str(job.public_id),
            "done": len(done),
            "kept": len(kept),
            "rows": erasure.rows_erased,
            "digest": erasure.digest,
        },
    )
    return erasure


@transaction.atomic
def do_close_subject_request(request: SubjectRequest, *, actor: User, reason: str) -> SubjectRequest:
    """Close the request (answered, withdrawn, refused as manifestly unfounded): nothing more is done under it."""
    require_handler(actor, request.team)
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError({"reason": "Say why the request is closed."})
    if request.status == SubjectRequestStatus.CLOSED:
        return request
    closed = _transition(request, actor=actor, to_status=SubjectRequestStatus.CLOSED, reason=reason.strip())
    record_event(
        AuditEventType.SUBJECT_REQUEST_CLOSED,
        actor=actor,
        target=closed,
        team=closed.team,
        metadata={"subject_digest": closed.subject_digest, "reason": reason.strip()[:500]},
    )
    return closed


@transaction.atomic
def do_record_report_export(search: SubjectSearch, *, actor: User, fmt: str) -> None:
    """Record that ``actor`` took ``search``'s report away (as ``fmt``): it is personal data leaving Assay."""
    require_handler(actor, search.request.team)
    record_event(
        AuditEventType.SUBJECT_REPORT_EXPORTED,
        actor=actor,
        target=search.request,
        team=search.request.team,
        metadata={"search": search.pk, "format": fmt, "digest": search.digest},
    )
