"""``do_ingest_events``: OpenLineage events in, stored raw and folded into the graph (docs/lineage.md, "Ingest")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.audit import record_event
from core.choices import AuditEventType
from core.models import Job, ServiceAccount, Team
from core.querysets import CHANGE
from core.refusals import Refusal, refusals_recorded
from lineage.actions.fold import Stored, ensure_namespaces, fold, named_namespaces
from lineage.choices import EventKind, EventSource
from lineage.events import EventInvalid, ValidEvent, validate_event
from lineage.models import LineageEvent, LineageRun, Namespace
from lineage.naming import team_namespace
from registry.querysets import teams_for

STORED = "stored"
DUPLICATE = "duplicate"
REFUSED = "refused"

# Refusals listed in the request's audit event (the counts are always complete).
AUDITED_REFUSALS = 20


@dataclass
class EventResult:
    """What became of one event of a request: ``status`` is stored, duplicate (the same event was stored before:
    nothing written) or refused (``code``, ``field``, ``message``; ``http_status`` the status a single event gets)."""

    index: int
    status: str
    digest: str = ""
    code: str = ""
    field: str = ""
    message: str = ""
    http_status: int = 201

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.digest:
            body["digest"] = self.digest
        if self.status == REFUSED:
            body["error"] = {"code": self.code, "field": self.field, "message": self.message}
        return body


@dataclass
class IngestReport:
    """The results of one request's events, in the order they were sent."""

    results: list[EventResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for result in self.results if result.status == status)

    @property
    def counts(self) -> dict[str, int]:
        return {status: self.count(status) for status in (STORED, DUPLICATE, REFUSED)}


class PayloadInvalid(EventInvalid):
    """An event the request could not even parse (an NDJSON line that is not JSON): refused like an invalid one."""


@dataclass(frozen=True)
class Writer:
    """Who writes: the teams whose namespaces the actor may write into, and the team an unclaimed namespace is
    claimed for (None when the actor writes for several teams and named none)."""

    team_ids: frozenset[int]
    claim_team: Team | None


def do_ingest_events(
    payloads: Sequence[Any],
    *,
    actor: User | AnonymousUser | None,
    source: EventSource = EventSource.API,
    team: Team | None = None,
    assay_job: Job | None = None,
) -> IngestReport:
    """Validates, stores and folds ``payloads`` (parsed JSON events; a ``PayloadInvalid`` stands for one that did
    not parse), each on its own: a good event is stored even when another is refused.

    Writes go into the actor's teams' namespaces: the job's, the outputs' and a dataset event's dataset's
    namespace must belong to one of them, or be unclaimed (then claimed for ``team``, else for the actor's only
    writing team, else the event is refused). Inputs may name any namespace. ``source=ASSAY`` is Assay's own jobs
    (lineage.emit): ``team`` is required and trusted, ``assay_job`` linked to the runs. Callable inside the
    caller's transaction (it is atomic, nested as a savepoint): a job's events commit with the job's record.

    Refuses the whole request (a recorded ``Refusal``, 403) when the actor may write for no team, or for ``team``.
    Audited: ``lineage.events_ingested`` once when anything was stored, a claim per namespace claimed, and
    ``lineage.write_refused`` when an event wrote into another team's namespace.
    """
    user = actor if isinstance(actor, User) else None
    with refusals_recorded(actor=user, team=team, context={"events": len(payloads), "source": str(source)}):
        return _ingest(payloads, actor=user, source=source, team=team, assay_job=assay_job)


def writer_for(actor: User | None, *, source: EventSource, team: Team | None) -> Writer:
    """The writer's scope (see ``Writer``), or a ``Refusal``."""
    if source == EventSource.ASSAY:
        if team is None:
            raise ValueError("Assay's own events name their team.")
        return Writer(frozenset({team.pk}), team)
    writable = list(teams_for(actor, CHANGE)) if actor is not None else []
    if team is not None:
        if team not in writable:
            raise _forbidden(f"You may not write lineage for team {team.slug}.", field="team")
        return Writer(frozenset({team.pk}), team)
    if not writable:
        raise _forbidden("You may not write lineage: only engineers, admins and service accounts of a team may.")
    if len(writable) == 1:
        return Writer(frozenset({writable[0].pk}), writable[0])
    account = ServiceAccount.objects.filter(user_id=actor.pk).select_related("team").first() if actor else None
    claim = account.team if account is not None and account.team in writable else None
    return Writer(frozenset(one.pk for one in writable), claim)


def _forbidden(message: str, *, field: str = "") -> Refusal:
    return Refusal(
        "lineage_write_forbidden",
        message,
        event_type=AuditEventType.LINEAGE_WRITE_REFUSED,
        status=403,
        field=field,
    )


