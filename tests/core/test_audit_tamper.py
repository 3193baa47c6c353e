"""Tampering with the chain by someone who can drop the triggers: what verification names, and what only a signed
checkpoint kept outside the database catches."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction

from core import audit_triggers
from core.audit import compute_hash, export_checkpoint, record_event, sign_checkpoint, verify_chain, verify_checkpoint
from core.choices import AuditEventType
from core.models import AuditEvent

pytestmark = pytest.mark.django_db

CONTENT = ["event_type", "actor_name", "target_type", "target_id", "target_repr", "before", "after", "metadata"]


@pytest.fixture
def chain() -> list[AuditEvent]:
    """Eight events, read back from the database."""
    with transaction.atomic():
        for number in range(1, 9):
            record_event(
                AuditEventType.TEAM_UPDATED,
                actor=None,
                target_type="core.team",
                target_id=str(number),
                before={"name": f"old {number}"},
                after={"name": f"new {number}"},
            )
    return list(AuditEvent.objects.order_by("seq"))


@pytest.fixture
def checkpoint(chain: list[AuditEvent]) -> dict[str, Any]:
    """A checkpoint of head #8, exported (the signing itself is recorded as #9)."""
    return export_checkpoint(sign_checkpoint(actor=None))


@pytest.fixture
def tamper() -> None:
    """What an attacker with rights over the schema does first."""
    audit_triggers.remove(connection)


def rehash_from(seq: int) -> None:
    """Recompute prev_hash and hash of every row from ``seq`` on, as a careful forger would."""
    previous = AuditEvent.objects.get(seq=seq - 1).hash if seq > 1 else "0" * 64
    for event in AuditEvent.objects.filter(seq__gte=seq).order_by("seq"):
        event.prev_hash = previous
        event.hash = compute_hash(event)
        AuditEvent.objects.filter(pk=event.pk).update(prev_hash=event.prev_hash, hash=event.hash)
        previous = event.hash


def test_untouched_chain_and_checkpoint_verify(chain, checkpoint):
    """GIVEN an untouched chain and its checkpoint WHEN verified THEN both hold."""
    report = verify_chain()
    assert report.intact
    assert (report.events_checked, report.head_seq) == (9, 9)
    assert verify_checkpoint(checkpoint) == (True, "row #8 has the signed hash and the chain is intact up to it")


def test_edited_row_is_named(chain, tamper):
    """GIVEN the triggers dropped WHEN a middle row's content is edited THEN verification names that row as
    edited."""
    AuditEvent.objects.filter(seq=4).update(after={"name": "forged"})
    report = verify_chain()
    assert not report.intact
    assert (report.broken_seq, report.broken_id, report.broken_kind) == (4, chain[3].pk, "content")
    assert "edited" in report.reason
    assert (report.head_seq, report.events_checked) == (3, 3)


def test_edited_timestamp_is_named(chain, tamper):
    """GIVEN the triggers dropped WHEN a row's time is moved by one microsecond THEN verification names it."""
    AuditEvent.objects.filter(seq=2).update(occurred_at=chain[1].occurred_at.replace(microsecond=1))
    if chain[1].occurred_at.microsecond == 1:
        AuditEvent.objects.filter(seq=2).update(occurred_at=chain[1].occurred_at.replace(microsecond=2))
    report = verify_chain()
    assert (report.broken_seq, report.broken_kind) == (2, "content")


def test_edited_and_rehashed_row_is_named_by_its_successor(chain, tamper):
    """GIVEN the triggers dropped WHEN a middle row is edited and its own hash recomputed THEN the next row's link
    breaks, and verification names the next row."""
    forged = AuditEvent.objects.get(seq=4)
    forged.actor_name = "mallory"
    AuditEvent.objects.filter(seq=4).update(actor_name="mallory", hash=compute_hash(forged))
    report = verify_chain()
    assert (report.broken_seq, report.broken_kind) == (5, "link")
    assert "row #4" in report.reason


