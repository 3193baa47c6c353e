"""Actions on feature views and feature-set versions."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from core.audit import record_event
from core.canonical import canonical_digest
from core.choices import AuditEventType
from core.models import Job, Team
from registry.access import records_access_refusals, require_usable, usable_dataset_versions
from registry.actions.rules import (
    apply_changes,
    changed_fields,
    require,
    require_member,
    snapshot,
)
from registry.choices import Aggregation
from registry.editable import FEATURE_VIEW_FIELDS
from registry.models import (
    DatasetVersion,
    FeatureSetVersion,
    FeatureView,
)
from registry.naming import NameRefused, validate_identifier

# --- Feature views and feature-set versions -----------------------------------------------------------------------

FEATURE_KEYS = frozenset({"name", "definition", "aggregation", "window", "description"})
_WINDOW = re.compile(r"\A[1-9][0-9]{0,5}(s|m|h|d|w)\Z")
_EVENT_TIME_TYPES = frozenset({"timestamp", "timestamp_ntz", "date"})


def _identifier(value: Any, kind: str, field: str) -> str:
    try:
        return validate_identifier(value, kind)
    except NameRefused as refused:
        raise ValidationError({field: f"{value!r} {refused.reason}"}) from None


def _clean_features(raw: Any) -> list[dict[str, Any]]:
    """The features list in its stored shape, or a ValidationError naming the offending item."""
    if not isinstance(raw, list) or not raw:
        raise ValidationError({"features": "Must be a non-empty list of feature definitions."})
    if len(raw) > 500:
        raise ValidationError({"features": "A feature view holds at most 500 features."})
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where = f"features[{index}]"
        if not isinstance(item, dict):
            raise ValidationError({"features": f"{where} must be an object."})
        unknown = sorted(set(item) - FEATURE_KEYS)
        if unknown:
            raise ValidationError({"features": f"{where} has unknown keys: {', '.join(unknown)}."})
        name = _identifier(item.get("name"), "feature", "features")
        if name in seen:
            raise ValidationError({"features": f"{where}.name {name!r} repeats an earlier feature."})
        seen.add(name)
        definition = item.get("definition")
        if not isinstance(definition, str) or not definition.strip() or len(definition) > 4000:
            raise ValidationError({"features": f"{where}.definition must be an expression of 1 to 4000 characters."})
        aggregation = item.get("aggregation", Aggregation.NONE)
        if aggregation not in Aggregation.values:
            allowed = ", ".join(Aggregation.values)
            raise ValidationError({"features": f"{where}.aggregation {aggregation!r} is not one of {allowed}."})
        window = item.get("window", "")
        if not isinstance(window, str):
            raise ValidationError({"features": f"{where}.window must be a string such as '7d'."})
        if aggregation == Aggregation.NONE and window:
            raise ValidationError({"features": f"{where}.window needs an aggregation; 'none' takes no window."})
        if aggregation != Aggregation.NONE and not _WINDOW.match(window):
            raise ValidationError(
                {"features": f"{where}.window {window!r} must be a count and a unit s, m, h, d or w ('7d', '24h')."}
            )
        description = item.get("description", "")
        if not isinstance(description, str):
            raise ValidationError({"features": f"{where}.description must be a string."})
        cleaned.append(
            {
                "name": name,
                "definition": definition.strip(),
                "aggregation": aggregation,
                "window": window,
                "description": description,
            }
        )
    return cleaned


def _check_feature_view(view: FeatureView) -> None:
    view.name = _identifier(view.name, "feature_view", "name")
    view.entity = _identifier(view.entity, "entity", "entity")
    view.features = _clean_features(view.features)
    require_member(view.team, view.owner if view.owner_id else None, "owner")
    if view.source_dataset_id is not None:
        # Another team's dataset only while a data access grant covers it (registry.access).
        require_usable(view.source_dataset, view.team, field="source_dataset")
    latest = DatasetVersion.objects.filter(dataset_id=view.source_dataset_id).order_by("-number").first()
    if latest is not None:
        # Checked against the newest version of the source: a typo here would surface only when a job runs.
        column = next(
            (item for item in latest.schema["columns"] if item["name"].casefold() == view.event_time_column.casefold()),
            None,
        )
        if column is None:
            raise ValidationError({"event_time_column": f"{view.event_time_column!r} is not a column of {latest}."})
        if column["type"] not in _EVENT_TIME_TYPES:
            raise ValidationError(
                {
                    "event_time_column": (
                        f"{view.event_time_column!r} is a {column['type']}; it must be a timestamp or a date."
                    )
                }
            )
    if FeatureView.objects.filter(team_id=view.team_id, name=view.name).exclude(pk=view.pk).exists():
        raise ValidationError({"name": f"{view.name!r} is already taken in team {view.team.slug}."})
    view.full_clean(validate_unique=False)


@records_access_refusals
@transaction.atomic
def do_create_feature_view(team: Team, *, actor: User, **fields: Any) -> FeatureView:
    require(actor, team)
    view = FeatureView(team=team, created_by=actor)
    apply_changes(view, FEATURE_VIEW_FIELDS, fields)
    _check_feature_view(view)
    view.save()
    record_event(
        AuditEventType.FEATURE_VIEW_CREATED,
        actor=actor,
        target=view,
        team=team,
        after=snapshot(view, FEATURE_VIEW_FIELDS),
    )
    return view


@records_access_refusals
@transaction.atomic
def do_update_feature_view(view: FeatureView, *, actor: User, **changes: Any) -> FeatureView:
    """Change a view's definitions or documentation. Versions already registered keep the definitions they pinned."""
    require(actor, view.team)
    view = FeatureView.objects.select_for_update(of=("self",)).select_related("team", "owner").get(pk=view.pk)
    before = snapshot(view, FEATURE_VIEW_FIELDS)
    apply_changes(view, FEATURE_VIEW_FIELDS, changes)
    _check_feature_view(view)
    after = snapshot(view, FEATURE_VIEW_FIELDS)
    changed = changed_fields(before, after)
    if not changed:
        return view
    view.save()
    record_event(
        AuditEventType.FEATURE_VIEW_UPDATED,
        actor=actor,
        target=view,
        team=view.team,
        before={key: before[key] for key in changed},
        after={key: after[key] for key in changed},
    )
    return view


