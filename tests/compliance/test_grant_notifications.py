"""What a data access grant tells people (compliance.notifications): the owning team's deciders when it awaits
them, the requester when it is decided. GIVEN / WHEN / THEN."""

from __future__ import annotations

from typing import Any

import pytest

from compliance import actions
from compliance.notifications import AWAITING, DECIDED
from core.models import Notification
from tests.compliance.grant_factories import Borrow, make_borrow, request_grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def borrow(cast: Any) -> Borrow:
    return make_borrow(cast)


def inbox(kind: str) -> list[tuple[str, str]]:
    return sorted(
        (n.recipient.username, n.link) for n in Notification.objects.filter(kind=kind).select_related("recipient")
    )


def test_a_grant_awaits_each_side_then_tells_the_requester(cast: Any, borrow: Borrow) -> None:
    # GIVEN team B's engineer asks for team A's dataset
    grant = request_grant(borrow)
    link = f"/compliance/data-grants/{grant.pk}/"
    # THEN team A's admin (owner side) and compliance officer (compliance side) are told, not the requester
    assert inbox(AWAITING.name) == [("alice-admin", link), ("carol-compliance", link)]
    body = Notification.objects.filter(kind=AWAITING.name).first()
    assert body is not None
    assert "bob-engineer asks for team team-b to use Shared events (team team-a)" in body.body
    # WHEN the admin approves THEN only the compliance side is told again (the admin decided: a second person decides)
    actions.do_decide_grant(grant, actor=cast.admin_a, side="owner", decision="approve")
    assert inbox(AWAITING.name) == [("alice-admin", link), ("carol-compliance", link), ("carol-compliance", link)]
    assert not Notification.objects.filter(kind=DECIDED.name).exists()
    # WHEN the compliance officer approves THEN the requester hears it is approved, with its end date
    actions.do_decide_grant(grant, actor=cast.compliance, side="compliance", decision="approve")
    assert inbox(DECIDED.name) == [("bob-engineer", link)]
    approved = Notification.objects.get(kind=DECIDED.name)
    assert approved.subject.startswith(f"Data access grant #{grant.pk} approved")
    assert "approved by both sides; it covers use until" in approved.body
    # WHEN team A's admin revokes it THEN the requester hears that too, with the reason
    actions.do_revoke_grant(grant, actor=cast.admin_a, reason="The study ended.")
    revoked = Notification.objects.filter(kind=DECIDED.name).order_by("-id").first()
    assert revoked is not None
    assert "revoked by alice-admin" in revoked.body
    assert "The study ended." in revoked.body


def test_a_refusal_tells_the_requester_and_nobody_waits_any_more(cast: Any, borrow: Borrow) -> None:
    grant = request_grant(borrow)
    actions.do_decide_grant(grant, actor=cast.compliance, side="compliance", decision="refuse", comment="No DPIA.")
    refused = Notification.objects.get(kind=DECIDED.name)
    assert refused.recipient == cast.engineer_b
    assert "refused by carol-compliance" in refused.body
    assert "No DPIA." in refused.body
    # the two first notices only: a refused grant awaits nobody
    assert len(inbox(AWAITING.name)) == 2
