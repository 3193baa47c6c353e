"""do_ingest_events: events stored raw once, folded into the graph, and written only into the writer's namespaces."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.choices import AuditEventType
from core.models import AuditEvent
from core.refusals import Refusal
from lineage.actions import DUPLICATE, REFUSED, STORED, do_ingest_events
from lineage.choices import Direction, EventSource, RunState
from lineage.models import (
    ColumnEdge,
    DatasetSchema,
    LineageDataset,
    LineageEvent,
    LineageJob,
    LineageRun,
    Namespace,
    RunEdge,
    RunTransition,
)
from tests.lineage.events import (
    column_lineage,
    dataset,
    dataset_event,
    facet,
    job_event,
    run_event,
    schema,
)

pytestmark = pytest.mark.django_db


def audit_types(after: int = 0) -> list[str]:
    return list(AuditEvent.objects.filter(seq__gt=after).order_by("seq").values_list("event_type", flat=True))


def last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def test_a_run_is_stored_and_folded_into_the_graph(cast: Any) -> None:
    # GIVEN a pipeline run reading raw events and writing a table, with its schema, version and column lineage
    run_id = str(uuid.uuid4())
    output = dataset(
        "warehouse://team-a",
        "daily",
        schema=schema("id", "day"),
        version=facet(datasetVersion="v3"),
        columnLineage=column_lineage(
            {"id": [("s3://raw", "events/2026", "id")], "day": [("s3://raw", "events/2026", "ts")]}
        ),
    )
    start = run_event("START", run_id=run_id, outputs=[output])
    complete = run_event("COMPLETE", run_id=run_id, time="2026-01-01T10:05:00Z", outputs=[output])
    seq = last_seq()

    # WHEN engineer A sends its START and COMPLETE
    report = do_ingest_events([start, complete], actor=cast.engineer_a)

    # THEN both are stored, the job's and the output's namespaces are claimed for team A, the input's is not
    assert [result.status for result in report.results] == [STORED, STORED]
    assert LineageEvent.objects.count() == 2
    owners = dict(Namespace.objects.values_list("name", "team__slug"))
    assert owners == {"airflow://team-a": "team-a", "warehouse://team-a": "team-a", "s3://raw": None}
    # AND the run is COMPLETE, started and ended, with its history
    run = LineageRun.objects.get(run_id=run_id)
    assert (run.state, run.job.name) == (RunState.COMPLETE, "etl.daily")
    assert run.started_at is not None
    assert run.ended_at is not None
    assert run.started_at < run.ended_at
    assert list(run.transitions.values_list("state", flat=True)) == ["START", "COMPLETE"]
    # AND one input and one output edge, the output's with its version and schema
    edges = {edge.direction: edge for edge in RunEdge.objects.filter(run=run)}
    assert set(edges) == {Direction.INPUT, Direction.OUTPUT}
    assert edges[Direction.OUTPUT].version == "v3"
    output_schema = edges[Direction.OUTPUT].schema
    assert output_schema is not None
    assert [field["name"] for field in output_schema.fields] == ["id", "day"]
    # AND the column edges, with their transformations
    columns = {(edge.output_field, edge.input_field): edge for edge in ColumnEdge.objects.filter(run=run)}
    assert set(columns) == {("id", "id"), ("day", "ts")}
    assert columns[("id", "id")].transformations == [{"type": "DIRECT", "subtype": "IDENTITY"}]
    # AND the facets are kept verbatim
    daily = LineageDataset.objects.get(name="daily")
    assert daily.facets["columnLineage"] == output["facets"]["columnLineage"]
    assert LineageEvent.objects.filter(event_type="START").get().payload == start
    # AND the audit log has the claims and one event for the request
    assert audit_types(seq) == [
        AuditEventType.LINEAGE_NAMESPACE_CLAIMED,
        AuditEventType.LINEAGE_NAMESPACE_CLAIMED,
        AuditEventType.LINEAGE_EVENTS_INGESTED,
    ]
    ingested = AuditEvent.objects.get(event_type=AuditEventType.LINEAGE_EVENTS_INGESTED)
    assert ingested.metadata["stored"] == 2
    assert ingested.actor_id == cast.engineer_a.pk


def test_a_replayed_event_is_a_duplicate_and_stored_once(cast: Any) -> None:
    event = run_event("START")
    do_ingest_events([event], actor=cast.engineer_a)
    # WHEN the same event comes again, alone and twice within one batch
    again = do_ingest_events([event], actor=cast.engineer_a)
    batch = do_ingest_events([run_event("RUNNING", run_id=event["run"]["runId"])] * 2, actor=cast.engineer_a)
    # THEN it is reported duplicate and nothing is stored twice
    assert [result.status for result in again.results] == [DUPLICATE]
    assert [result.status for result in batch.results] == [STORED, DUPLICATE]
    assert LineageEvent.objects.count() == 2
    assert RunTransition.objects.count() == 2


def test_a_complete_before_its_start_folds_to_complete(cast: Any) -> None:
    run_id = str(uuid.uuid4())
    # GIVEN only the COMPLETE of a run has arrived
    do_ingest_events([run_event("COMPLETE", run_id=run_id, time="2026-01-01T10:05:00Z")], actor=cast.engineer_a)
    run = LineageRun.objects.get(run_id=run_id)
    # THEN it is stored, the run COMPLETE and its start unknown
    assert (run.state, run.started_at) == (RunState.COMPLETE, None)
    # WHEN the START arrives late (and a RUNNING after it)
    do_ingest_events(
        [run_event("START", run_id=run_id), run_event("RUNNING", run_id=run_id, time="2026-01-01T10:06:00Z")],
        actor=cast.engineer_a,
    )
    run.refresh_from_db()
    # THEN the terminal state still wins, and the start is known
    assert run.state == RunState.COMPLETE
    assert run.started_at is not None
    assert run.started_at.isoformat().startswith("2026-01-01T10:00")
    assert run.transitions.count() == 3


def test_an_other_event_does_not_change_a_state(cast: Any) -> None:
    run_id = str(uuid.uuid4())
    do_ingest_events([run_event("START", run_id=run_id)], actor=cast.engineer_a)
    do_ingest_events([run_event("OTHER", run_id=run_id, time="2026-01-01T11:00:00Z")], actor=cast.engineer_a)
    assert LineageRun.objects.get(run_id=run_id).state == RunState.START


def test_writing_into_another_teams_namespace_is_refused_and_the_rest_stored(cast: Any) -> None:
    # GIVEN team A has claimed its namespaces
    do_ingest_events([run_event("START")], actor=cast.engineer_a)
    seq = last_seq()
    # WHEN engineer B sends a run of its own and one that writes into team A's warehouse
    own = run_event("START", namespace="airflow://team-b", outputs=[dataset("warehouse://team-b", "t")])
    intruding = run_event("START", namespace="airflow://team-b", outputs=[dataset("warehouse://team-a", "daily")])
    report = do_ingest_events([own, intruding], actor=cast.engineer_b)
    # THEN its own is stored, the other refused naming the namespace, with nothing stored for it
    assert [result.status for result in report.results] == [STORED, REFUSED]
    refused = report.results[1]
    assert (refused.code, refused.field, refused.http_status) == ("namespace_forbidden", "outputs[0].namespace", 403)
    assert "warehouse://team-a" in refused.message
    assert not LineageRun.objects.filter(run_id=intruding["run"]["runId"]).exists()
    assert LineageEvent.objects.filter(team=cast.team_b).count() == 1
    # AND the refusal is audited
    assert AuditEventType.LINEAGE_WRITE_REFUSED in audit_types(seq)


def test_reading_another_teams_dataset_is_allowed_and_leaves_its_node_alone(cast: Any) -> None:
    do_ingest_events([run_event("START")], actor=cast.engineer_a)
    before = LineageDataset.objects.get(name="daily").facets
    reader = run_event(
        "START",
        namespace="airflow://team-b",
        inputs=[dataset("warehouse://team-a", "daily", schema=schema("forged"))],
        outputs=[dataset("warehouse://team-b", "derived")],
    )
    report = do_ingest_events([reader], actor=cast.engineer_b)
    assert report.results[0].status == STORED
    daily = LineageDataset.objects.get(name="daily")
    assert daily.facets == before
    assert not DatasetSchema.objects.filter(dataset=daily, fields__0__name="forged").exists()
    edge = RunEdge.objects.get(dataset=daily, direction=Direction.INPUT, run__run_id=reader["run"]["runId"])
    assert edge.facets["schema"]["fields"][0]["name"] == "forged"


def test_a_run_id_of_another_job_is_refused(cast: Any) -> None:
    start = run_event("START")
    do_ingest_events([start], actor=cast.engineer_a)
    forged = run_event("FAIL", run_id=start["run"]["runId"], namespace="airflow://team-b", outputs=[])
    report = do_ingest_events([forged], actor=cast.engineer_b)
    assert (report.results[0].code, report.results[0].field, report.results[0].http_status) == (
        "run_of_another_job",
        "run.runId",
        409,
    )
    assert LineageRun.objects.get(run_id=start["run"]["runId"]).state == RunState.START


def test_dataset_and_job_events_update_facets(cast: Any) -> None:
    owner = facet(owners=[{"name": "user:erin", "type": "MAINTAINER"}])
    report = do_ingest_events(
        [
            dataset_event(schema=schema("id"), ownership=owner),
            job_event(documentation=facet(description="Daily ETL")),
        ],
        actor=cast.engineer_a,
    )
    assert [result.status for result in report.results] == [STORED, STORED]
    daily = LineageDataset.objects.get(name="daily")
    assert daily.facets["ownership"] == owner
    assert daily.schemas.count() == 1
    assert LineageJob.objects.get(name="etl.daily").facets["documentation"]["description"] == "Daily ETL"
    assert LineageRun.objects.count() == 0
    # AND a facet sent as deleted is removed
    do_ingest_events([dataset_event(ownership={**facet(), "_deleted": True})], actor=cast.engineer_a)
    assert "ownership" not in LineageDataset.objects.get(name="daily").facets


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "a\r\nSet-Cookie: x=1", "<script>alert(1)</script>", "\u202egnp.exe", "tab\there"],
)
def test_hostile_names_are_stored_opaque(cast: Any, name: str) -> None:
    event = run_event("START", outputs=[dataset("warehouse://team-a", name)])
    report = do_ingest_events([event], actor=cast.engineer_a)
    assert report.results[0].status == STORED
    assert LineageDataset.objects.filter(name=name).exists()


def test_a_nul_in_a_name_is_refused_naming_the_field(cast: Any) -> None:
    event = run_event("START", outputs=[dataset("warehouse://team-a", "a\x00b")])
    report = do_ingest_events([event], actor=cast.engineer_a)
    assert report.results[0].status == REFUSED
    assert report.results[0].field == "outputs[0].name"
    assert LineageEvent.objects.count() == 0


@pytest.mark.parametrize("persona", ["auditor", "compliance", "reviewer_legal"])
def test_readers_may_not_write_lineage(cast: Any, persona: str) -> None:
    user = cast.all()[persona]
    seq = last_seq()
    with pytest.raises(Refusal, match="may not write lineage"):
        do_ingest_events([run_event("START")], actor=user)
    assert LineageEvent.objects.count() == 0
    assert audit_types(seq) == [AuditEventType.LINEAGE_WRITE_REFUSED]


def test_a_writer_of_several_teams_names_the_team_for_an_unclaimed_namespace(cast: Any) -> None:
    # GIVEN the superuser, who may write for every team
    report = do_ingest_events([run_event("START")], actor=cast.superuser)
    assert (report.results[0].code, report.results[0].field) == ("team_required", "job.namespace")
    report = do_ingest_events([run_event("START")], actor=cast.superuser, team=cast.team_b)
    assert report.results[0].status == STORED
    assert Namespace.objects.get(name="airflow://team-a").team == cast.team_b


def test_assays_own_events_link_the_job(cast: Any) -> None:
    report = do_ingest_events(
        [run_event("START", namespace="assay://team-a")], actor=None, source=EventSource.ASSAY, team=cast.team_a
    )
    assert report.results[0].status == STORED
    assert LineageEvent.objects.get().source == EventSource.ASSAY


def test_a_teams_assay_namespace_cannot_be_claimed_by_another_team(cast: Any) -> None:
    # GIVEN team B writes first into team A's Assay namespace (a model version's node, say)
    squatter = run_event(
        "START", namespace="airflow://team-b", outputs=[dataset("assay://team-a", "sha256:" + "0" * 64)]
    )
    report = do_ingest_events([squatter], actor=cast.engineer_b)
    # THEN it is refused, and the namespace belongs to team A
    assert (report.results[0].code, report.results[0].field) == ("namespace_forbidden", "outputs[0].namespace")
    assert Namespace.objects.get(name="assay://team-a").team == cast.team_a
    # AND a namespace of a team that does not exist is refused, not claimed
    ghost = run_event("START", namespace="assay://no-such-team", outputs=[])
    assert do_ingest_events([ghost], actor=cast.engineer_b).results[0].code == "namespace_forbidden"
    assert Namespace.objects.get(name="assay://no-such-team").team is None


def _queries_for(count: int, user: Any, job: str) -> int:
    outputs = [dataset("warehouse://team-a", f"{job}-{index}", schema=schema("id")) for index in range(3)]
    events = [run_event("START", job=job, outputs=outputs) for _ in range(count)]
    with CaptureQueriesContext(connection) as queries:
        report = do_ingest_events(events, actor=user)
    assert report.count(STORED) == count
    return len(queries)


def test_the_number_of_queries_does_not_grow_with_the_batch(cast: Any) -> None:
    do_ingest_events([run_event("START", job="warm-up")], actor=cast.engineer_a)  # the namespaces are claimed
    small, big = _queries_for(5, cast.engineer_a, "small"), _queries_for(50, cast.engineer_a, "big")
    # One statement per kind of row, ten times the events; a large insert is split only by the database's limit on
    # parameters per statement (a few hundred rows of edges on SQLite).
    assert small <= big <= small + 2