def _refused(index: int, exc: EventInvalid, *, status: int = 400) -> EventResult:
    return EventResult(index, REFUSED, code=exc.code, field=exc.field, message=exc.message, http_status=status)


@transaction.atomic
def _ingest(
    payloads: Sequence[Any],
    *,
    actor: User | None,
    source: EventSource,
    team: Team | None,
    assay_job: Job | None,
) -> IngestReport:
    writer = writer_for(actor, source=source, team=team)
    results: dict[int, EventResult] = {}
    valid: list[tuple[int, ValidEvent]] = []
    for index, payload in enumerate(payloads):
        if isinstance(payload, EventInvalid):
            results[index] = _refused(index, payload)
            continue
        try:
            valid.append((index, validate_event(payload)))
        except EventInvalid as exc:
            results[index] = _refused(index, exc)

    fresh = _without_duplicates(valid, results)
    namespaces = ensure_namespaces(named_namespaces(event for _, event in fresh))
    fresh = _without_foreign_runs(fresh, results)
    forbidden: set[str] = set()
    fresh = _claimed(fresh, namespaces, writer, results, actor=actor, forbidden=forbidden)
    stored = _store(fresh, namespaces, results, actor=actor, source=source)
    fold(stored, namespaces, assay_job=assay_job)

    report = IngestReport([results[index] for index in sorted(results)])
    refusals = [result for result in report.results if result.status == REFUSED]
    if forbidden:
        record_event(
            AuditEventType.LINEAGE_WRITE_REFUSED,
            actor=actor,
            team=writer.claim_team,
            metadata={"reason": "namespace_forbidden", "namespaces": sorted(forbidden)[:AUDITED_REFUSALS]},
        )
    if not report.count(STORED):
        # Nothing changed: a replay, or input refused with a 4xx (which, as everywhere in the API, writes nothing).
        return report
    record_event(
        AuditEventType.LINEAGE_EVENTS_INGESTED,
        actor=actor,
        team=writer.claim_team,
        metadata={
            "source": str(source),
            "received": len(payloads),
            **report.counts,
            "refusals": [
                {"index": result.index, "code": result.code, "field": result.field}
                for result in refusals[:AUDITED_REFUSALS]
            ],
        },
    )
    return report


def _without_duplicates(
    valid: list[tuple[int, ValidEvent]], results: dict[int, EventResult]
) -> list[tuple[int, ValidEvent]]:
    """The events not stored before (nor earlier in the same request); the others are reported duplicate."""
    known = set(
        LineageEvent.objects.filter(digest__in={event.digest for _, event in valid}).values_list("digest", flat=True)
    )
    fresh = []
    for index, event in valid:
        if event.digest in known:
            results[index] = EventResult(index, DUPLICATE, digest=event.digest, http_status=200)
        else:
            known.add(event.digest)
            fresh.append((index, event))
    return fresh


def _without_foreign_runs(
    fresh: list[tuple[int, ValidEvent]], results: dict[int, EventResult]
) -> list[tuple[int, ValidEvent]]:
    """Refuses an event whose runId is already a run of another job (a run belongs to the job that started it:
    otherwise anyone could change another team's run's state by reusing its id)."""
    run_ids = {event.run_id for _, event in fresh if event.run_id is not None}
    owners = {
        run_id: (namespace, name)
        for run_id, namespace, name in LineageRun.objects.filter(run_id__in=run_ids).values_list(
            "run_id", "job__namespace__name", "job__name"
        )
    }
    kept = []
    for index, event in fresh:
        if event.run_id is not None:
            job = (event.job_namespace, event.job_name)
            owner = owners.setdefault(event.run_id, job)
            if owner != job:
                message = "is already the id of a run of another job; a run belongs to one job."
                invalid = EventInvalid("run.runId", message, code="run_of_another_job")
                results[index] = _refused(index, invalid, status=409)
                continue
        kept.append((index, event))
    return kept


def _claimed(
    fresh: list[tuple[int, ValidEvent]],
    namespaces: dict[str, Namespace],
    writer: Writer,
    results: dict[int, EventResult],
    *,
    actor: User | None,
    forbidden: set[str],
) -> list[tuple[int, ValidEvent]]:
    """The events whose written namespaces are the writer's, after claiming the unclaimed ones they write into.

    ``assay://<team slug>`` namespaces (lineage.naming.team_namespace: Assay's own jobs and registry objects) always
    belong to the team of that slug, whoever writes first: no other team can claim one ahead of it."""
    unclaimed = {name for _, event in fresh for name in event.written_namespaces if namespaces[name].team_id is None}
    reserved = {name: name.removeprefix(ASSAY_PREFIX) for name in unclaimed if name.startswith(ASSAY_PREFIX)}
    owners = {team.slug: team for team in Team.objects.filter(slug__in=reserved.values())} if reserved else {}
    for name in sorted(unclaimed):
        team = owners.get(reserved[name]) if name in reserved else writer.claim_team
        if team is not None:
            _claim(namespaces, name, team, actor=actor)
    kept = []
    for index, event in fresh:
        refusal = _ownership(index, event, namespaces, writer, forbidden)
        if refusal is None:
            kept.append((index, event))
        else:
            results[index] = refusal
    return kept


