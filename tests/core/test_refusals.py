"""One refusal type: recorded once by the action that refuses, answered by the API in its one error shape."""

from __future__ import annotations

import pytest
from django.db import transaction

from core.api.exceptions import exception_handler
from core.choices import AuditEventType
from core.models import AuditEvent, Team
from core.refusals import Refusal, do_record_refusal, refusals_recorded

pytestmark = pytest.mark.django_db


def refusal(status: int = 400, field: str = "envelope") -> Refusal:
    return Refusal(
        "stale_manifest",
        "the manifest changed since you fetched it",
        event_type=AuditEventType.APPROVAL_REFUSED,
        status=status,
        field=field,
        metadata={"reason": "stale_manifest"},
    )


@pytest.mark.parametrize(
    ("status", "field", "fields"),
    [
        (400, "envelope", {"envelope": ["the manifest changed since you fetched it"]}),
        (400, "", None),
        (409, "envelope", None),  # only a 400 is about a field of the request
        (413, "file", None),
    ],
)
def test_the_api_answers_a_refusal_with_its_status_its_reason_and_the_field_at_fault(status, field, fields) -> None:
    response = exception_handler(refusal(status, field), {})
    assert response is not None
    assert response.status_code == status
    error = response.data["error"]
    assert (error["code"], error["message"]) == ("stale_manifest", "the manifest changed since you fetched it")
    assert error.get("fields") == fields


def test_the_work_of_the_refused_block_rolls_back_and_only_the_refusal_is_recorded_once(cast) -> None:
    refused = refusal()

    @transaction.atomic
    def body() -> None:
        Team.objects.filter(pk=cast.team_a.pk).update(description="written, then refused")
        raise refused

    def action() -> None:
        with refusals_recorded(actor=cast.engineer_a, team=cast.team_a, context={"via": "api"}):
            body()

    # GIVEN an action whose atomic body writes, then refuses
    with pytest.raises(Refusal, match="the manifest changed"):
        action()
    # WHEN it is recorded again by an outer caller
    do_record_refusal(refused, actor=cast.engineer_a)
    # THEN the body's write is gone, and there is one event, with the context, the actor and the team
    assert Team.objects.get(pk=cast.team_a.pk).description != "written, then refused"
    events = AuditEvent.objects.filter(event_type=AuditEventType.APPROVAL_REFUSED)
    assert [(e.actor_id, e.team_id, e.metadata) for e in events] == [
        (cast.engineer_a.pk, cast.team_a.pk, {"reason": "stale_manifest", "via": "api"})
    ]
