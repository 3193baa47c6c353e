from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.choices import BoardRole
from governance.querysets import EnvironmentQuerySet, TeamOrOrgQuerySet


class Environment(models.Model):
    """A place a model version is deployed to (``staging``, ``production``). Environments are the organisation's:
    platform administrators create them. ``rank`` orders them from the least to the most exposed."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=128)
    description = models.TextField(blank=True)
    rank = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = EnvironmentQuerySet.as_manager()

    class Meta:
        ordering = ["rank", "slug"]

    def __str__(self) -> str:
        return self.name


class ReviewBoard(models.Model):
    """A group of people who judge releases, each member sitting in one or more board roles (legal, compliance,
    risk, privacy/DPO, technical). ``team`` is the team whose releases it judges; no team means the
    organisation's own board, usable by every team's policies."""

    team = models.ForeignKey("core.Team", on_delete=models.PROTECT, null=True, blank=True, related_name="review_boards")
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=128)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = TeamOrOrgQuerySet.as_manager()
    team_lookup = "team_id"
    board_lookup = "pk"

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "slug"], condition=Q(team__isnull=False), name="review_board_unique_slug_team"
            ),
            models.UniqueConstraint(
                fields=["slug"], condition=Q(team__isnull=True), name="review_board_unique_slug_org"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class BoardMember(models.Model):
    """One board role a person holds on one board. A person holds as many rows as roles, but when they sign a
    release they sign in one role, and count once towards a quorum however many roles they hold."""

    board = models.ForeignKey(ReviewBoard, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="board_seats")
    board_role = models.CharField(max_length=32, choices=BoardRole.choices)
    added_at = models.DateTimeField(auto_now_add=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = TeamOrOrgQuerySet.as_manager()
    team_lookup = "board__team_id"
    board_lookup = "board_id"

    class Meta:
        ordering = ["board_id", "board_role", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["board", "user", "board_role"], name="board_member_unique_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.board_role} on {self.board}"
