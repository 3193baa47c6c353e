"""Rules shared by the governance actions (see governance.actions)."""

from __future__ import annotations

from core.choices import AuditEventType
from core.refusals import Refusal

PRIVATE_KEY_MESSAGE = "private keys are never sent to the server"


def private_key_refusal(*, event_type: AuditEventType = AuditEventType.SIGNING_KEY_REFUSED, where: str = "") -> Refusal:
    """Private key material found in a request: refused before anything else reads it, and never repeated."""
    return Refusal(
        "private_key_submitted",
        PRIVATE_KEY_MESSAGE,
        event_type=event_type,
        status=400,
        metadata={"reason": "private_key_submitted", "where": where},
    )