def test_deleted_middle_row_is_named(chain, tamper):
    """GIVEN the triggers dropped WHEN a middle row is deleted THEN verification names the row after the gap."""
    AuditEvent.objects.filter(seq=5).delete()
    report = verify_chain()
    assert (report.broken_seq, report.broken_id, report.broken_kind) == (6, chain[5].pk, "gap")
    assert "expected #5, found #6" in report.reason


def test_deleted_first_row_is_named(chain, tamper):
    """GIVEN the triggers dropped WHEN the first row is deleted THEN verification names the new first row."""
    AuditEvent.objects.filter(seq=1).delete()
    report = verify_chain()
    assert (report.broken_seq, report.broken_kind, report.head_seq) == (2, "gap", None)


def test_swapped_rows_are_named(chain, tamper):
    """GIVEN the triggers dropped WHEN two rows exchange their whole content (hashes included) THEN verification
    names the first of them."""
    three, four = chain[2], chain[3]
    fields = [*CONTENT, "occurred_at", "prev_hash"]
    # hash is unique: park one value while the two rows trade.
    AuditEvent.objects.filter(pk=three.pk).update(hash="f" * 64)
    AuditEvent.objects.filter(pk=four.pk).update(hash=three.hash, **{name: getattr(three, name) for name in fields})
    AuditEvent.objects.filter(pk=three.pk).update(hash=four.hash, **{name: getattr(four, name) for name in fields})
    report = verify_chain()
    assert (report.broken_seq, report.broken_id, report.broken_kind) == (3, three.pk, "link")


def test_swapped_contents_keeping_hashes_are_named(chain, tamper):
    """GIVEN the triggers dropped WHEN two rows exchange their content but keep their hash columns THEN
    verification names the first of them as edited."""
    three, four = chain[2], chain[3]
    AuditEvent.objects.filter(pk=three.pk).update(**{name: getattr(four, name) for name in CONTENT})
    AuditEvent.objects.filter(pk=four.pk).update(**{name: getattr(three, name) for name in CONTENT})
    report = verify_chain()
    assert (report.broken_seq, report.broken_kind) == (3, "content")


def test_forged_row_inserted_in_the_middle_is_named(chain, tamper):
    """GIVEN the triggers dropped WHEN a well-formed row is inserted at #4 (later rows renumbered) THEN the row
    after it no longer links, and verification names it."""
    for event in reversed(chain[3:]):
        AuditEvent.objects.filter(pk=event.pk).update(seq=event.seq + 1)
    forged = AuditEvent(
        seq=4,
        occurred_at=chain[2].occurred_at,
        event_type=AuditEventType.TEAM_UPDATED,
        actor_name="mallory",
        metadata={},
        prev_hash=chain[2].hash,
    )
    forged.hash = compute_hash(forged)
    forged.save(force_insert=True)
    report = verify_chain()
    assert (report.broken_seq, report.broken_id, report.broken_kind) == (5, chain[3].pk, "link")


def test_forged_row_with_a_made_up_link_is_named(chain, tamper):
    """GIVEN the triggers dropped WHEN a row is appended whose prev_hash is not the head's THEN verification names
    it."""
    forged = AuditEvent(
        seq=9, occurred_at=chain[-1].occurred_at, event_type=AuditEventType.TEAM_UPDATED, prev_hash="a" * 64
    )
    forged.hash = compute_hash(forged)
    forged.save(force_insert=True)
    report = verify_chain()
    assert (report.broken_seq, report.broken_kind) == (9, "link")


def test_consistent_rewrite_passes_the_chain_but_not_the_checkpoint(chain, checkpoint, tamper):
    """GIVEN a checkpoint kept outside WHEN the chain is rewritten from row #2 on with every hash recomputed THEN
    the chain alone verifies, and the earlier signed checkpoint names the rewrite."""
    AuditEvent.objects.filter(seq=2).update(after={"name": "forged"})
    rehash_from(2)
    assert verify_chain().intact
    ok, reason = verify_checkpoint(checkpoint)
    assert not ok
    assert reason == f"row #8 no longer has the signed hash {chain[7].hash}: the chain was rewritten"


