"""The API's JSON parser: DRF's, with the input rule of core.api.inputs applied before and after parsing."""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import parsers, serializers
from rest_framework.exceptions import ParseError
from rest_framework.utils.json import strict_constant

from core.api.inputs import InputRefused, check_json_text, check_json_value


def refusal(exc: InputRefused) -> Exception:
    """A 400 naming where: the top-level field in ``fields`` (the path inside it in the message), or a parse error."""
    if not exc.where:
        return ParseError(exc.message)
    field = exc.where.split(".", 1)[0].split("[", 1)[0]
    message = exc.message if exc.where == field else f"{exc.message} (at {exc.where})"
    return serializers.ValidationError({field: [message]})


def loads(text: str, where: str = "") -> Any:
    """Parses JSON text a client sent: depth bounded before parsing, NUL characters refused after, NaN and
    Infinity refused (they are not JSON). Raises InputRefused, or ValueError for malformed JSON."""
    check_json_text(text)
    value = json.loads(text, parse_constant=strict_constant)
    check_json_value(value, where)
    return value


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            "".encode(encoding)  # a text encoding: bytes-to-bytes codecs raise LookupError
        except LookupError:
            raise ParseError(f'Unsupported charset "{encoding}" in request Content-Type header.') from None
        try:
            text = codecs.getreader(encoding)(stream).read()
            return loads(text)
        except InputRefused as exc:
            raise refusal(exc) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
