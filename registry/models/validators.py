"""Validators for the registry's JSON fields and URIs, run by ``full_clean()`` in every action.

JSON columns hold client data that other code reads later (the UI, the reports, the approval workflow), so each has
a fixed shape checked on the way in; ``ValidationError`` messages name the offending item.
"""

from __future__ import annotations

import math
import re
import unicodedata
import urllib.parse
from typing import Any

from django.core.exceptions import ValidationError

from core import urlpolicy

MAX_LIST_ITEMS = 64
MAX_SHORT_TEXT = 128
TAG_PATTERN = re.compile(r"\A[a-z0-9][a-z0-9._:-]{0,62}\Z")

LOCATION_SCHEMES = frozenset({"s3", "s3a", "gs", "abfss", "hdfs", "dbfs", "https", "lake"})
# ``lake://<relative path>``: a place under the DATA_LAKE_ROOT setting (registry.pipelines.io resolves it). Each
# segment is plain: letters, digits and ``._=+-`` (``month=2024-01`` partition folders), never ``.`` or ``..``, never
# percent-encoded (``%2e%2e`` would be ``..`` to a reader that decodes it).
LAKE_SCHEME = "lake"
_LAKE_SEGMENT = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9._=+-]{0,254}\Z")
MAX_LAKE_DEPTH = 32
# Query keys of pre-signed URLs and embedded secrets (S3, GCS, Azure SAS): a location is metadata, never a credential.
_SECRET_QUERY_KEYS = re.compile(
    r"(?i)\A(x-amz-(signature|credential|security-token)|x-goog-(signature|credential)|sig|signature|sv|se|"
    r"token|access_token|api_key|apikey|key|password|passwd|secret|credential|credentials|auth)\Z"
)


def _is_visible_text(value: str) -> bool:
    return all(unicodedata.category(char)[0] != "C" for char in value)


def short_text_list(value: object, *, what: str, max_items: int = MAX_LIST_ITEMS) -> None:
    if not isinstance(value, list):
        raise ValidationError(f"{what} must be a list of strings.")
    if len(value) > max_items:
        raise ValidationError(f"{what} may hold at most {max_items} items.")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise ValidationError(f"{what}[{index}] must be a non-empty string.")
        if len(item) > MAX_SHORT_TEXT or not _is_visible_text(item):
            raise ValidationError(
                f"{what}[{index}] must be at most {MAX_SHORT_TEXT} visible characters (no control characters)."
            )
    if len(set(value)) != len(value):
        raise ValidationError(f"{what} lists an item twice.")


def validate_string_list(value: object) -> None:
    short_text_list(value, what="The list")


def validate_tags(value: Any) -> None:
    """Tags are short lower-case labels (``fraud``, ``team:payments``, ``tier-1``), so a filter finds them exactly."""
    short_text_list(value, what="tags", max_items=32)
    for index, tag in enumerate(value):
        if not TAG_PATTERN.match(tag):
            raise ValidationError(
                f"tags[{index}] {tag!r} must be 1-63 lower-case ASCII letters, digits, '.', '_', ':' or '-', "
                "starting with a letter or digit."
            )


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate_kpis(value: object) -> None:
    """``[{"name": str, "unit": str, "baseline": number, "target": number, "description": str}]``."""
    if not isinstance(value, list):
        raise ValidationError("kpis must be a list of objects.")
    if len(value) > MAX_LIST_ITEMS:
        raise ValidationError(f"kpis may hold at most {MAX_LIST_ITEMS} items.")
    allowed = {"name", "unit", "baseline", "target", "description"}
    names: set[str] = set()
    for index, kpi in enumerate(value):
        where = f"kpis[{index}]"
        if not isinstance(kpi, dict):
            raise ValidationError(f"{where} must be an object.")
        unknown = sorted(set(kpi) - allowed)
        if unknown:
            raise ValidationError(f"{where} has unknown keys: {', '.join(unknown)}.")
        name = kpi.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_SHORT_TEXT or not _is_visible_text(name):
            raise ValidationError(f"{where}.name must be a non-empty string of at most {MAX_SHORT_TEXT} characters.")
        if name in names:
            raise ValidationError(f"{where}.name {name!r} repeats an earlier KPI.")
        names.add(name)
        for key in ("baseline", "target"):
            if not _number(kpi.get(key)):
                raise ValidationError(f"{where}.{key} is required and must be a finite number.")
        for key in ("unit", "description"):
            if key in kpi and not isinstance(kpi[key], str):
                raise ValidationError(f"{where}.{key} must be a string.")


