"""Which datasets a team may use: its own, and another team's while an app above lets it (docs/grants.md).

Jobs, registrations and releases of a team reference datasets (a feature view's source, the dataset versions a
feature set or a model version was built from, the inputs of materialization, training and audit jobs, a release's
manifest). A team always uses its own; another team's only while a source registered here says so. The registry
cannot import compliance, where data access grants live, so compliance registers its source from
``ComplianceConfig.ready`` (``register_dataset_access``): a function of the team and the moment returning the ids of
the other teams' datasets it may use then, as a subquery, so that every check is one SQL query.

Use of another team's dataset that no source covers is refused with ``AccessRefused`` (403, the field named,
``data_grant.access_refused`` recorded in a transaction of its own by ``records_access_refusals`` around the
action, after the action's own work rolled back). A version id that does not exist reads as missing (400); the
owning team and the dataset's name are said in the refusal, which is no more than the grant catalogue shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.choices import AuditEventType
from core.models import Team
from core.refusals import Refusal, do_record_refusal
from registry.models import Dataset, DatasetVersion

# (team, now) -> the ids of other teams' datasets ``team`` may use at ``now``, as a ``values("dataset_id")``-like
# subquery.
AccessSource = Callable[[Team, datetime], QuerySet[Any]]

_SOURCES: list[AccessSource] = []

P = ParamSpec("P")
R = TypeVar("R")


def register_dataset_access(source: AccessSource) -> None:
    """Let ``source`` say which other teams' datasets a team may use (compliance's data access grants)."""
    if source not in _SOURCES:
        _SOURCES.append(source)


def usable_datasets(team: Team | int, *, now: datetime | None = None) -> QuerySet[Dataset]:
    """The datasets ``team`` may reference at ``now``: its own, and those a registered source covers."""
    moment = now or timezone.now()
    team_id = team if isinstance(team, int) else team.pk
    condition = Q(team_id=team_id)
    team_row = team if isinstance(team, Team) else Team.objects.get(pk=team_id)
    for source in _SOURCES:
        condition |= Q(pk__in=source(team_row, moment))
    return Dataset.objects.filter(condition)


def is_usable(dataset: Dataset | int, team: Team | int, *, now: datetime | None = None) -> bool:
    dataset_id = dataset if isinstance(dataset, int) else dataset.pk
    team_id = team if isinstance(team, int) else team.pk
    if isinstance(dataset, Dataset) and dataset.team_id == team_id:
        return True
    return usable_datasets(team, now=now).filter(pk=dataset_id).exists()


class AccessRefused(Refusal):
    """Use of ``dataset`` (another team's) by ``team`` that no grant covers."""

    def __init__(self, dataset: Dataset, team: Team, *, field: str) -> None:
        owner = dataset.team.slug
        super().__init__(
            "no_data_grant",
            f"{field}: dataset {dataset.name} belongs to team {owner}; team {team.slug} may use it only while an "
            "approved, unexpired data access grant covers it (request one under Compliance → Data access).",
            event_type=AuditEventType.DATA_ACCESS_REFUSED,
            status=403,
            field=field,
            metadata={
                "reason": "no_data_grant",
                "field": field,
                "dataset": dataset.pk,
                "dataset_name": dataset.name,
                "owner_team": owner,
                "team": team.slug,
            },
        )
        self.dataset = dataset
        self.team = team


def require_usable(dataset: Dataset, team: Team, *, field: str, now: datetime | None = None) -> None:
    """AccessRefused unless ``team`` may use ``dataset`` now."""
    if dataset.team_id == team.pk:
        return
    if not is_usable(dataset, team, now=now):
        raise AccessRefused(dataset, team, field=field)


def usable_dataset_versions(team: Team, ids: Iterable[int], field: str) -> list[DatasetVersion]:
    """The dataset versions with these ids, in the order asked, each of a dataset ``team`` may use now.

    An id that does not exist is a ValidationError on ``field``; a version of another team's dataset that no grant
    covers is an AccessRefused."""
    wanted = list(dict.fromkeys(ids))
    found = {row.pk: row for row in DatasetVersion.objects.select_related("dataset__team").filter(pk__in=wanted)}
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        raise ValidationError({field: [f'Invalid pk "{pk}" - object does not exist.' for pk in missing]})
    rows = [found[pk] for pk in wanted]
    require_usable_versions(team, rows, field)
    return rows


def require_usable_versions(team: Team, versions: Iterable[DatasetVersion], field: str) -> None:
    """AccessRefused naming the first of ``versions`` whose dataset ``team`` may not use now."""
    foreign = {version.dataset_id: version.dataset for version in versions if version.dataset.team_id != team.pk}
    if not foreign:
        return
    allowed = set(usable_datasets(team).filter(pk__in=list(foreign)).values_list("pk", flat=True))
    for dataset_id, dataset in sorted(foreign.items()):
        if dataset_id not in allowed:
            raise AccessRefused(dataset, team, field=field)


def records_access_refusals(action: Callable[P, R]) -> Callable[P, R]:
    """Around an action (outside its transaction): record an ``AccessRefused`` it raised, once, in a transaction of
    its own after the action's work rolled back, with the action's ``actor``; then let it go on."""

    @wraps(action)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return action(*args, **kwargs)
        except AccessRefused as refusal:
            actor = kwargs.get("actor")
            do_record_refusal(
                refusal,
                actor=actor if isinstance(actor, User) else None,
                target=refusal.dataset,
                team=refusal.team,
            )
            raise

    return wrapper
