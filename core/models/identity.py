"""Single sign-on: who a user is at the organisation's identity provider, and what its groups grant (core.sso)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.choices import BoardRole, Role


class ExternalIdentity(models.Model):
    """The identity provider's account behind a user: ``issuer`` and ``subject`` (the ID token's ``iss``/``sub``)
    name it for good, whatever its email or name becomes. ``groups`` are the groups it asserted at the last sign-in
    check (``last_checked_at``), which the memberships of source ``sso`` follow.
    ``refresh_token_sealed`` is the provider's refresh token, encrypted with a key derived from SECRET_KEY."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identity")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    groups = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    # The provider's refresh token, sealed (core.sso.seal) so that a database dump does not hand it out; the periodic
    # re-check spends it to learn whether the provider still vouches for the user. Empty: nothing to re-check with.
    refresh_token_sealed = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["issuer", "subject"]
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="external_identity_unique_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class GroupMapping(models.Model):
    """Members of the identity provider's group ``idp_group`` hold ``role`` (with ``board_role`` for reviewers) in
    ``team``. Platform administrators edit these; no mapping can make anyone a superuser or staff (there is no such
    role to map to, and core.sso refuses the reserved group names that would). Memberships they grant have source
    ``sso`` and are removed at the sign-in where the provider no longer asserts the group."""

    idp_group = models.CharField(max_length=255)
    team = models.ForeignKey("core.Team", on_delete=models.CASCADE, related_name="group_mappings")
    role = models.CharField(max_length=32, choices=Role.choices)
    board_role = models.CharField(max_length=32, choices=BoardRole.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["idp_group", "team_id", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["idp_group", "team", "role", "board_role"], name="group_mapping_unique_grant"
            ),
            models.CheckConstraint(
                condition=(Q(role=Role.REVIEWER) & ~Q(board_role="")) | (~Q(role=Role.REVIEWER) & Q(board_role="")),
                name="group_mapping_board_role_iff_reviewer",
                violation_error_message="A reviewer needs a board role; other roles take none.",
            ),
            models.CheckConstraint(condition=~Q(idp_group=""), name="group_mapping_group_named"),
        ]

    def __str__(self) -> str:
        suffix = f" ({self.board_role})" if self.board_role else ""
        return f"{self.idp_group} → {self.role}{suffix} in {self.team}"
