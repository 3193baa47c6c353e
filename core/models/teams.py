from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.choices import BoardRole, MembershipSource, Role
from core.querysets import RestrictedQuerySet


class Team(models.Model):
    """A group that owns registry objects. Every permission in Assay is granted through a membership of a team.

    ``slug`` is the stable, URL-safe handle; ``name`` is for display.
    """

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=128)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "pk"

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """One role a user holds in one team. A user holds as many memberships as roles; reviewers name a board role.

    ``granted_by`` is who granted it; revoking deletes the row (the audit log keeps the history). ``source`` says
    who keeps it: ``local`` rows are a team admin's; ``sso`` rows follow the identity provider's groups through the
    group mappings (core.sso) and go when the provider stops asserting the group.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    board_role = models.CharField(max_length=32, choices=BoardRole.choices, blank=True)
    source = models.CharField(max_length=8, choices=MembershipSource.choices, default=MembershipSource.LOCAL)
    created_at = models.DateTimeField(auto_now_add=True)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "team_id"

    class Meta:
        ordering = ["team__slug", "user__username", "role"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user", "role", "board_role"], name="membership_unique_role"),
            models.CheckConstraint(
                condition=(Q(role=Role.REVIEWER) & ~Q(board_role="")) | (~Q(role=Role.REVIEWER) & Q(board_role="")),
                name="membership_board_role_iff_reviewer",
                violation_error_message="A reviewer needs a board role; other roles take none.",
            ),
        ]

    def __str__(self) -> str:
        suffix = f" ({self.board_role})" if self.board_role else ""
        return f"{self.user} — {self.role}{suffix} in {self.team}"


class ServiceAccount(models.Model):
    """A non-human user owned by a team, for applications and CI. It cannot sign in to the web UI; it holds tokens.

    The account acts with the memberships granted to its user, like any other user.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="service_account")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="service_accounts")
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "team_id"

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return self.user.username
