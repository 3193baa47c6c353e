"""Which legal holds cover a record, and the lock that keeps a deletion and a new hold from crossing.

The public API other code uses (the retention job, the manual deletion paths, data-subject erasure):

- ``facts_of(record)``: what a hold can match on a record (its team, datasets, models, use cases, whether it may
  hold personal data). The registry's and core's records are known here; a higher app registers its own record
  types with ``register_facts(model, fn)`` from its ``AppConfig.ready``.
- ``holds_covering(record, subject=None)``: the holds in force (active or with a release requested) that cover it.
- ``check_not_held(record, ...)``: raise a 409 ``Refusal`` (``under_legal_hold``) naming the holds, or return.
- ``holds_lock()``: the lock every deletion takes around "check the holds, mark pending, delete the bytes, write the
  tombstone", and that placing a hold takes around its transaction.

Lock order: ``holds_lock()`` first, then database rows, then (inside ``record_event``) the audit chain. The race it
closes: a hold placed while a purge runs. Without the lock a purge could read "no hold", the hold commit, and the
purge then delete bytes the hold now covers. With it, the hold waits for the purge of the one record in progress
to finish, and every later record re-checks the holds under the lock and finds it. The lock is a session-level
advisory lock on PostgreSQL and an exclusive ``flock`` on a file under DATA_DIR on SQLite (whose one write lock
is released between the purge's two transactions); either way it spans several transactions, so call the code
that takes it outside any transaction of your own.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, models
from django.db.models import Q

from compliance.choices import HoldScope, HoldStatus
from compliance.models import LegalHold
from core.choices import AuditEventType
from core.models import Job
from core.refusals import Refusal
from registry.choices import LegalBasis
from registry.models import DatasetVersion, FeatureSetVersion, ModelVersion

# Any constant will do, as long as every process uses the same one (core.audit's chain lock is another).
HOLDS_LOCK_KEY = 0x484F4C44  # "HOLD"
HOLDS_LOCK_FILE = "compliance-holds.lock"


@dataclass(frozen=True)
class HoldFacts:
    """What a hold can match on one record: its team, the datasets, models and use cases it belongs to or was
    made from, and whether it may hold data about a person (a subject hold covers every such record of its team,
    since Assay cannot prove a subject absent without reading the data)."""

    team_id: int
    datasets: frozenset[int] = field(default_factory=frozenset)
    models: frozenset[int] = field(default_factory=frozenset)
    use_cases: frozenset[int] = field(default_factory=frozenset)
    personal: bool = False


FactsFunction = Callable[[Any], HoldFacts]
_FACTS: dict[type[models.Model], FactsFunction] = {}


def register_facts(model: type[models.Model], facts: FactsFunction) -> None:
    """Teach ``facts_of`` a record type (a higher app's, from its AppConfig.ready)."""
    _FACTS[model] = facts


class UnknownRecord(TypeError):
    """No app said how holds match this kind of record: refusing to guess (a deletion must not slip through)."""


def facts_of(record: models.Model) -> HoldFacts:
    function = _FACTS.get(type(record))
    if function is None:
        raise UnknownRecord(f"No hold facts are registered for {record._meta.label}.")
    return function(record)


def _trained_on(model_versions: models.QuerySet[Any]) -> tuple[frozenset[int], frozenset[int]]:
    rows = list(model_versions.values_list("model_id", "model__use_case_id").distinct())
    return frozenset(m for m, _ in rows), frozenset(u for _, u in rows if u is not None)


def dataset_version_facts(version: DatasetVersion) -> HoldFacts:
    models_, use_cases = _trained_on(ModelVersion.objects.filter(dataset_versions=version))
    dataset = version.dataset
    return HoldFacts(
        team_id=dataset.team_id,
        datasets=frozenset({dataset.pk}),
        models=models_,
        use_cases=use_cases,
        personal=dataset.legal_basis != LegalBasis.NOT_APPLICABLE,
    )


def feature_set_version_facts(version: FeatureSetVersion) -> HoldFacts:
    sources = list(version.dataset_versions.values_list("dataset_id", "dataset__legal_basis"))
    models_, use_cases = _trained_on(ModelVersion.objects.filter(feature_set_versions=version))
    return HoldFacts(
        team_id=version.feature_view.team_id,
        datasets=frozenset(d for d, _ in sources),
        models=models_,
        use_cases=use_cases,
        personal=any(basis != LegalBasis.NOT_APPLICABLE for _, basis in sources),
    )


def model_version_facts(version: ModelVersion) -> HoldFacts:
    model = version.model
    return HoldFacts(
        team_id=model.team_id,
        models=frozenset({model.pk}),
        use_cases=frozenset({model.use_case_id}) if model.use_case_id else frozenset(),
    )


def job_facts(job: Job) -> HoldFacts:
    # A job's log belongs to its team; a job of no team (the scheduler's) matches no hold but a subject's, never.
    return HoldFacts(team_id=job.team_id or 0)


register_facts(DatasetVersion, dataset_version_facts)
register_facts(FeatureSetVersion, feature_set_version_facts)
register_facts(ModelVersion, model_version_facts)
register_facts(Job, job_facts)


def holds_matching(facts: HoldFacts, *, subject: str | None = None) -> models.QuerySet[LegalHold]:
    """The holds in force that cover a record with these ``facts``. With ``subject``, a subject hold covers the
    record only when it names that subject (a data-subject request knows which subject it is about)."""
    scopes = (
        Q(scope=HoldScope.TEAM)
        | Q(scope=HoldScope.DATASET, dataset_id__in=facts.datasets)
        | Q(scope=HoldScope.MODEL, model_id__in=facts.models)
        | Q(scope=HoldScope.USE_CASE, use_case_id__in=facts.use_cases)
    )
    if facts.personal:
        scopes |= Q(scope=HoldScope.SUBJECT, **({"subject_identifier": subject} if subject is not None else {}))
    return (
        LegalHold.objects.filter(team_id=facts.team_id)
        .exclude(status=HoldStatus.RELEASED)
        .filter(scopes)
        .select_related("team", "dataset", "model", "use_case")
        .order_by("placed_at", "id")
    )


def holds_covering(record: models.Model, *, subject: str | None = None) -> list[LegalHold]:
    """The holds in force (active or with a release requested) that cover ``record``; empty when none does."""
    return list(holds_matching(facts_of(record), subject=subject))


def describe_holds(holds: list[LegalHold]) -> str:
    return "; ".join(f"{hold.case_reference} ({hold.scope_label})" for hold in holds)


def check_not_held(
    record: models.Model,
    *,
    event_type: AuditEventType = AuditEventType.RETENTION_DELETION_REFUSED,
    subject: str | None = None,
    field_name: str = "",
) -> None:
    """Raise a 409 ``Refusal`` (reason ``under_legal_hold``) when a hold covers ``record``; the caller records it.
    Call it under ``holds_lock()`` for the answer to still hold when the bytes go."""
    holds = holds_covering(record, subject=subject)
    if holds:
        raise Refusal(
            "under_legal_hold",
            f"{record} is under legal hold ({describe_holds(holds)}): nothing of it may be deleted.",
            event_type=event_type,
            status=409,
            field=field_name,
            metadata={
                "reason": "under_legal_hold",
                "record": f"{record._meta.label_lower}:{record.pk}",
                "holds": [hold.pk for hold in holds],
            },
        )


@contextmanager
def holds_lock() -> Iterator[None]:
    """Hold the holds lock for the block (see the module docstring for the order and the race)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [HOLDS_LOCK_KEY])
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [HOLDS_LOCK_KEY])
        return
    path = settings.DATA_DIR / HOLDS_LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
