"""The audit table is append-only in the database itself: neither the ORM nor raw SQL can change or remove a row."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from core import audit_triggers
from core.audit import record_event, verify_chain
from core.choices import AuditEventType
from core.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def event() -> AuditEvent:
    with transaction.atomic():
        for number in range(3):
            last = record_event(AuditEventType.TEAM_UPDATED, actor=None, metadata={"n": number})
    return AuditEvent.objects.get(pk=last.pk)


def assert_unchanged(event: AuditEvent) -> None:
    fresh = AuditEvent.objects.get(pk=event.pk)
    assert (fresh.seq, fresh.metadata, fresh.actor_name, fresh.hash) == (
        event.seq,
        event.metadata,
        event.actor_name,
        event.hash,
    )
    assert AuditEvent.objects.count() == 3
    assert verify_chain().intact


def test_triggers_are_installed():
    """GIVEN a migrated database WHEN its triggers are listed THEN the audit table's append-only ones are there."""
    assert audit_triggers.installed(connection)


def test_orm_queryset_update_is_refused(event):
    """GIVEN a recorded event WHEN the ORM updates it through a queryset THEN the database refuses and nothing
    changes."""
    with pytest.raises(DatabaseError, match="core_auditevent is append-only: UPDATE refused"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor_name="mallory")
    assert_unchanged(event)


def test_orm_queryset_delete_is_refused(event):
    """GIVEN recorded events WHEN the ORM deletes them through a queryset THEN the database refuses and nothing
    changes."""
    with pytest.raises(DatabaseError, match="core_auditevent is append-only: DELETE refused"), transaction.atomic():
        AuditEvent.objects.all().delete()
    assert_unchanged(event)


def test_orm_instance_save_is_refused(event):
    """GIVEN a recorded event WHEN an edited instance is saved back THEN the database refuses and nothing
    changes."""
    edited = AuditEvent.objects.get(pk=event.pk)
    edited.metadata = {"n": 999}
    with pytest.raises(DatabaseError, match="core_auditevent is append-only: UPDATE refused"), transaction.atomic():
        edited.save()
    assert_unchanged(event)


def test_orm_instance_delete_is_refused(event):
    """GIVEN a recorded event WHEN the instance is deleted THEN the database refuses and nothing changes."""
    with pytest.raises(DatabaseError, match="core_auditevent is append-only: DELETE refused"), transaction.atomic():
        AuditEvent.objects.get(pk=event.pk).delete()
    assert_unchanged(event)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE core_auditevent SET actor_name = 'mallory' WHERE id = %s",
        "UPDATE core_auditevent SET seq = seq + 100",
        "DELETE FROM core_auditevent WHERE id = %s",
        "DELETE FROM core_auditevent",
    ],
)
def test_raw_sql_update_and_delete_are_refused(event, statement):
    """GIVEN a recorded event WHEN raw SQL updates or deletes rows THEN the database refuses and nothing changes."""
    with (
        pytest.raises(DatabaseError, match=f"core_auditevent is append-only: {statement.split()[0]} refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, [event.pk] if "%s" in statement else None)
    assert_unchanged(event)


def test_raw_truncate_is_refused_on_postgresql(event):
    """GIVEN a recorded event on PostgreSQL WHEN the table is truncated THEN the database refuses and nothing
    changes. (SQLite has no TRUNCATE; its DELETE without WHERE is refused above.)"""
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE exists only on PostgreSQL")
    with (
        pytest.raises(DatabaseError, match="core_auditevent is append-only: TRUNCATE refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE core_auditevent")
    assert_unchanged(event)


def test_appending_still_works(event):
    """GIVEN the append-only triggers WHEN a new event is recorded THEN it is inserted and links onto the head."""
    with transaction.atomic():
        added = record_event(AuditEventType.TEAM_UPDATED, actor=None)
    assert added.seq == event.seq + 1
    assert added.prev_hash == event.hash
    assert verify_chain().events_checked == 4
