"""Rules and helpers shared by the governance actions (see governance.actions)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models, transaction

from core.audit import record_event
from core.choices import AuditEventType
from core.models import Team
from core.querysets import CHANGE

PRIVATE_KEY_MESSAGE = "private keys are never sent to the server"


class GovernanceRefusal(Exception):
    """A refused governance write worth an audit event (a signature or a key refused on receipt).

    ``reason`` is a stable code (``stale_manifest``, ``not_your_key``), ``message`` the sentence a person reads,
    ``status`` the HTTP status the API answers with, ``field`` the request field at fault. The action that raises it
    has already rolled back its own work and recorded ``event_type`` with ``metadata`` (never the submitted
    material: no envelope, no signature bytes, no key) in a transaction of its own.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        event_type: AuditEventType,
        status: int = 400,
        field: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.event_type = event_type
        self.status = status
        self.field = field
        self.metadata = metadata or {}


class PrivateKeyRefused(GovernanceRefusal):
    """Private key material found in a request: refused before anything else reads it, and never repeated."""

    def __init__(self, *, event_type: AuditEventType = AuditEventType.SIGNING_KEY_REFUSED, where: str = "") -> None:
        super().__init__(
            "private_key_submitted",
            PRIVATE_KEY_MESSAGE,
            event_type=event_type,
            status=400,
            metadata={"reason": "private_key_submitted", "where": where},
        )


@transaction.atomic
def do_record_refusal(
    event_type: AuditEventType,
    *,
    actor: Any,
    metadata: dict[str, Any],
    target: models.Model | None = None,
    team: Team | None = None,
) -> None:
    """Record a refused attempt; call it after the refused transaction rolled back, so that only this remains.

    ``metadata`` must say what was refused and why, never carry what was submitted (a key, an envelope)."""
    record_event(event_type, actor=actor, target=target, team=team, metadata=metadata)


def require(queryset: Any, obj: models.Model, message: str, action: str = CHANGE) -> None:
    """PermissionDenied unless ``obj`` is in ``queryset.restrict(actor, action)`` (the caller passes it bound)."""
    if not queryset.filter(pk=obj.pk).exists():
        raise PermissionDenied(message)


def team_of(obj: Any) -> Team | None:
    team: Team | None = getattr(obj, "team", None)
    return team
