"""Strict validation of OpenLineage events, with the spec's generated classes as the source of truth.

lineage.spec checks an event against ``openlineage-python``'s classes generated from the spec's JSON schemas: which
fields are required, their types, the ``eventType`` enum, the facets' shapes and the classes' validators (``runId``
is a UUID, ``eventTime`` parses as an ISO date-time with a time). The event itself is kept verbatim: the classes
decide whether it is valid, never what is stored.

What the classes do not check, and the spec (or our database) requires, is checked here, each with its reason:
JSON types (attrs does not check annotations), an ``eventTime`` with a UTC offset, ``producer`` and ``schemaURL`` as
absolute URIs (the classes' ``urlparse`` accepts any text), the facets' ``_producer`` and ``_schemaURL`` (required
by the spec's BaseFacet, defaulted by the classes), and our limits: datasets per event, nesting depth, name length in
characters and in UTF-8 bytes (a PostgreSQL btree entry holds at most about 2.7 kB).

Everything here is a pure function of data: no ORM.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from openlineage.client.generated import base

from core.api.inputs import InputRefused, check_datetime
from core.canonical import MAX_SAFE_INTEGER, canonical_bytes, sha256_hex, to_stored_json
from lineage.choices import EventKind, RunState
from lineage.models.graph import MAX_NAME
from lineage.spec import EventInvalid, join_path, structure

# Datasets one event may name as inputs, and as outputs. A real job reads tens; a backfill that needs more sends
# more events. 50,000 inputs in one event would make one request fold into 50,000 rows.
MAX_INPUTS = 1000
MAX_OUTPUTS = 1000
# Column-lineage entries (output field, input field pairs) one event may carry.
MAX_COLUMN_EDGES = 20_000
# How deeply an event nests (the event object is level 1). Real facets nest a few levels (a struct in a schema);
# the API's JSON parser has its own, looser bound for every body (core.api.inputs.MAX_JSON_DEPTH).
MAX_EVENT_DEPTH = 32
# A namespace, a dataset, job or field name in UTF-8 bytes, besides MAX_NAME characters. Two field names share one
# btree entry of the column-edge constraint, and PostgreSQL refuses an entry over 2704 bytes: 2 x 1280 plus the ids
# and headers stays under it.
MAX_NAME_BYTES = 1280
# producer, schemaURL (the columns are this wide).
MAX_URI = 2048
# A dataset version (RunEdge.version).
MAX_VERSION = 256
# One event's canonical JSON, in bytes.
MAX_EVENT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ColumnLink:
    """One column edge: ``output_field`` of the dataset it hangs on ("" for the facet's dataset-wide ``dataset``
    entries) derived from ``input_field`` of (``input_namespace``, ``input_name``)."""

    output_field: str
    input_namespace: str
    input_name: str
    input_field: str
    transformations: list[Any]


@dataclass(frozen=True)
class DatasetRef:
    """A dataset an event names, with its facets (verbatim) and what the fold reads out of them."""

    namespace: str
    name: str
    facets: dict[str, Any]
    io_facets: dict[str, Any]
    version: str = ""
    schema_fields: list[Any] | None = None
    schema_digest: str = ""
    columns: list[ColumnLink] = field(default_factory=list)


@dataclass(frozen=True)
class ValidEvent:
    """A valid event: ``payload`` is what is stored (verbatim, made storable), ``digest`` its canonical SHA-256."""

    kind: EventKind
    payload: dict[str, Any]
    digest: str
    event_time: dt.datetime
    producer: str
    schema_url: str
    event_type: str = ""
    run_id: uuid.UUID | None = None
    run_facets: dict[str, Any] = field(default_factory=dict)
    parent_run_id: uuid.UUID | None = None
    job_namespace: str = ""
    job_name: str = ""
    job_facets: dict[str, Any] = field(default_factory=dict)
    inputs: list[DatasetRef] = field(default_factory=list)
    outputs: list[DatasetRef] = field(default_factory=list)
    dataset: DatasetRef | None = None

    @property
    def namespace(self) -> str:
        """The namespace the event is filed under: its job's, or its dataset's."""
        return self.dataset.namespace if self.dataset is not None else self.job_namespace

    @property
    def written_namespaces(self) -> list[str]:
        """The namespaces the event writes into (its job's, its outputs', its dataset's), each once."""
        names = [self.namespace] + [output.namespace for output in self.outputs]
        return list(dict.fromkeys(names))


# --- the checks the classes do not make ---------------------------------------------------------------------------


def check_uri(value: str, path: str) -> None:
    """An absolute URI (the spec's ``format: uri``): a scheme, no whitespace or control characters, and for
    http(s) a host. The generated classes only call ``urlparse``, which accepts any text."""
    problem = uri_problem(value)
    if problem is not None:
        raise EventInvalid(path, problem[1], code=problem[0])


@functools.lru_cache(maxsize=4096)  # producers and schema URLs repeat in every facet of every event
def uri_problem(value: str) -> tuple[str, str] | None:
    """What is wrong with ``value`` as an absolute URI (code, message), or None."""
    if len(value) > MAX_URI:
        return "invalid_uri", f"must be at most {MAX_URI} characters."
    if not value or any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        return "invalid_uri", "must be an absolute URI without spaces or control characters."
    parts = urllib.parse.urlsplit(value)
    if not parts.scheme or not parts.scheme[0].isalpha():
        return "invalid_uri", "must be an absolute URI (with a scheme, such as https://)."
    if parts.scheme.lower() in ("http", "https") and not parts.netloc:
        return "invalid_uri", "must name a host."
    return None


def check_name(value: str, path: str) -> None:
    """A namespace or a name: not empty, at most MAX_NAME characters and MAX_NAME_BYTES bytes in UTF-8. Otherwise
    opaque: ``../``, CRLF, HTML and bidirectional overrides are stored as sent and escaped wherever shown."""
    if not value:
        raise EventInvalid(path, "must not be empty.")
    if "\x00" in value:
        raise EventInvalid(path, "must not contain the NUL character (PostgreSQL cannot store it).")
    if len(value) > MAX_NAME:
        raise EventInvalid(path, f"must be at most {MAX_NAME} characters.", code="name_too_long")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise EventInvalid(path, f"must be at most {MAX_NAME_BYTES} bytes in UTF-8.", code="name_too_long")


@dataclass(frozen=True)
class Scan:
    """What one walk over an event found: ``plain`` when every value is a JSON type the database stores unchanged
    (else core.canonical.to_stored_json must normalise it), ``simple`` when the fast canonical form is exact."""

    plain: bool
    simple: bool


def scan(value: Any) -> Scan:
    """Walks an event once (iteratively: its depth is the client's): refuses nesting deeper than MAX_EVENT_DEPTH
    and NUL characters (PostgreSQL cannot store them), naming the place; notes what ``Scan`` says. The path of a
    value is rebuilt from its parents only when it is at fault."""
    plain = simple = True
    stack: list[tuple[Any, int, Any, str | int]] = [(value, 1, None, "")]
    while stack:
        entry = stack.pop()
        item, depth = entry[0], entry[1]
        if isinstance(item, str):
            if "\x00" in item:
                raise EventInvalid(_path_of(entry), "must not contain the NUL character (PostgreSQL cannot store it).")
        elif isinstance(item, dict):
            if depth > MAX_EVENT_DEPTH:
                raise EventInvalid(
                    _path_of(entry), f"nests too deeply (an event may nest {MAX_EVENT_DEPTH} levels).", code="too_deep"
                )
            for key, child in item.items():
                if not isinstance(key, str) or "\x00" in key:
                    raise EventInvalid(_path_of(entry), "has a key with the NUL character, or not a string.")
                if simple and not key.isascii() and any(ord(char) > 0xFFFF for char in key):
                    simple = False  # RFC 8785 sorts keys by UTF-16 code units; Python by code points
                stack.append((child, depth + 1, entry, key))
        elif isinstance(item, list):
            if depth > MAX_EVENT_DEPTH:
                raise EventInvalid(
                    _path_of(entry), f"nests too deeply (an event may nest {MAX_EVENT_DEPTH} levels).", code="too_deep"
                )
            stack.extend((child, depth + 1, entry, index) for index, child in enumerate(item))
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if abs(item) > MAX_SAFE_INTEGER:
                plain = False
        elif isinstance(item, float):
            simple = False  # numbers print differently (RFC 8785 follows ECMAScript)
            if not math.isfinite(item) or (item.is_integer() and abs(item) > MAX_SAFE_INTEGER):
                plain = False
        else:
            plain = simple = False
    return Scan(plain, simple)


def _path_of(entry: tuple[Any, int, Any, str | int]) -> str:
    keys: list[str | int] = []
    while entry[2] is not None:
        keys.append(entry[3])
        entry = entry[2]
    path = ""
    for key in reversed(keys):
        path = join_path(path, key)
    return path


def canonical_event(payload: Any, found: Scan) -> bytes:
    """RFC 8785 canonical JSON of a stored payload. When ``found.simple`` (no floats, no key beyond the Basic
    Multilingual Plane: nearly every event), Python's own sorted, compact, non-ASCII JSON is byte for byte the same
    as RFC 8785 (both escape only quotes, backslashes and control characters, in the same lower-case forms) and
    much faster; otherwise the ``rfc8785`` package's. tests/lineage/test_events.py compares the two."""
    if found.simple:
        try:
            return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            pass  # an unpaired surrogate: rfc8785 refuses it with a message
    return canonical_bytes(payload)


def parse_event_time(value: str, path: str) -> dt.datetime:
    """The spec's ``date-time`` (RFC 3339): a UTC offset is required (a time without one names no instant)."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise EventInvalid(path, "must be an ISO 8601 date-time.", code="invalid_datetime") from None
    if parsed.tzinfo is None:
        raise EventInvalid(path, "must carry a UTC offset (Z or +hh:mm).", code="invalid_datetime")
    try:
        check_datetime(parsed)
    except InputRefused as exc:
        raise EventInvalid(path, exc.message, code="invalid_datetime") from None
    return parsed.astimezone(dt.UTC)


def _check_facet_bases(facets: Mapping[str, Any], path: str) -> None:
    """The spec's BaseFacet requires ``_producer`` and ``_schemaURL`` (URIs); the generated classes default them."""
    for key, facet in facets.items():
        where = join_path(path, key)
        for required in ("_producer", "_schemaURL"):
            value = facet.get(required)
            if not isinstance(value, str):
                raise EventInvalid(join_path(where, required), "is required (a URI string).", code="missing_field")
            check_uri(value, join_path(where, required))


# --- events -------------------------------------------------------------------------------------------------------


def event_kind(data: Mapping[str, Any]) -> EventKind:
    """Which of the three shapes: a RunEvent has a ``run``, a DatasetEvent a ``dataset``, a JobEvent a ``job``."""
    if "run" in data or "eventType" in data:
        return EventKind.RUN
    if "dataset" in data:
        return EventKind.DATASET
    if "job" in data:
        return EventKind.JOB
    raise EventInvalid("run", "is required (a RunEvent needs run and job; a DatasetEvent dataset; a JobEvent job).")


_CLASSES = {EventKind.RUN: base.RunEvent, EventKind.DATASET: base.DatasetEvent, EventKind.JOB: base.JobEvent}


def validate_event(data: Any) -> ValidEvent:
    """Validates one parsed event, or raises EventInvalid naming the field at fault."""
    if not isinstance(data, dict):
        raise EventInvalid("", "An event must be a JSON object.")
    found = scan(data)
    # Before anything walks them: 50,000 inputs are refused by their count, not after 50,000 checks.
    for key, limit in (("inputs", MAX_INPUTS), ("outputs", MAX_OUTPUTS)):
        if isinstance(data.get(key), list) and len(data[key]) > limit:
            raise EventInvalid(key, f"may name at most {limit} datasets.", code="too_many_datasets")
    kind = event_kind(data)
    # schemaURL is init=False in the classes (they set their own): check the event's.
    if not isinstance(data.get("schemaURL"), str):
        raise EventInvalid("schemaURL", "is required (a URI string).", code="missing_field")
    check_uri(data["schemaURL"], "schemaURL")
    if not isinstance(data.get("producer"), str):
        raise EventInvalid("producer", "is required (a URI string).", code="missing_field")
    check_uri(data["producer"], "producer")
    structure(_CLASSES[kind], data, "")
    try:
        payload = data if found.plain else to_stored_json(data)
        canonical = canonical_event(payload, found)
    except (ValueError, TypeError) as exc:
        # core.canonical names the place as "$.inputs[0].name: ...".
        where, _, reason = str(exc).partition(": ")
        if where.startswith("$") and reason:
            raise EventInvalid(where.removeprefix("$").removeprefix("."), reason) from None
        raise EventInvalid("", f"The event cannot be stored: {exc}") from None
    if len(canonical) > MAX_EVENT_BYTES:
        raise EventInvalid("", f"An event may be at most {MAX_EVENT_BYTES} bytes.", code="event_too_large")
    digest = sha256_hex(canonical)
    event = ValidEvent(
        kind=kind,
        payload=payload,
        digest=digest,
        event_time=parse_event_time(data["eventTime"], "eventTime"),
        producer=data["producer"],
        schema_url=data["schemaURL"],
    )
    if kind == EventKind.DATASET:
        return _with_dataset(event, payload, found)
    return _with_job(event, payload, found)


def _with_dataset(event: ValidEvent, data: dict[str, Any], found: Scan) -> ValidEvent:
    dataset = _dataset(data["dataset"], "dataset", io_key="", found=found)
    return ValidEvent(**{**event.__dict__, "dataset": dataset})


def _with_job(event: ValidEvent, data: dict[str, Any], found: Scan) -> ValidEvent:
    job = data["job"]
    check_name(job["namespace"], "job.namespace")
    check_name(job["name"], "job.name")
    job_facets = job.get("facets") or {}
    _check_facet_bases(job_facets, "job.facets")
    inputs_data = data.get("inputs") or []
    outputs_data = data.get("outputs") or []
    inputs = [
        _dataset(item, f"inputs[{index}]", io_key="inputFacets", found=found) for index, item in enumerate(inputs_data)
    ]
    outputs = [
        _dataset(item, f"outputs[{index}]", io_key="outputFacets", found=found)
        for index, item in enumerate(outputs_data)
    ]
    if sum(len(output.columns) for output in outputs) > MAX_COLUMN_EDGES:
        raise EventInvalid("outputs", f"may carry at most {MAX_COLUMN_EDGES} column-lineage entries.")
    changes: dict[str, Any] = {
        "job_namespace": job["namespace"],
        "job_name": job["name"],
        "job_facets": event.payload["job"].get("facets") or {},
        "inputs": inputs,
        "outputs": outputs,
    }
    if event.kind == EventKind.RUN:
        run = event.payload["run"]
        run_facets = run.get("facets") or {}
        _check_facet_bases(run_facets, "run.facets")
        parent = run_facets.get("parent") or {}
        changes |= {
            "event_type": data.get("eventType") or RunState.OTHER,
            "run_id": uuid.UUID(run["runId"]),
            "run_facets": run_facets,
            "parent_run_id": uuid.UUID(parent["run"]["runId"]) if parent.get("run") else None,
        }
    return ValidEvent(**{**event.__dict__, **changes})


def _dataset(data: dict[str, Any], path: str, *, io_key: str, found: Scan) -> DatasetRef:
    check_name(data["namespace"], f"{path}.namespace")
    check_name(data["name"], f"{path}.name")
    facets = data.get("facets") or {}
    io_facets = (data.get(io_key) or {}) if io_key else {}
    _check_facet_bases(facets, f"{path}.facets")
    _check_facet_bases(io_facets, f"{path}.{io_key}")
    version = str((facets.get("version") or {}).get("datasetVersion") or "")
    if len(version) > MAX_VERSION:
        raise EventInvalid(f"{path}.facets.version.datasetVersion", f"must be at most {MAX_VERSION} characters.")
    schema = facets.get("schema")
    fields = list(schema.get("fields") or []) if isinstance(schema, dict) else None
    return DatasetRef(
        namespace=data["namespace"],
        name=data["name"],
        facets=facets,
        io_facets=io_facets,
        version=version,
        schema_fields=fields,
        schema_digest=sha256_hex(canonical_event(fields, found)) if fields is not None else "",
        columns=_columns(facets.get("columnLineage"), f"{path}.facets.columnLineage"),
    )


def _columns(facet: Any, path: str) -> list[ColumnLink]:
    """The column edges of a ``columnLineage`` facet: ``fields.<field>.inputFields[]`` (each input's own
    ``transformations``, or, in the older shape, the field's ``transformationType``/``transformationDescription``),
    and the dataset-wide ``dataset[]`` entries (output field "")."""
    if not isinstance(facet, dict):
        return []
    links: list[ColumnLink] = []
    entries: list[tuple[str, str, dict[str, Any], list[Any]]] = []
    for output_field, spec in (facet.get("fields") or {}).items():
        check_name(output_field, f"{path}.fields.{output_field[:64]}")
        legacy = [
            {
                key: value
                for key, value in (
                    ("type", spec.get("transformationType")),
                    ("description", spec.get("transformationDescription")),
                )
                if value is not None
            }
        ]
        legacy = legacy if legacy[0] else []
        for index, item in enumerate(spec.get("inputFields") or []):
            entries.append((output_field, f"{path}.fields.{output_field[:64]}.inputFields[{index}]", item, legacy))
    for index, item in enumerate(facet.get("dataset") or []):
        entries.append(("", f"{path}.dataset[{index}]", item, []))
    for output_field, where, item, legacy in entries:
        check_name(item["namespace"], f"{where}.namespace")
        check_name(item["name"], f"{where}.name")
        check_name(item["field"], f"{where}.field")
        transformations = item.get("transformations") or legacy
        links.append(ColumnLink(output_field, item["namespace"], item["name"], item["field"], list(transformations)))
    return links
