from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from core.choices import BoardRole
from governance.querysets import EnvironmentQuerySet, TeamOrOrgQuerySet

MAX_REGIONS = 50
MAX_REGION_LENGTH = 64  # registry.Dataset.residency_region's


def validate_regions(value: Any) -> None:
    """A list of distinct, non-empty region names (at most ``MAX_REGIONS``, each at most ``MAX_REGION_LENGTH``)."""
    if not isinstance(value, list):
        raise ValidationError("Allowed regions must be a list of region names.")
    if len(value) > MAX_REGIONS:
        raise ValidationError(f"At most {MAX_REGIONS} allowed regions.")
    for region in value:
        if not isinstance(region, str) or not region.strip() or region != region.strip():
            raise ValidationError("Each allowed region is a non-empty name without surrounding spaces.")
        if len(region) > MAX_REGION_LENGTH:
            raise ValidationError(f"A region name has at most {MAX_REGION_LENGTH} characters.")
    if len(set(value)) != len(value):
        raise ValidationError("Allowed regions are listed once each.")


class Environment(models.Model):
    """A place a model version is deployed to (``staging``, ``production``). Environments are the organisation's:
    platform administrators create them. ``rank`` orders them from the least to the most exposed.
    ``allowed_regions`` lists the data-residency regions whose data may reach a model deployed here (a dataset's
    ``residency_region``, ``eu-west-1``); empty means anywhere. The lineage gate (governance.checks.lineage) reads it.
    """

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=128)
    description = models.TextField(blank=True)
    rank = models.PositiveSmallIntegerField(default=0)
    allowed_regions = models.JSONField(default=list, blank=True, validators=[validate_regions])
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
