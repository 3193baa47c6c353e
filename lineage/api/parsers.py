"""Reading an OpenLineage request body as the HTTP transport sends it: JSON (one event, or an array of them) or
NDJSON (one event a line), possibly gzip-compressed (``Content-Encoding: gzip``), never past the limit.

The body is read in bounded steps: at most ``LINEAGE_MAX_BODY_BYTES`` of it, and at most as many bytes once
decompressed (a small gzip body can expand a thousandfold), so nothing beyond the limit is held in memory: past it,
413. Events are parsed here, validated one by one by lineage.events (so one bad event of a batch is reported
alone, with the rest stored).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError, UnsupportedMediaType
from rest_framework.utils.json import strict_constant

from core.api.inputs import InputRefused, check_json_text
from lineage.actions import PayloadInvalid

NDJSON = "application/x-ndjson"
# Events one request may carry.
MAX_BATCH_EVENTS = 10_000
_CHUNK = 64 * 1024


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is over the limit."


@dataclass(frozen=True)
class Events:
    """The parsed body: the events (a ``PayloadInvalid`` for an NDJSON line that is not JSON), and whether the
    request was a batch (an array or NDJSON) or one event."""

    items: list[Any]
    batch: bool


def body_limit() -> int:
    return int(settings.LINEAGE_MAX_BODY_BYTES)


def read_limited(stream: Any, encoding: str) -> bytes:
    """The body, decompressed when ``encoding`` says gzip; BodyTooLarge as soon as either side passes the limit."""
    limit = body_limit()
    if encoding not in ("", "identity", "gzip"):
        raise UnsupportedMediaType(encoding, f'Content-Encoding "{encoding}" is not supported (use gzip or none).')
    inflater = zlib.decompressobj(wbits=31) if encoding == "gzip" else None
    received = 0
    out = bytearray()
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge(f"The request body is over {limit} bytes.")
        if inflater is None:
            out += chunk
            continue
        try:
            out += inflater.decompress(chunk, limit + 1 - len(out))
        except zlib.error:
            raise ParseError("The body is not valid gzip.") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise BodyTooLarge(f"The request body is over {limit} bytes once decompressed.")
    if inflater is not None and not inflater.eof:
        raise ParseError("The gzip body is truncated.")
    return bytes(out)


def loads(text: str) -> Any:
    """JSON text, its depth bounded before parsing (core.api.inputs); NaN and Infinity refused. NUL characters are
    left to each event's validation, which names the event and field."""
    try:
        check_json_text(text)
    except InputRefused as exc:
        raise ParseError(exc.message) from None
    return json.loads(text, parse_constant=strict_constant)


def parse_events(raw: bytes, media_type: str) -> Events:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("The body is not UTF-8.") from None
    if media_type.startswith(NDJSON):
        items: list[Any] = []
        for number, line in enumerate(text.splitlines()):
            if not line.strip():
                continue
            try:
                items.append(loads(line))
            except (ValueError, ParseError) as exc:
                items.append(PayloadInvalid("", f"Line {number + 1} is not JSON ({exc})."))
        return _checked(Events(items, batch=True))
    try:
        value = loads(text)
    except ValueError as exc:
        raise ParseError(f"JSON parse error - {exc}") from None
    if isinstance(value, list):
        return _checked(Events(value, batch=True))
    return Events([value], batch=False)


def _checked(events: Events) -> Events:
    if not events.items:
        raise ParseError("A batch needs at least one event.")
    if len(events.items) > MAX_BATCH_EVENTS:
        raise ParseError(f"A batch may carry at most {MAX_BATCH_EVENTS} events.")
    return events


class OpenLineageParser(parsers.BaseParser):
    """JSON or NDJSON, gzip or not (module docstring)."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        request = (parser_context or {}).get("request")
        encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower() if request is not None else ""
        return parse_events(read_limited(stream, encoding), media_type or self.media_type)


class NDJSONParser(OpenLineageParser):
    media_type = NDJSON