def _claim(namespaces: dict[str, Namespace], name: str, team: Team, *, actor: User | None) -> None:
    """Claims the unclaimed namespace ``name`` for ``team``. The race: two teams writing into a new namespace at
    once; the conditional update lets one win, and the loser reads the winner back (its events are refused)."""
    namespace = namespaces[name]
    now = timezone.now()
    won = Namespace.objects.filter(pk=namespace.pk, team__isnull=True).update(
        team=team, claimed_at=now, claimed_by=actor
    )
    if won:
        namespace.team, namespace.claimed_at, namespace.claimed_by = team, now, actor
        record_event(
            AuditEventType.LINEAGE_NAMESPACE_CLAIMED,
            actor=actor,
            target=namespace,
            team=team,
            after={"namespace": name, "team": team.slug},
        )
    else:
        namespace.refresh_from_db()


ASSAY_PREFIX = team_namespace("")


def _ownership(
    index: int, event: ValidEvent, namespaces: dict[str, Namespace], writer: Writer, forbidden: set[str]
) -> EventResult | None:
    """The refusal of an event writing into a namespace that is not the writer's (added to ``forbidden``)."""
    for name in event.written_namespaces:
        owner = namespaces[name].team_id
        where = _namespace_field(event, name)
        if owner is None and name.startswith(ASSAY_PREFIX):
            return EventResult(
                index,
                REFUSED,
                code="namespace_forbidden",
                field=where,
                message=f"Namespace {name!r} is reserved: assay://<team> namespaces belong to Assay's teams.",
                http_status=403,
            )
        if owner is None:
            return EventResult(
                index,
                REFUSED,
                code="team_required",
                field=where,
                message=(
                    f"Namespace {name!r} is unclaimed and you write for several teams: name the team "
                    "(?team=<slug>) to claim it for."
                ),
                http_status=400,
            )
        if owner not in writer.team_ids:
            forbidden.add(name)
            return EventResult(
                index,
                REFUSED,
                code="namespace_forbidden",
                field=where,
                message=f"Namespace {name!r} belongs to another team; you may not write into it.",
                http_status=403,
            )
    return None


def _namespace_field(event: ValidEvent, name: str) -> str:
    if event.kind == EventKind.DATASET:
        return "dataset.namespace"
    if event.job_namespace == name:
        return "job.namespace"
    index = next(index for index, output in enumerate(event.outputs) if output.namespace == name)
    return f"outputs[{index}].namespace"


def _store(
    fresh: list[tuple[int, ValidEvent]],
    namespaces: dict[str, Namespace],
    results: dict[int, EventResult],
    *,
    actor: User | None,
    source: EventSource,
) -> list[Stored]:
    """Inserts the raw events in one statement. The race: a concurrent request storing the same event first; the
    unique digest refuses ours, and then each event is inserted in a savepoint of its own, the loser reported as a
    duplicate."""
    rows = [(index, event, _row(event, namespaces, actor=actor, source=source)) for index, event in fresh]
    try:
        with transaction.atomic():
            LineageEvent.objects.bulk_create([row for _, _, row in rows])
    except IntegrityError:
        for _, _, row in rows:
            row.pk = None
        return _store_one_by_one(rows, results)
    for index, event, _ in rows:
        results[index] = EventResult(index, STORED, digest=event.digest)
    return [Stored(event, row) for _, event, row in rows]


def _store_one_by_one(
    rows: list[tuple[int, ValidEvent, LineageEvent]], results: dict[int, EventResult]
) -> list[Stored]:
    stored = []
    for index, event, row in rows:
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            results[index] = EventResult(index, DUPLICATE, digest=event.digest, http_status=200)
            continue
        results[index] = EventResult(index, STORED, digest=event.digest)
        stored.append(Stored(event, row))
    return stored


def _row(
    event: ValidEvent, namespaces: dict[str, Namespace], *, actor: User | None, source: EventSource
) -> LineageEvent:
    namespace = namespaces[event.namespace]
    return LineageEvent(
        digest=event.digest,
        kind=event.kind,
        event_type=event.event_type,
        event_time=event.event_time,
        namespace=namespace,
        team_id=namespace.team_id,  # type: ignore[misc]  # claimed by now (the events of unclaimed ones are refused)
        run_id=event.run_id,
        job_name=event.job_name,
        dataset_name=event.dataset.name if event.dataset is not None else "",
        producer=event.producer,
        schema_url=event.schema_url,
        payload=event.payload,
        source=source,
        submitted_by=actor,
    )
