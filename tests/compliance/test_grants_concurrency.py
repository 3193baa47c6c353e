"""Two sides deciding one grant at once: real threads, each with its own connection, committing. The row lock on
the grant (compliance.actions.grants.do_decide_grant) orders them, so the second sees the first's decision and the
grant ends approved; two admins deciding the same side at once: one wins, the other is refused."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from compliance import actions
from compliance.choices import GrantStatus
from compliance.models import DataAccessGrant
from core import actions as core_actions
from core.choices import AuditEventType, Role
from core.models import AuditEvent
from tests.compliance.grant_factories import make_borrow, request_grant
from tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def race(*calls: Any) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Any) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as exc:  # reported to the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_both_sides_approving_at_once_end_approved(cast: Any) -> None:
    grant = request_grant(make_borrow(cast))
    results = race(
        lambda: actions.do_decide_grant(grant, actor=cast.admin_a, side="owner", decision="approve"),
        lambda: actions.do_decide_grant(grant, actor=cast.compliance, side="compliance", decision="approve"),
    )
    assert not [result for result in results if isinstance(result, Exception)], results
    assert DataAccessGrant.objects.get(pk=grant.pk).status == GrantStatus.APPROVED
    assert AuditEvent.objects.filter(event_type=AuditEventType.DATA_GRANT_APPROVED).count() == 2


def test_two_admins_deciding_one_side_at_once_one_wins(cast: Any) -> None:
    second = make_user("adam-admin")
    core_actions.do_grant_membership(cast.team_a, actor=cast.superuser, user=second, role=Role.ADMIN)
    grant = request_grant(make_borrow(cast))
    results = race(
        lambda: actions.do_decide_grant(grant, actor=cast.admin_a, side="owner", decision="approve"),
        lambda: actions.do_decide_grant(grant, actor=second, side="owner", decision="approve"),
    )
    refused = [result for result in results if isinstance(result, Exception)]
    assert len(refused) == 1
    assert "already decided" in str(refused[0])
    assert grant.decisions.count() == 1
