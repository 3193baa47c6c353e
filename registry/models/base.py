"""The field block every team-owned registry object repeats: who owns it, who registered it and when, how it is
found by name and who may read it.

A concrete model declares its own ``team`` (each has its own ``related_name``: ``team.use_cases``,
``team.datasets``...) and subclasses ``Meta`` from its base, so that it keeps the ordering; its unique constraints
come from :func:`unique_name_per_team` under the names its migrations already gave them (a renamed constraint
would be a migration that drops and re-creates it).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.querysets import RestrictedQuerySet
from registry.querysets import REGISTRY_POLICY


class TeamObject(models.Model):
    """A named object that one team owns.

    ``name`` is what people call it (a concrete model may narrow it); ``owner`` answers for it; ``created_by`` is
    who registered it (null once that user is deleted) and ``created_at``/``updated_at`` when it was registered and
    last changed. Reads go through ``objects.restrict(user)`` with the registry's access policy.
    """

    name = models.CharField(max_length=128)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = RestrictedQuerySet.as_manager()
    team_lookup = "team_id"
    access_policy = REGISTRY_POLICY

    class Meta:
        abstract = True
        ordering = ["team_id", "name"]

    def __str__(self) -> str:
        return self.name


class NamedTeamObject(TeamObject):
    """A team object whose name is unique in its team up to case, accents and look-alike characters.

    ``name_key`` is the name's uniqueness key and ``shape_key`` the key of its shape (registry.naming), both set
    by the actions from ``name`` and unique per team (:func:`unique_name_per_team`); an exact name filter compares
    ``name_key``.
    """

    name_key = models.CharField(max_length=512, editable=False)
    shape_key = models.CharField(max_length=512, editable=False)

    class Meta(TeamObject.Meta):
        abstract = True


def unique_name_per_team(*, name: str, shape: str) -> list[models.BaseConstraint]:
    """The two unique constraints of a :class:`NamedTeamObject`, (team, name_key) and (team, shape_key), under the
    names ``name`` and ``shape``."""
    return [
        models.UniqueConstraint(fields=["team", "name_key"], name=name),
        models.UniqueConstraint(fields=["team", "shape_key"], name=shape),
    ]
