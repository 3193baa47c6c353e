"""lineage.events: the spec's classes decide validity; the fast canonical JSON equals RFC 8785's; the run state
fold is independent of arrival order."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from core.canonical import canonical_bytes
from lineage.actions.fold import folded_state, merged_facets
from lineage.choices import RunState
from lineage.events import EventInvalid, canonical_event, scan, validate_event
from tests.lineage.events import dataset, dataset_event, facet, job_event, run_event, schema

TRICKY = [
    "plain",
    'quote " and backslash \\',
    "controls \x01\x1f\b\f\n\r\t and DEL \x7f",
    "accents éàü, CJK 漢字, emoji 😀",
    "\u2028 line separators \u2029",
    "\u202e right-to-left override",
    "<script>alert(1)</script>",
]


@pytest.mark.parametrize("text", TRICKY)
def test_the_fast_canonical_form_is_rfc_8785(text: str) -> None:
    value = {"z": [text, 1, True, None, {"b": text, "a": -(2**53 - 1)}], text: "key", "é": 0, "e": 1, "\uffff": 2}
    found = scan(value)
    assert found.simple == all(ord(char) <= 0xFFFF for char in text)
    assert canonical_event(value, found) == canonical_bytes(value)


@pytest.mark.parametrize(
    "value",
    [
        {"x": 1.5},
        {"\U0001f600": 1, "\uffff": 2},  # UTF-16 order differs from code-point order
    ],
)
def test_values_the_fast_form_cannot_take_use_rfc8785(value: dict[str, Any]) -> None:
    found = scan(value)
    assert not found.simple
    assert canonical_event(value, found) == canonical_bytes(value)


def test_every_shape_of_event_validates() -> None:
    assert validate_event(run_event()).kind == "run"
    assert validate_event(dataset_event(schema=schema("a"))).kind == "dataset"
    assert validate_event(job_event()).kind == "job"


def test_a_run_event_without_an_event_type_is_other() -> None:
    event = run_event()
    del event["eventType"]
    assert validate_event(event).event_type == RunState.OTHER


def test_the_legacy_column_lineage_shape_keeps_its_transformation() -> None:
    legacy = facet(
        fields={
            "x": {
                "inputFields": [{"namespace": "s3://raw", "name": "t", "field": "a"}],
                "transformationType": "IDENTITY",
                "transformationDescription": "copied",
            }
        }
    )
    event = validate_event(run_event(outputs=[dataset("warehouse://team-a", "o", columnLineage=legacy)]))
    (link,) = event.outputs[0].columns
    assert link.transformations == [{"type": "IDENTITY", "description": "copied"}]


def test_a_schema_facet_of_the_wrong_shape_names_the_field() -> None:
    bad = run_event(outputs=[dataset("warehouse://team-a", "o", schema=facet(fields=[{"type": "int"}]))])
    with pytest.raises(EventInvalid, match="is required") as caught:
        validate_event(bad)
    assert caught.value.field == "outputs[0].facets.schema.fields[0].name"


def test_integers_beyond_json_precision_are_stored_as_text() -> None:
    event = run_event(run_facets={"custom": facet(big=2**60)})
    valid = validate_event(event)
    assert valid.payload["run"]["facets"]["custom"]["big"] == str(2**60)


T0 = dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
TRANSITIONS = [
    (RunState.START, T0),
    (RunState.RUNNING, T0 + dt.timedelta(minutes=1)),
    (RunState.OTHER, T0 + dt.timedelta(minutes=9)),
    (RunState.COMPLETE, T0 + dt.timedelta(minutes=5)),
]


@pytest.mark.parametrize("order", list(itertools.permutations(TRANSITIONS)))
def test_the_run_state_does_not_depend_on_arrival_order(order: tuple[tuple[str, dt.datetime], ...]) -> None:
    current = None
    for state, at in order:
        current = folded_state(current, state, at)
    assert current == (RunState.COMPLETE, T0 + dt.timedelta(minutes=5))


def test_a_deleted_facet_is_removed() -> None:
    assert merged_facets({"a": 1, "b": 2}, {"a": {"_deleted": True}, "c": 3}) == {"b": 2, "c": 3}
