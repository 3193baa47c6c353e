"""One rule for every value a client sends the API: JSON bodies, JSON text in form fields, query filters, path ids.

- JSON is nested at most ``MAX_JSON_DEPTH`` levels. The depth is counted on the raw text before it is parsed, so a
  body nested thousands of levels deep never reaches the recursive parser (a RecursionError, a 500, before).
- No JSON string, key or value, holds a NUL character: PostgreSQL cannot store one (a 500) and SQLite stores it for
  later readers to trip on (a version that could never be released).
- Date-times a client filters by carry a UTC offset within +-15:59 (PostgreSQL refuses more: a 500) and stay
  within the calendar when moved to UTC (9999-12-31T23:00-05:00 overflows Python's: a 500 on SQLite). Bodies need
  no rule of ours: DRF's DateTimeField moves them to UTC and refuses an overflow.
- Integers a client names (ids, counts, versions) lie in the signed 64-bit range every database column and SQLite
  itself can hold: ``INT_MIN`` to ``INT_MAX``. Beyond it SQLite raises OverflowError (a 500) before any query runs.

Every refusal is a 400 that names where the input broke the rule. The parser (core.api.parsers), the JSON form field
(core.api.fields), the strict serializer base (core.api.base) and the filter base (core.api.filters) apply it.
"""

from __future__ import annotations

import datetime as dt
import re
from itertools import accumulate
from typing import Any

MAX_JSON_DEPTH = 64
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1

# A JSON string, escapes included; what is left once they are gone is structure, numbers and literals.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class InputRefused(ValueError):
    """A value breaks the rule: ``where`` names the place (``training_params.layers[2]``), ``message`` says why."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    @property
    def explained(self) -> str:
        """The message, with the place when there is one: ``... (at training_params.layers[2])``."""
        return f"{self.message} (at {self.where})" if self.where else self.message


def json_depth(text: str) -> int:
    """How deeply ``text`` nests arrays and objects, counted without parsing it (brackets inside strings skipped)."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(0, max(accumulate(_STEP[char] for char in brackets), default=0))


def check_json_text(text: str) -> None:
    """Refuses JSON text nested deeper than ``MAX_JSON_DEPTH``, before anything parses it."""
    if json_depth(text) > MAX_JSON_DEPTH:
        raise InputRefused(f"JSON may be nested at most {MAX_JSON_DEPTH} levels deep.")


def _join(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def check_json_value(value: Any, where: str = "") -> None:
    """Walks a parsed JSON value (iteratively: its depth is the client's) and refuses NUL characters in its strings
    and keys, and nesting deeper than ``MAX_JSON_DEPTH``. ``where`` names the value itself (a field name)."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise InputRefused("A JSON string must not contain the NUL character (\\u0000).", path)
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise InputRefused(f"JSON may be nested at most {MAX_JSON_DEPTH} levels deep.", path)
            if isinstance(item, dict):
                for key, child in item.items():
                    if isinstance(key, str) and "\x00" in key:
                        raise InputRefused("A JSON key must not contain the NUL character (\\u0000).", path)
                    stack.append((child, _join(path, str(key)), depth + 1))
            else:
                stack.extend((child, _join(path, index), depth + 1) for index, child in enumerate(item))


def integer_out_of_range(value: Any) -> bool:
    """Whether ``value`` (an int, or the text of one as a client sent it) lies outside ``INT_MIN`` to ``INT_MAX``."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?[0-9]+", text) or len(text) > 40:
            return bool(re.fullmatch(r"[+-]?[0-9]{41,}", text))
        value = int(text)
    if isinstance(value, int):
        return not INT_MIN <= value <= INT_MAX
    return False


def out_of_range_message() -> str:
    return f"Must be an integer from {INT_MIN} to {INT_MAX}."


MAX_UTC_OFFSET = dt.timedelta(hours=15, minutes=59)


def check_datetime(value: dt.datetime) -> dt.datetime:
    """Refuses a date-time whose UTC offset lies beyond +-15:59 or which leaves the calendar when moved to UTC."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        raise InputRefused("The UTC offset must lie within -15:59 and +15:59.")
    if offset is not None:
        try:
            value.astimezone(dt.UTC)
        except OverflowError:
            raise InputRefused("The date-time lies outside the years 1 to 9999 in UTC.") from None
    return value
