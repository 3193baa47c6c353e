"""Concurrent writers, real transactions: the chain never forks, and it records only what commits."""

from __future__ import annotations

import itertools
import threading
import time
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from core import actions
from core import audit as audit_module
from core.audit import record_event, verify_chain
from core.choices import AuditEventType
from core.models import AuditEvent, Team

WRITERS = 50


@pytest.fixture
def slow_append(monkeypatch: pytest.MonkeyPatch) -> None:
    """Widen the window between reading the head and inserting the new row (record_event takes the time in
    between), so that without the chain lock two writers would almost surely read the same head."""
    real_now = timezone.now

    def slow_now():
        time.sleep(0.002)
        return real_now()

    monkeypatch.setattr(audit_module, "timezone", SimpleNamespace(now=slow_now))


@pytest.mark.timeout(120)
def test_fifty_concurrent_writers_do_not_fork_the_chain(transactional_db, slow_append):
    """GIVEN fifty threads, each with its own database connection WHEN they all append an event at once, each in
    its own transaction THEN every event is in the chain once, seq runs 1..50 without gaps, each row links to the
    one before, and the chain verifies."""
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def write(number: int) -> None:
        try:
            start.wait(timeout=30)
            with transaction.atomic():
                record_event(AuditEventType.TEAM_UPDATED, actor=None, metadata={"writer": number})
        except BaseException as exc:  # reported below, with the thread's number
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(number,)) for number in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not errors, errors
    rows = list(AuditEvent.objects.order_by("seq").values("seq", "prev_hash", "hash", "metadata"))
    assert [row["seq"] for row in rows] == list(range(1, WRITERS + 1))
    assert sorted(row["metadata"]["writer"] for row in rows) == list(range(WRITERS))
    assert all(later["prev_hash"] == earlier["hash"] for earlier, later in itertools.pairwise(rows))
    report = verify_chain()
    assert (report.intact, report.events_checked) == (True, WRITERS)


def test_failed_action_leaves_neither_change_nor_event(transactional_db, cast):
    """GIVEN a committed chain WHEN an action's transaction records its change and its event and then fails THEN
    neither the change nor the event remains."""
    head = AuditEvent.objects.order_by("-seq").first()
    seen_inside: list[bool] = []

    def failing_action() -> None:
        with transaction.atomic():
            actions.do_create_team(actor=cast.superuser, slug="doomed", name="Doomed")
            seen_inside.append(AuditEvent.objects.filter(target_repr__contains="Doomed").exists())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_action()
    assert seen_inside == [True]
    assert not Team.objects.filter(slug="doomed").exists()
    assert AuditEvent.objects.order_by("-seq").first() == head
    assert verify_chain().intact


def test_invalid_action_leaves_no_event(transactional_db, cast):
    """GIVEN an existing team WHEN an action fails validation (a duplicate slug) THEN no event is recorded."""
    count = AuditEvent.objects.count()
    with pytest.raises(ValidationError, match="Team with this Slug already exists") as invalid:
        actions.do_create_team(actor=cast.superuser, slug=cast.team_a.slug, name="Again")
    assert list(invalid.value.message_dict) == ["slug"]
    assert AuditEvent.objects.count() == count


def test_record_event_outside_a_transaction_is_refused(transactional_db):
    """GIVEN autocommit (no transaction) WHEN an event is recorded THEN it is refused and nothing is written."""
    assert not connection.in_atomic_block
    with pytest.raises(RuntimeError, match="inside the transaction"):
        record_event(AuditEventType.TEAM_UPDATED, actor=None)
    assert not AuditEvent.objects.exists()
