"""Rules and helpers shared by the registry's actions (see registry.actions)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
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
User = get_user_model()

DEFAULT_MAX_ARTIFACT_BYTES = 512 * 1024**2

USE_CASE_FIELDS = (
    "name",
    "objective",
    "kpis",
    "expected_roi",
    "roi_measurement",
    "decision_mode",
    "output_users",
    "scope",
    "limitations",
    "owner",
    "stakeholders",
    "risk_tier",
    "cost_false_positive",
    "cost_false_negative",
)
DATASET_FIELDS = (
    "name",
    "owner",
    "description",
    "storage_format",
    "location",
    "partitioning",
    "residency_region",
    "classification",
    "legal_basis",
)
MODEL_FIELDS = (
    "name",
    "owner",
    "on_call",
    "escalation_path",
    "use_case",
    "description",
    "intended_use",
    "limitations",
    "assumptions",
    "upstream_dependencies",
    "tags",
)


class RegistryRefusal(ValidationError):
    """A refused write worth an audit event: ``event_type`` and ``metadata`` say what was tried and why."""

    def __init__(self, message: Any, *, event_type: AuditEventType, metadata: dict[str, Any]) -> None:
        super().__init__(message)
        self.event_type = event_type
        self.metadata = metadata


def max_artifact_bytes() -> int:
    return int(getattr(settings, "MAX_ARTIFACT_BYTES", DEFAULT_MAX_ARTIFACT_BYTES))


# --- Shared rules -------------------------------------------------------------------------------------------------


def _require(actor: Any, team: Team, action: str = CHANGE) -> None:
    if not teams_for(actor, action).filter(pk=team.pk).exists():
        raise PermissionDenied(f"You may not {action} registry objects of team {team.slug}.")


def _valid_name(
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


def _require_member(team: Team, user: Any, field: str) -> None:
    if user is None or not Membership.objects.filter(team=team, user_id=user.pk).exists():
        raise ValidationError({field: f"Must be a member of team {team.slug}."})


def _snapshot(obj: models.Model, names: Iterable[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in names:
        field = obj._meta.get_field(name)
        if field.is_relation:
            related = getattr(obj, name)
            values[name] = None if related is None else str(related)
        else:
            values[name] = getattr(obj, name)
    return values


def _apply(obj: models.Model, fields: tuple[str, ...], changes: dict[str, Any]) -> None:
    unknown = sorted(set(changes) - set(fields))
    if unknown:
        raise ValidationError({name: "This field cannot be set here." for name in unknown})
    for name, value in changes.items():
        setattr(obj, name, value)


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [key for key in after if after[key] != before.get(key)]


@transaction.atomic
def do_record_refusal(
    event_type: AuditEventType, *, actor: Any, team: Team, target: models.Model | None, metadata: dict[str, Any]
) -> None:
    """Record a refused attempt; call it after the refused transaction rolled back, so that only this remains."""
    record_event(event_type, actor=actor, team=team, target=target, metadata=metadata)


def _update_named(
    obj: Any,
    *,
    actor: Any,
    fields: Any,
    changes: dict[str, Any],
    check: Any,
    event: AuditEventType,
) -> Any:
    """The shared body of the updates of named objects (use cases, datasets, models), on a row already locked.

    Applies the allowed ``changes``, re-derives the name keys when the name changes, validates with ``check``, and
    saves and records ``event`` with only the changed fields, or does nothing when nothing changed.
    """
    before = _snapshot(obj, fields)
    _apply(obj, fields, changes)
    if "name" in changes:
        obj.name, obj.name_key, obj.shape_key = _valid_name(type(obj), obj.team, changes["name"], exclude_pk=obj.pk)
    check(obj)
    after = _snapshot(obj, fields)
    changed = _changed(before, after)
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


def _same_team(queryset: Any, team_lookup: str, team: Team, ids: Iterable[int], field: str) -> list[Any]:
    """The rows of ``queryset`` with these ids, in the order asked, all of ``team``.

    Another team's row reads exactly like a missing one: a ValidationError on ``field`` naming each id.
    """
    wanted = list(dict.fromkeys(ids))
    found = {row.pk: row for row in queryset.filter(pk__in=wanted, **{team_lookup: team})}
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        raise ValidationError({field: [f'Invalid pk "{pk}" - object does not exist.' for pk in missing]})
    return [found[pk] for pk in wanted]


def _same_team_dataset_versions(team: Team, ids: Iterable[int]) -> list[DatasetVersion]:
    return _same_team(DatasetVersion.objects, "dataset__team", team, ids, "dataset_versions")


def _same_team_feature_set_versions(team: Team, ids: Iterable[int]) -> list[FeatureSetVersion]:
    return _same_team(FeatureSetVersion.objects, "feature_view__team", team, ids, "feature_set_versions")


def _create_named(
    obj: Any, *, actor: Any, fields: Any, values: dict[str, Any], check: Any, event: AuditEventType
) -> Any:
    """The shared body of the creation of named objects (use cases, datasets, models): the twin of ``_update_named``.

    Applies ``values`` to the new ``obj`` (team and creator already set), derives the name keys, validates with
    ``check``, saves, and records ``event`` with every field.
    """
    _apply(obj, fields, values)
    obj.name, obj.name_key, obj.shape_key = _valid_name(type(obj), obj.team, values.get("name"))
    check(obj)
    obj.save()
    record_event(event, actor=actor, target=obj, team=obj.team, after=_snapshot(obj, fields))
    return obj
