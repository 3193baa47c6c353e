"""Typed readers for settings that come from the environment.

Each helper fails loudly (``ImproperlyConfigured``) on a malformed value rather than falling back silently, and
each accepts ``NAME_FILE`` in place of ``NAME`` so that secrets can be mounted as files.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# What DRF's throttles understand: a count, a slash, and a period that DRF reads by its first letter.
_RATE = re.compile(r"^[0-9]+/(s|sec|second|m|min|minute|h|hour|d|day)$")


def _raw(name: str) -> str | None:
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc}") from exc
    return os.environ.get(name)


def env_str(name: str, default: str | None = None) -> str:
    value = _raw(name)
    if value is None:
        if default is None:
            raise ImproperlyConfigured(f"The environment variable {name} is required.")
        return default
    return value


def env_optional(name: str) -> str | None:
    value = _raw(name)
    return value if value else None


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use one of 1/0, true/false, yes/no, on/off).")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below its minimum of {minimum}.")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = _raw(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = float(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None
    if not math.isfinite(number):
        raise ImproperlyConfigured(f"{name}={value!r} is not a finite number.")
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below its minimum of {minimum}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list. An empty value is an empty list; an empty item or one with spaces inside is a typo."""
    value = _raw(name)
    if value is None:
        return default
    if not value.strip():
        return []
    items = [item.strip() for item in value.split(",")]
    for item in items:
        if not item or any(char.isspace() for char in item):
            raise ImproperlyConfigured(
                f"{name}={value!r} is not a comma-separated list: item {item!r} is empty or contains spaces."
            )
    return items


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of: {', '.join(choices)}.")
    return value


def env_rate(name: str, default: str) -> str:
    """A request rate such as ``60/min``."""
    value = env_str(name, default).strip()
    if not _RATE.match(value):
        raise ImproperlyConfigured(f"{name}={value!r} is not a rate such as 60/min (count/s, min, hour or day).")
    return value


def env_path(name: str, default: Path) -> Path:
    value = _raw(name)
    return Path(value).expanduser().resolve() if value else default


_URI = re.compile(r"\A[a-z][a-z0-9+.-]*://\S+\Z")


def env_path_or_uri(name: str, default: Path) -> str:
    """A local folder (made absolute) or a URI such as ``s3a://bucket/prefix`` that another system reads.

    A value with ``://`` must be a well-formed URI without spaces; anything else is a path.
    """
    value = _raw(name)
    if not value or not value.strip():
        return str(default)
    value = value.strip()
    if "://" in value:
        if not _URI.match(value) or value.startswith("file://"):
            raise ImproperlyConfigured(
                f"{name}={value!r} is neither a folder nor a URI such as s3a://bucket/prefix (file:// is refused: "
                "give the folder itself)."
            )
        return value.rstrip("/")
    return str(Path(value).expanduser().resolve())