def _finite_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and value == value
        and value not in (float("inf"), float("-inf"))
    )


def _check_statistic(value: Any, where: str, *, nested: bool) -> None:
    """A number, a list of numbers, or (one level down from the feature) an object of those: the quantiles and
    histogram of a materialized feature set (``{"quantiles": {"0.5": 3.0}, "histogram": {"edges": [...], ...}}``)."""
    if _finite_number(value):
        return
    if isinstance(value, list) and len(value) <= 1000:
        if all(_finite_number(item) for item in value):
            return
        raise ValidationError({"statistics": f"{where} must be a list of finite numbers."})
    if nested and isinstance(value, dict) and len(value) <= 1000:
        for key, item in value.items():
            _check_statistic(item, f"{where}[{key!r}]", nested=False)
        return
    raise ValidationError({"statistics": f"{where} must be a finite number."})


def _check_statistics(statistics: Any, feature_names: set[str]) -> None:
    if not isinstance(statistics, dict):
        raise ValidationError({"statistics": "Must be an object mapping feature names to statistics."})
    for name, values in statistics.items():
        if name not in feature_names:
            raise ValidationError({"statistics": f"{name!r} is not a feature of this view."})
        if not isinstance(values, dict):
            raise ValidationError({"statistics": f"statistics[{name!r}] must be an object of numbers."})
        for key, value in values.items():
            _check_statistic(value, f"statistics[{name!r}][{key!r}]", nested=True)


def _check_output(job: Job | None, view: FeatureView, output: dict[str, Any]) -> None:
    """A job's output is recorded whole (location, fingerprint, row count) or not at all, by a job of the view's
    team."""
    given = {key for key, value in output.items() if value not in ("", None)}
    if given and given != set(output):
        missing = ", ".join(sorted(set(output) - given))
        raise ValidationError({missing.split(", ")[0]: f"A materialized version records {missing} too."})
    if given and job is None:
        raise ValidationError({"job": "A materialized version names the job that wrote it."})
    if job is not None and job.team_id != view.team_id:
        raise ValidationError({"job": f'Invalid pk "{job.pk}" - object does not exist.'})
    location = output["storage_location"]
    if location and (location.startswith(("/", ".")) or ".." in location.split("/") or "\x00" in location):
        raise ValidationError({"storage_location": "Must be a folder relative to the artifact root."})
    row_count = output["row_count"]
    if row_count is not None and (not isinstance(row_count, int) or isinstance(row_count, bool) or row_count < 0):
        raise ValidationError({"row_count": "Must be a non-negative integer."})


