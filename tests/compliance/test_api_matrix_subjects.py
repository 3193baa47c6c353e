"""Every data-subject request endpoint, tried by every persona of the cast and by an anonymous client
(tests/api_cases.py).

Only team A's compliance officer (and the superuser) sees or acts on team A's requests and reports: a report names a
person. Other members of team A get a 403 when they try to record one (they see the team) and a 404 for any request;
team B's engineer does not see team A at all (400 "does not exist" on create, 404 elsewhere).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from compliance.actions import subjects as actions
from compliance.models import DatasetFilesErasure, SubjectErasure, SubjectRequest, SubjectSearch
from core.choices import AuditEventType
from core.models import Job
from tests.api_cases import PERSONAS, TEAM_A, ApiCase, World, matrix, run_case
from tests.compliance.factories import SUBJECT, erase, make_customers, make_request, search, write_customers

HANDLERS = ("superuser", "compliance")
EVERYONE = dict.fromkeys(PERSONAS, 200)


def handlers(status: int, *, team_a: int = 404, outsider: int = 404) -> dict[str, int]:
    """``status`` for the officer and the superuser, ``team_a`` for the rest of team A, ``outsider`` for team B."""
    return {**dict.fromkeys(TEAM_A, team_a), **dict.fromkeys(HANDLERS, status), "engineer_b": outsider}


def _request(world: World) -> dict[str, Any]:
    return {"request": make_request(world.cast)}


def _searched(world: World) -> dict[str, Any]:
    request = make_request(world.cast)
    search(request, world.cast.compliance)
    return {"request": request, "search": SubjectSearch.objects.get(request=request)}


def _erased(world: World) -> dict[str, Any]:
    objects = _searched(world)
    erase(objects["request"], world.cast.compliance)
    return {**objects, "erasure": SubjectErasure.objects.get(request=objects["request"])}


def _dataset_erasure(world: World) -> dict[str, Any]:
    write_customers(Path(settings.DATA_LAKE_ROOT))
    make_customers(world.cast)
    objects = _erased(world)
    return {**objects, "dataset_erasure": DatasetFilesErasure.objects.get(request=objects["request"])}


CREATE = {"team": "team-a", "kind": "erasure", "subject_identifier": SUBJECT, "asked_by": "the subject, by letter"}

CASES = [
    ApiCase(
        "subject_requests.list",
        "get",
        lambda w: "/api/v1/subject-requests/",
        statuses=EVERYONE,
        setup=_request,
        listed=lambda w: str(w.request.public_id),
        visible_to=HANDLERS,
    ),
    ApiCase(
        "subject_requests.detail",
        "get",
        lambda w: f"/api/v1/subject-requests/{w.request.pk}/",
        statuses=handlers(200),
        setup=_request,
    ),
    ApiCase(
        "subject_requests.create",
        "post",
        lambda w: "/api/v1/subject-requests/",
        data=lambda w: CREATE,
        statuses=handlers(201, team_a=403, outsider=400),
        event=AuditEventType.SUBJECT_REQUEST_CREATED,
        counted=(SubjectRequest,),
    ),
    ApiCase(
        "subject_requests.search",
        "post",
        lambda w: f"/api/v1/subject-requests/{w.request.pk}/search/",
        data=lambda w: {},
        statuses=handlers(202),
        setup=_request,
        event=AuditEventType.JOB_REQUESTED,
        counted=(Job,),
    ),
    ApiCase(
        "subject_requests.erase",
        "post",
        lambda w: f"/api/v1/subject-requests/{w.request.pk}/erase/",
        data=lambda w: {},
        statuses=handlers(202),
        setup=_searched,
        event=AuditEventType.JOB_REQUESTED,
        counted=(Job, SubjectErasure),
    ),
    ApiCase(
        "subject_requests.close",
        "post",
        lambda w: f"/api/v1/subject-requests/{w.request.pk}/close/",
        data=lambda w: {"reason": "answered"},
        statuses=handlers(200),
        setup=_request,
        event=AuditEventType.SUBJECT_REQUEST_CLOSED,
    ),
    ApiCase(
        "subject_requests.patch_is_not_allowed",
        "patch",
        lambda w: f"/api/v1/subject-requests/{w.request.pk}/",
        data=lambda w: {"asked_by": "someone else"},
        default=405,
        setup=_request,
    ),
    ApiCase(
        "subject_searches.list",
        "get",
        lambda w: "/api/v1/subject-searches/",
        statuses=EVERYONE,
        setup=_searched,
        listed=lambda w: f'"digest":"{w.search.digest}"',
        visible_to=HANDLERS,
    ),
    ApiCase(
        "subject_searches.detail",
        "get",
        lambda w: f"/api/v1/subject-searches/{w.search.pk}/",
        statuses=handlers(200),
        setup=_searched,
    ),
    ApiCase(
        "subject_searches.export",
        "post",
        lambda w: f"/api/v1/subject-searches/{w.search.pk}/export/",
        data=lambda w: {"format": "csv"},
        statuses=handlers(200),
        setup=_searched,
        event=AuditEventType.SUBJECT_REPORT_EXPORTED,
    ),
    ApiCase(
        "subject_erasures.list",
        "get",
        lambda w: "/api/v1/subject-erasures/",
        statuses=EVERYONE,
        setup=_erased,
        listed=lambda w: f'"digest":"{w.erasure.digest}"',
        visible_to=HANDLERS,
    ),
    ApiCase(
        "subject_erasures.detail",
        "get",
        lambda w: f"/api/v1/subject-erasures/{w.erasure.pk}/",
        statuses=handlers(200),
        setup=_erased,
    ),
    ApiCase(
        "dataset_erasures.list",
        "get",
        lambda w: "/api/v1/dataset-erasures/",
        statuses=EVERYONE,
        setup=_dataset_erasure,
        listed=lambda w: f'"files_after":"{w.dataset_erasure.files_after}"',
        visible_to=HANDLERS,
    ),
    ApiCase(
        "dataset_erasures.detail",
        "get",
        lambda w: f"/api/v1/dataset-erasures/{w.dataset_erasure.pk}/",
        statuses=handlers(200),
        setup=_dataset_erasure,
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)


def test_the_action_functions_are_the_ones_the_api_calls() -> None:
    # The matrix's event rows come from these actions; a rename would leave the matrix testing nothing.
    assert actions.SEARCH_JOB == "compliance.subject_search"
    assert actions.ERASE_JOB == "compliance.subject_erase"