def validate_numeric_map(value: object) -> None:
    """Metrics: ``{"name": number}``; a nested object groups them (``{"test": {"auc": 0.91}}``), two levels deep."""

    def check(mapping: object, path: str, depth: int) -> None:
        if not isinstance(mapping, dict):
            raise ValidationError(f"{path or 'metrics'} must be an object of numbers.")
        for key, item in mapping.items():
            where = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str) or not key or len(key) > MAX_SHORT_TEXT:
                raise ValidationError(f"Metric name {where!r} must be a non-empty string.")
            if isinstance(item, dict) and depth < 2:
                check(item, where, depth + 1)
            elif not _number(item):
                raise ValidationError(f"Metric {where} must be a finite number.")

    check(value, "", 1)


def validate_json_object(value: object) -> None:
    if not isinstance(value, dict):
        raise ValidationError("Must be a JSON object.")


def validate_location(value: str) -> None:
    """Where a dataset lives, as metadata: a URI of an allowed scheme, with no credentials and no internal host.

    Assay never fetches it today, but later jobs will, so what would be an SSRF or a leaked secret then is refused
    now: ``file:`` and other local schemes, plain ``http``, user information and signed query strings, and hosts that
    are or name internal addresses however they are written (core.urlpolicy: loopback, private, link-local and
    metadata addresses, in decimal, hex, octal, shortened or IPv6-mapped form).
    """
    if (
        not value
        or len(value) > 2048
        or not _is_visible_text(value)
        or any(char.isspace() or char == "\\" for char in value)
    ):
        raise ValidationError(
            "The location must be a URI of at most 2048 visible characters without spaces or backslashes."
        )
    parsed = urllib.parse.urlsplit(value)
    scheme = parsed.scheme.lower()
    if scheme == LAKE_SCHEME:
        lake_path(value)
        return
    if scheme not in LOCATION_SCHEMES:
        allowed = ", ".join(sorted(LOCATION_SCHEMES))
        raise ValidationError(f"The location scheme {scheme or '(none)'!r} is not allowed; use one of {allowed}.")
    # abfss names the container before the '@' (abfss://container@account.dfs.core.windows.net/path); anywhere
    # else, and with a ':' in it there too, what stands before the '@' is a credential.
    if parsed.password is not None or ("@" in parsed.netloc and scheme != "abfss"):
        raise ValidationError("The location must not contain credentials (user information before '@').")
    for key, _ in urllib.parse.parse_qsl(parsed.query, keep_blank_values=True):
        if _SECRET_QUERY_KEYS.match(key):
            raise ValidationError(f"The location must not contain credentials (query parameter {key!r}).")
    try:
        parsed.port  # noqa: B018 - raises ValueError for a port that is no number or out of range
    except ValueError:
        raise ValidationError("The location's port must be a number from 0 to 65535.") from None
    host = urlpolicy.host_of(parsed.netloc)
    if scheme in ("https", "hdfs") or host:
        if not host:
            raise ValidationError("The location must name a host or bucket.")
        # Read as a resolver reads it (2130706433, 0x7f000001 and 127.1 are all 127.0.0.1): core.urlpolicy.
        try:
            urlpolicy.check_host(host)
        except urlpolicy.UrlRefused as refused:
            raise ValidationError(f"The location is refused: {refused}") from None


def lake_path(value: str) -> str:
    """The relative path of a ``lake://`` location (``lake://events/2024`` -> ``events/2024``), checked.

    Refused: an absolute path (``lake:///etc``), ``.`` and ``..`` segments, empty segments, percent-encoding, a
    query or a fragment, control characters (NUL among them), and anything but plain segment characters. Where the
    path then resolves (symbolic links followed) is checked again when a job reads it: registry.pipelines.io.
    """
    prefix = f"{LAKE_SCHEME}://"
    if not value.lower().startswith(prefix):
        raise ValidationError(f"A lake location starts with {prefix}.")
    if not _is_visible_text(value) or any(char.isspace() for char in value):
        raise ValidationError("The location must not contain spaces or control characters.")
    relative = value[len(prefix) :]
    if "%" in relative:
        raise ValidationError("A lake location must not be percent-encoded: write the path as it is.")
    if "?" in relative or "#" in relative:
        raise ValidationError("A lake location takes no query or fragment.")
    if not relative or relative.startswith("/") or "\\" in relative:
        raise ValidationError(
            "A lake location is a relative path under DATA_LAKE_ROOT, such as lake://events/2024 (not absolute)."
        )
    segments = relative.rstrip("/").split("/")
    if len(segments) > MAX_LAKE_DEPTH:
        raise ValidationError(f"A lake location is at most {MAX_LAKE_DEPTH} folders deep.")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise ValidationError(
                f"A lake location must not contain empty, '.' or '..' segments (found {segment or '(empty)'!r})."
            )
        if not _LAKE_SEGMENT.match(segment):
            raise ValidationError(
                f"The lake path segment {segment!r} may hold only letters, digits and '._=+-', starting with a "
                "letter, digit or '_'."
            )
    return "/".join(segments)