@records_access_refusals
@transaction.atomic
def do_register_feature_set_version(
    view: FeatureView,
    *,
    actor: User,
    dataset_versions: Iterable[int],
    statistics: dict[str, Any] | None = None,
    description: str = "",
    job: Job | None = None,
    features: list[dict[str, Any]] | None = None,
    storage_location: str = "",
    output_fingerprint: str = "",
    row_count: int | None = None,
) -> FeatureSetVersion:
    """Pin the view's current definitions and the dataset versions they were built from, as the next version.

    At least one pinned version must be of the view's source dataset; each must be of a dataset the view's team may
    use (its own, or another team's under a data access grant: registry.access).

    A materialization job registers what it wrote: ``job`` (of the view's team), the ``features`` it computed (the
    definitions it read when it started, which the view may have changed since; the view's current ones by
    default), ``storage_location`` (its Parquet folder, relative to the artifact root), ``output_fingerprint`` and
    ``row_count`` (registry.pipelines.features.MaterializedFeatures), and ``statistics``. A job registers one
    version: called again for the same job (a retry after a crash), this returns the version registered first and
    writes nothing.
    """
    require(actor, view.team)
    # The lock serializes numbering and keeps the definitions from changing under us while they are copied. It
    # also serializes registrations for one job (a job materializes one view): the look-up below cannot race.
    view = FeatureView.objects.select_for_update(of=("self",)).select_related("team").get(pk=view.pk)
    if job is not None:
        existing = FeatureSetVersion.objects.filter(job=job).first()
        if existing is not None:
            return existing
    _check_output(
        job,
        view,
        {"storage_location": storage_location, "output_fingerprint": output_fingerprint, "row_count": row_count},
    )
    definitions = view.features if features is None else _clean_features(features)
    pinned = usable_dataset_versions(view.team, dataset_versions, "dataset_versions")
    if not any(version.dataset_id == view.source_dataset_id for version in pinned):
        raise ValidationError({"dataset_versions": "Pin at least one version of the view's source dataset."})
    _check_statistics(statistics or {}, {feature["name"] for feature in definitions})
    latest = view.versions.order_by("-number").values_list("number", flat=True).first()
    inputs = [
        {"dataset_version": row.pk, "content_fingerprint": row.content_fingerprint}
        for row in sorted(pinned, key=lambda row: row.pk)
    ]
    version = FeatureSetVersion(
        feature_view=view,
        number=(latest or 0) + 1,
        features=definitions,
        fingerprint=canonical_digest(
            {
                "entity": view.entity,
                "event_time_column": view.event_time_column,
                "features": definitions,
                "inputs": inputs,
            }
        ),
        statistics=statistics or {},
        description=description,
        job=job,
        storage_location=storage_location,
        output_fingerprint=output_fingerprint,
        row_count=row_count,
        created_by=actor,
    )
    version.full_clean()
    version.save()
    version.dataset_versions.set(pinned)
    record_event(
        AuditEventType.FEATURE_SET_VERSION_REGISTERED,
        actor=actor,
        target=version,
        team=view.team,
        after={
            "number": version.number,
            "fingerprint": version.fingerprint,
            "inputs": inputs,
            **(
                {
                    "job": str(job.public_id),
                    "storage_location": storage_location,
                    "output_fingerprint": output_fingerprint,
                    "row_count": row_count,
                }
                if job is not None
                else {}
            ),
        },
    )
    return version


@transaction.atomic
def do_record_feature_set_corruption(version: FeatureSetVersion, *, actor: User | None, found: str, path: str) -> None:
    """Record that a materialized feature set's files no longer hash to its ``output_fingerprint`` when a job came to
    read them (``artifact.corrupted``): evidence of tampering or bit rot, kept although the job fails."""
    record_event(
        AuditEventType.ARTIFACT_CORRUPTED,
        actor=actor,
        target=version,
        team=version.feature_view.team,
        metadata={"output_fingerprint": version.output_fingerprint, "found": found, "path": path},
    )
