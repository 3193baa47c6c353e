"""Rules and helpers shared by the registry's actions (see registry.actions): who may write, names, the shared
bodies of creating and updating named objects, and same-team lookups."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Q

from core.audit import record_event
from core.choices import AuditEventType
from core.models import Membership, Team
from core.querysets import CHANGE
from registry.models import (
    DatasetVersion,
    FeatureSetVersion,
)
from registry.naming import NameRefused, name_keys, validate_display_name
from registry.querysets import teams_for

logger = logging.getLogger(__name__)

DEFAULT_MAX_ARTIFACT_BYTES = 512 * 1024**2


class Check(Protocol):
    """The validation an action runs on a named object before it is saved (``_check_dataset``...): raises
    ValidationError. The object is a use case, a dataset or a model (their shared fields are not a type yet)."""

    def __call__(self, obj: Any, /) -> None: ...


def max_artifact_bytes() -> int:
    return int(getattr(settings, "MAX_ARTIFACT_BYTES", DEFAULT_MAX_ARTIFACT_BYTES))


# --- Shared rules -------------------------------------------------------------------------------------------------


def require(actor: User, team: Team, action: str = CHANGE) -> None:
    if not teams_for(actor, action).filter(pk=team.pk).exists():
        raise PermissionDenied(f"You may not {action} registry objects of team {team.slug}.")


def valid_name(
    model: type[models.Model], team: Team, name: Any, *, exclude_pk: int | None = None
) -> tuple[str, str, str]:
    """The cleaned name and its two keys, or a ValidationError naming the look-alike it would clash with.

    A name is taken when either key is (registry.naming: ``name_key`` folds case first, ``shape_key`` compares the
    shapes of capitals); each key also has its own unique constraint per team, which closes the race between two
    registrations of look-alike names.
    """
    try:
        cleaned = validate_display_name(name)
        key, shape = name_keys(cleaned)
    except NameRefused as refused:
        raise ValidationError({"name": refused.reason}) from None
    clash = (
        model._default_manager.filter(team=team)
        .filter(Q(name_key=key) | Q(shape_key=shape))
        .exclude(pk=exclude_pk)
        .first()
    )
    if clash is not None:
        same = "is already taken" if str(clash) == cleaned else f"looks the same as the existing {clash}"
        raise ValidationError({"name": f"{cleaned!r} {same} in team {team.slug} (names are compared as they look)."})
    return cleaned, key, shape


def require_member(team: Team, user: User | None, field: str) -> None:
    if user is None or not Membership.objects.filter(team=team, user_id=user.pk).exists():
        raise ValidationError({field: f"Must be a member of team {team.slug}."})


def snapshot(obj: models.Model, names: Iterable[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in names:
        field = obj._meta.get_field(name)
        if field.is_relation:
            related = getattr(obj, name)
            values[name] = None if related is None else str(related)
        else:
            values[name] = getattr(obj, name)
    return values


def apply_changes(obj: models.Model, fields: tuple[str, ...], changes: dict[str, Any]) -> None:
    unknown = sorted(set(changes) - set(fields))
    if unknown:
        raise ValidationError({name: "This field cannot be set here." for name in unknown})
    for name, value in changes.items():
        setattr(obj, name, value)


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [key for key in after if after[key] != before.get(key)]


def update_named(
    obj: Any,
    *,
    actor: User,
    fields: tuple[str, ...],
    changes: dict[str, Any],
    check: Check,
    event: AuditEventType,
) -> Any:
    """The shared body of the updates of named objects (use cases, datasets, models), on a row already locked.

    Applies the allowed ``changes``, re-derives the name keys when the name changes, validates with ``check``, and
    saves and records ``event`` with only the changed fields, or does nothing when nothing changed.
    """
    before = snapshot(obj, fields)
    apply_changes(obj, fields, changes)
    if "name" in changes:
        obj.name, obj.name_key, obj.shape_key = valid_name(type(obj), obj.team, changes["name"], exclude_pk=obj.pk)
    check(obj)
    after = snapshot(obj, fields)
    changed = changed_fields(before, after)
    if not changed:
        return obj
    obj.save()
    record_event(
        event,
        actor=actor,
        target=obj,
        team=obj.team,
        before={key: before[key] for key in changed},
        after={key: after[key] for key in changed},
    )
    return obj


def same_team(queryset: Any, team_lookup: str, team: Team, ids: Iterable[int], field: str) -> list[Any]:
    """The rows of ``queryset`` with these ids, in the order asked, all of ``team``.

    Another team's row reads exactly like a missing one: a ValidationError on ``field`` naming each id.
    """
    wanted = list(dict.fromkeys(ids))
    found = {row.pk: row for row in queryset.filter(pk__in=wanted, **{team_lookup: team})}
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        raise ValidationError({field: [f'Invalid pk "{pk}" - object does not exist.' for pk in missing]})
    return [found[pk] for pk in wanted]


def same_team_dataset_versions(team: Team, ids: Iterable[int]) -> list[DatasetVersion]:
    return same_team(DatasetVersion.objects, "dataset__team", team, ids, "dataset_versions")


def same_team_feature_set_versions(team: Team, ids: Iterable[int]) -> list[FeatureSetVersion]:
    return same_team(FeatureSetVersion.objects, "feature_view__team", team, ids, "feature_set_versions")


def create_named(
    obj: Any,
    *,
    actor: User,
    fields: tuple[str, ...],
    values: dict[str, Any],
    check: Check,
    event: AuditEventType,
) -> Any:
    """The shared body of the creation of named objects (use cases, datasets, models): the twin of ``update_named``.

    Applies ``values`` to the new ``obj`` (team and creator already set), derives the name keys, validates with
    ``check``, saves, and records ``event`` with every field.
    """
    apply_changes(obj, fields, values)
    obj.name, obj.name_key, obj.shape_key = valid_name(type(obj), obj.team, values.get("name"))
    check(obj)
    obj.save()
    record_event(event, actor=actor, target=obj, team=obj.team, after=snapshot(obj, fields))
    return obj