def test_rewritten_head_row_is_caught_by_the_checkpoint(chain, checkpoint, tamper):
    """GIVEN a checkpoint of head #8 WHEN row #8 is edited and re-hashed (it has no successor but the signing
    record #9, which is rehashed too) THEN only the checkpoint catches it."""
    AuditEvent.objects.filter(seq=8).update(actor_name="mallory")
    rehash_from(8)
    assert verify_chain().intact
    ok, reason = verify_checkpoint(checkpoint)
    assert not ok
    assert "row #8 no longer has the signed hash" in reason


def test_rewritten_last_row_is_invisible_to_the_chain(chain, tamper):
    """GIVEN no checkpoint WHEN the last row is edited and its hash recomputed THEN the chain still verifies: this
    is why checkpoints must be taken and kept outside the database."""
    forged = AuditEvent.objects.get(seq=8)
    forged.actor_name = "mallory"
    AuditEvent.objects.filter(seq=8).update(actor_name="mallory", hash=compute_hash(forged))
    assert verify_chain().intact


def test_truncated_tail_is_caught_by_the_checkpoint(chain, checkpoint, tamper):
    """GIVEN a checkpoint of head #8 WHEN rows #7 to #9 are deleted THEN the chain alone verifies (it ends at #6),
    and the checkpoint names the truncation."""
    AuditEvent.objects.filter(seq__gte=7).delete()
    report = verify_chain()
    assert (report.intact, report.head_seq) == (True, 6)
    ok, reason = verify_checkpoint(checkpoint)
    assert not ok
    assert reason == "the chain ends at row #6 but this checkpoint signed row #8: rows at the end were deleted"


def test_truncated_then_regrown_tail_is_caught_by_the_checkpoint(chain, checkpoint, tamper):
    """GIVEN a checkpoint of head #8 WHEN rows from #6 on are deleted and new events appended over them THEN the
    chain verifies and the checkpoint names the rewrite."""
    AuditEvent.objects.filter(seq__gte=6).delete()
    with transaction.atomic():
        for _ in range(5):
            record_event(AuditEventType.TEAM_UPDATED, actor=None)
    assert verify_chain().intact
    ok, reason = verify_checkpoint(checkpoint)
    assert not ok
    assert "the chain was rewritten" in reason


def test_emptied_chain_is_caught_by_the_checkpoint(chain, checkpoint, tamper):
    """GIVEN a checkpoint WHEN every row is deleted THEN the checkpoint says the chain is empty."""
    AuditEvent.objects.all().delete()
    assert verify_chain().intact
    assert verify_checkpoint(checkpoint) == (
        False,
        "the chain is empty but this checkpoint signed row #8: rows at the end were deleted",
    )


def test_break_before_the_signed_row_fails_the_checkpoint(chain, checkpoint, tamper):
    """GIVEN a checkpoint of head #8 WHEN row #3 is edited (hash column untouched) THEN the checkpoint fails too,
    naming the break."""
    AuditEvent.objects.filter(seq=3).update(actor_name="mallory")
    ok, reason = verify_checkpoint(checkpoint)
    assert not ok
    assert reason.startswith("the chain breaks at row #3")


def test_break_after_the_signed_row_leaves_the_checkpoint_valid(chain, checkpoint, tamper):
    """GIVEN a checkpoint of head #8 WHEN row #9 (after it) is edited THEN the checkpoint still holds for rows up
    to #8, and the chain names #9."""
    AuditEvent.objects.filter(seq=9).update(actor_name="mallory")
    assert verify_chain().broken_seq == 9
    assert verify_checkpoint(checkpoint)[0]


def test_signing_refuses_a_broken_chain(chain, tamper):
    """GIVEN an edited row WHEN a checkpoint is asked for THEN none is signed."""
    AuditEvent.objects.filter(seq=2).update(actor_name="mallory")
    with pytest.raises(ValueError, match=r"Refusing to sign a broken chain: row #2"):
        sign_checkpoint(actor=None)
