from __future__ import annotations

from typing import TYPE_CHECKING, Self

from django.db import models
from django.db.models import Exists, Q

from core.choices import AuditEventType, Role
from core.querysets import VIEW, RestrictedQuerySet, member_team_ids

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

GENESIS_HASH = "0" * 64

# Who reads the platform-wide events (those of no team: sign-ins, personal tokens, checkpoints). Team admins read
# their own team's events, not these.
PLATFORM_EVENT_READERS = (Role.COMPLIANCE_OFFICER, Role.AUDITOR)


class AuditEventQuerySet(RestrictedQuerySet):
    def restrict(self, user: User | AnonymousUser, action: str = VIEW) -> Self:
        if action != VIEW or not user.is_authenticated or not user.is_active or user.is_superuser:
            return super().restrict(user, action)
        team_reader = Q(team_id__in=member_team_ids(user, AuditEvent.access_policy[VIEW]))
        platform_reader = Q(team_id__isnull=True) & Q(Exists(member_team_ids(user, PLATFORM_EVENT_READERS)))
        return self.filter(team_reader | platform_reader)


class AuditEvent(models.Model):
    """One append-only, hash-chained entry of the audit log.

    ``seq`` numbers the chain from 1 without gaps. ``prev_hash`` is the ``hash`` of row ``seq - 1`` (or 64 zeros
    for the first row) and ``hash`` is SHA-256 over the RFC 8785 canonical JSON of every other column (see
    ``core.audit.event_payload``). Actor, team and target are kept as ids *and* as text copies, without foreign
    keys, so that an event still reads, and its hash still verifies, after the objects it names are deleted.
    ``before``/``after`` hold the changed fields; ``request_id`` ties the event to the request that caused it.
    Database triggers refuse UPDATE, DELETE and TRUNCATE (migration 0002).
    """

    seq = models.BigIntegerField(unique=True, editable=False)
    occurred_at = models.DateTimeField(editable=False, db_index=True)
    event_type = models.CharField(max_length=64, choices=AuditEventType.choices, db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_name = models.CharField(max_length=150, blank=True)
    team_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    team_slug = models.CharField(max_length=64, blank=True)
    target_type = models.CharField(max_length=64, blank=True, db_index=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=255, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)

    # Events with no team (platform-wide ones) are for superusers and PLATFORM_EVENT_READERS.
    objects = AuditEventQuerySet.as_manager()
    team_lookup = "team_id"
    access_policy = {"view": (Role.COMPLIANCE_OFFICER, Role.AUDITOR, Role.ADMIN)}

    class Meta:
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="auditevent_target"),
            # A team member's audit list is "events of my teams, newest first": served by this index, not a scan.
            models.Index(fields=["team_id", "-seq"], name="auditevent_team_seq"),
        ]
        constraints = [models.CheckConstraint(condition=models.Q(seq__gte=1), name="auditevent_seq_positive")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.event_type} by {self.actor_name or 'system'}"


class AuditCheckpoint(models.Model):
    """A signed statement of the chain head at one moment, for keeping outside the database.

    ``payload`` is the canonical JSON that was signed (seq, head hash, time, key fingerprint); ``signature`` is the
    Ed25519 signature over it (base64), by the key whose public half has fingerprint ``key_fingerprint``.
    """

    seq = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    key_fingerprint = models.CharField(max_length=64)
    public_key = models.TextField()
    payload = models.TextField()
    signature = models.TextField()

    class Meta:
        ordering = ["-seq", "-created_at"]

    def __str__(self) -> str:
        return f"checkpoint at #{self.seq}"
