"""Assigning a namespace to a team: a platform admin's decision (a claim by the first writer can be wrong)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core.audit import record_event
from core.choices import AuditEventType
from core.models import Team
from core.refusals import Refusal, refusals_recorded
from lineage.models import Namespace


def do_assign_namespace(namespace: Namespace, team: Team, *, actor: User) -> Namespace:
    """Gives ``namespace`` to ``team`` (whoever held it before): only a platform admin (superuser) may."""
    with refusals_recorded(actor=actor, target=namespace, team=team):
        return _assign(namespace, team, actor=actor)


@transaction.atomic
def _assign(namespace: Namespace, team: Team, *, actor: User) -> Namespace:
    if not actor.is_superuser:
        raise Refusal(
            "namespace_assignment_forbidden",
            "Only a platform admin may assign a namespace to a team.",
            event_type=AuditEventType.LINEAGE_WRITE_REFUSED,
            status=403,
        )
    # Locked: a first write claiming it at the same moment must not overwrite the assignment.
    namespace = Namespace.objects.select_for_update().get(pk=namespace.pk)
    before = {"team": namespace.team.slug if namespace.team is not None else None}
    namespace.team = team
    namespace.claimed_at = timezone.now()
    namespace.claimed_by = actor
    namespace.save(update_fields=["team", "claimed_at", "claimed_by"])
    record_event(
        AuditEventType.LINEAGE_NAMESPACE_ASSIGNED,
        actor=actor,
        target=namespace,
        team=team,
        before=before,
        after={"team": team.slug},
    )
    return namespace
