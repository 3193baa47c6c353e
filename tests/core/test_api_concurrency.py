"""Concurrent requests that must not both win. Real threads, each with its own database connection, committing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from core import actions
from core.choices import AuditEventType, Role
from core.models import AuditEvent, Membership


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls at the same moment, each in its own thread (and so its own connection); return their results."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as exc:  # reported to the test, which asserts on it
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def client_of(user: Any) -> APIClient:
    _, token = actions.do_create_token(actor=user, name="race")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.mark.django_db(transaction=True)
def test_two_identical_grants_at_once_make_one_membership_and_one_event(cast):
    # GIVEN two sessions of team A's admin
    first, second = client_of(cast.admin_a), client_of(cast.admin_a)
    body = {"team": "team-a", "user": "bob-engineer", "role": Role.AUDITOR}
    # WHEN both grant bob the same role at the same moment
    responses = race(
        [
            lambda: first.post("/api/v1/memberships/", body, format="json"),
            lambda: second.post("/api/v1/memberships/", body, format="json"),
        ]
    )
    # THEN one wins, the other is a 400 in the API's shape (whether the check or the unique index caught it),
    # and the membership and its audit event exist once
    assert sorted(response.status_code for response in responses) == [201, 400], responses
    loser = next(response for response in responses if response.status_code == 400)
    error = loser.json()["error"]
    assert set(error) >= {"code", "message", "fields"}
    # From full_clean ("... already exists") when the winner had committed, or from the unique index (mapped by
    # core.api.exceptions) when both passed validation together.
    reason = str(error["fields"])
    assert "already exists" in reason or "conflicts with an existing record" in reason, error
    assert Membership.objects.filter(team=cast.team_a, user=cast.engineer_b, role=Role.AUDITOR).count() == 1
    granted = AuditEvent.objects.filter(
        event_type=AuditEventType.MEMBERSHIP_GRANTED, team_slug="team-a", after__user="bob-engineer"
    )
    assert granted.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_admins_revoking_each_other_at_once_leave_one_admin(cast):
    # GIVEN team A has two admins, alice and erin
    actions.do_grant_membership(cast.team_a, actor=cast.admin_a, user=cast.engineer_a, role=Role.ADMIN)
    alice = Membership.objects.get(team=cast.team_a, user=cast.admin_a, role=Role.ADMIN)
    erin = Membership.objects.get(team=cast.team_a, user=cast.engineer_a, role=Role.ADMIN)
    alice_client, erin_client = client_of(cast.admin_a), client_of(cast.engineer_a)
    # WHEN each revokes the other at the same moment
    responses = race(
        [
            lambda: alice_client.delete(f"/api/v1/memberships/{erin.pk}/"),
            lambda: erin_client.delete(f"/api/v1/memberships/{alice.pk}/"),
        ]
    )
    # THEN one revocation wins and the other is refused: the team keeps exactly one admin
    statuses = sorted(response.status_code for response in responses)
    # The loser's answer depends on how far it got before the winner committed: 400 (it had the lock queued and
    # found no other admin left), 403 (it started after: no longer an admin), or 404 (alice, whose only
    # membership of team A was the one revoked, no longer sees the team at all).
    assert statuses in ([204, 400], [204, 403], [204, 404]), responses
    assert Membership.objects.filter(team=cast.team_a, role=Role.ADMIN).count() == 1
    assert AuditEvent.objects.filter(event_type=AuditEventType.MEMBERSHIP_REVOKED).count() == 1
