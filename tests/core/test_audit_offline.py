"""An auditor verifies offline what they took away: the events as the API lists them and a checkpoint export,
with hashlib, rfc8785 and cryptography only. The recipe below is the one docs/audit-log.md gives."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json

import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.db import connection, transaction

from core import audit_triggers
from core.audit import export_checkpoint, record_event, sign_checkpoint
from core.choices import AuditEventType
from core.models import AuditEvent

# --- the recipe of docs/audit-log.md, "Verifying offline" ---------------------------------------------------------
HASHED = ["seq", "occurred_at", "event_type", "actor_id", "actor_name", "team_id", "team_slug", "target_type",
          "target_id", "target_repr", "before", "after", "metadata", "request_id", "prev_hash"]  # fmt: skip


def event_hash(event: dict) -> str:
    payload = {name: event[name] for name in HASHED}
    moment = datetime.datetime.fromisoformat(event["occurred_at"])
    payload["occurred_at"] = moment.astimezone(datetime.UTC).isoformat(timespec="microseconds")
    return hashlib.sha256(rfc8785.dumps(payload)).hexdigest()


def verify_events(events: list[dict]) -> str:
    """Every event from #1, in seq order. Returns "" when the chain holds, else the first broken row."""
    previous = "0" * 64
    for expected, event in enumerate(events, start=1):
        if event["seq"] != expected:
            return f"#{event['seq']}: gap, expected #{expected}"
        if event["prev_hash"] != previous:
            return f"#{event['seq']}: prev_hash is not the hash of #{expected - 1}"
        if event_hash(event) != event["hash"]:
            return f"#{event['seq']}: content does not match its hash"
        previous = event["hash"]
    return ""


def verify_checkpoint_offline(checkpoint: dict, pinned_fingerprint: str, events: list[dict]) -> str:
    public = serialization.load_pem_public_key(checkpoint["public_key"].encode())
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if hashlib.sha256(raw).hexdigest() != pinned_fingerprint:
        return "signed by a key I do not trust"
    assert isinstance(public, Ed25519PublicKey)
    public.verify(base64.b64decode(checkpoint["signature"]), checkpoint["payload"].encode())  # raises if forged
    signed = json.loads(checkpoint["payload"])
    by_seq = {event["seq"]: event for event in events}
    if signed["seq"] not in by_seq:
        return f"#{signed['seq']} is missing: the tail was cut"
    if by_seq[signed["seq"]]["hash"] != signed["head_hash"]:
        return f"#{signed['seq']} does not have the signed hash: rewritten"
    return ""


# --------------------------------------------------------------------------------------------------------------------


def download(client) -> list[dict]:
    events, url = [], "/api/v1/audit-events/?ordering=seq&page_size=200"
    while url:
        page = client.get(url).json()
        events.extend(page["results"])
        url = page["next"]
    return json.loads(json.dumps(events))


@pytest.fixture
def taken_away(cast, api_as):
    """Events of every awkward kind, a checkpoint, and what an auditor downloads of them."""
    with transaction.atomic():
        record_event(
            AuditEventType.TEAM_UPDATED,
            actor=cast.admin_a,
            team=cast.team_a,
            target=cast.team_a,
            before={"n": 1e16, "big": 2**70, "x": 0.1 + 0.2, "at": cast.team_a.created_at},
            after={"name": "Ünïcødé 😀", "nested": {"b": [1, None, True], "a": {}}},
        )
    checkpoint = json.loads(json.dumps(export_checkpoint(sign_checkpoint(actor=cast.superuser))))
    pinned = json.loads(checkpoint["payload"])["key_fingerprint"]
    return checkpoint, pinned, api_as(cast.superuser)


def test_auditor_verifies_events_and_checkpoint_offline(taken_away):
    """GIVEN the events listed by the API and an exported checkpoint WHEN an auditor recomputes every hash and
    checks the signature with generic tools THEN everything holds."""
    checkpoint, pinned, client = taken_away
    events = download(client)
    assert len(events) == AuditEvent.objects.count() >= 15
    assert verify_events(events) == ""
    assert verify_checkpoint_offline(checkpoint, pinned, events) == ""


def test_auditor_finds_an_edit_offline(taken_away):
    """GIVEN the triggers dropped and one row edited WHEN the auditor downloads and verifies THEN the row is named."""
    _, _, client = taken_away
    audit_triggers.remove(connection)
    AuditEvent.objects.filter(seq=3).update(actor_name="mallory")
    assert verify_events(download(client)) == "#3: content does not match its hash"


def test_auditor_finds_a_cut_tail_offline(taken_away):
    """GIVEN the triggers dropped and the tail cut below the signed head WHEN the auditor verifies THEN the chain
    alone holds and the checkpoint names the cut."""
    checkpoint, pinned, client = taken_away
    signed_seq = json.loads(checkpoint["payload"])["seq"]
    audit_triggers.remove(connection)
    AuditEvent.objects.filter(seq__gte=signed_seq).delete()
    events = download(client)
    assert verify_events(events) == ""
    assert verify_checkpoint_offline(checkpoint, pinned, events) == f"#{signed_seq} is missing: the tail was cut"
