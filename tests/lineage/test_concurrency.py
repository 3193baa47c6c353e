"""Concurrent requests cannot both win: the same events sent at once are stored once; a new namespace written by
two teams at once is claimed by one. Real threads, each with its own connection, committing."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from lineage.actions import DUPLICATE, REFUSED, STORED, IngestReport, do_ingest_events
from lineage.models import LineageEvent, LineageRun, Namespace, RunTransition
from tests.core.test_api_concurrency import race
from tests.lineage.events import dataset, facet, run_event

WRITERS = 4


@pytest.mark.django_db(transaction=True)
def test_the_same_events_sent_at_once_are_stored_once(cast: Any) -> None:
    # GIVEN team A's namespaces are claimed
    do_ingest_events([run_event("START", job="warm-up")], actor=cast.engineer_a)
    batch = [run_event("START"), run_event("COMPLETE")]
    # WHEN four producers send the same batch at the same moment
    results = race([partial(do_ingest_events, batch, actor=cast.engineer_a) for _ in range(WRITERS)])
    # THEN each event is stored by exactly one of them, a duplicate for the others
    assert all(isinstance(result, IngestReport) for result in results), results
    for index in range(len(batch)):
        statuses = sorted(result.results[index].status for result in results)
        assert statuses == [DUPLICATE] * (WRITERS - 1) + [STORED], statuses
    assert LineageEvent.objects.count() == 3
    assert RunTransition.objects.count() == 3
    assert LineageRun.objects.filter(state="COMPLETE").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_new_namespace_written_by_two_teams_at_once_is_claimed_by_one(cast: Any) -> None:
    def write(user: Any) -> IngestReport:
        event = run_event("START", namespace=f"airflow://{user.username}", outputs=[dataset("s3://contested", "t")])
        return do_ingest_events([event], actor=user)

    results = race([partial(write, cast.engineer_a), partial(write, cast.engineer_b)])
    assert all(isinstance(result, IngestReport) for result in results), results
    statuses = sorted(result.results[0].status for result in results)
    assert statuses == [REFUSED, STORED], statuses
    winner = Namespace.objects.get(name="s3://contested").team
    assert winner in (cast.team_a, cast.team_b)
    assert LineageEvent.objects.get().team == winner


@pytest.mark.django_db(transaction=True)
def test_writers_of_the_same_datasets_at_once_all_succeed(cast: Any) -> None:
    # GIVEN the namespaces are claimed and the datasets known
    names = [f"table-{index}" for index in range(6)]
    outputs = [
        dataset(
            "warehouse://team-a",
            name,
            version=facet(datasetVersion="v0"),
        )
        for name in names
    ]
    do_ingest_events([run_event("START", outputs=outputs)], actor=cast.engineer_a)

    # WHEN four producers write new versions of the same datasets at once, each in its own order
    def batch(writer: int) -> list[dict[str, Any]]:
        ordered = names[writer:] + names[:writer]
        return [
            run_event(
                "COMPLETE",
                job=f"job-{writer}-{index}",
                outputs=[
                    dataset(
                        "warehouse://team-a",
                        name,
                        version=facet(datasetVersion=f"v{writer}{index}"),
                    )
                    for name in ordered
                ],
            )
            for index in range(5)
        ]

    results = race([partial(do_ingest_events, batch(writer), actor=cast.engineer_a) for writer in range(WRITERS)])
    # THEN every request succeeded (no deadlock), every event stored
    assert all(isinstance(result, IngestReport) for result in results), results
    assert all(result.count(STORED) == 5 for result in results)
    assert LineageRun.objects.filter(state="COMPLETE").count() == WRITERS * 5
