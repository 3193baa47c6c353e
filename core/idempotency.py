"""The one rule for idempotency keys, wherever a request may carry one (jobs, deployments).

A key is 1 to 128 characters of letters, digits and ``._:-``: enough for a UUID, a CI pipeline id
(``$CI_PIPELINE_ID``, ``gitlab:1234.5``) or ``ui-<hex>``, and nothing a log line or a URL would need to escape. The
API's serializers and the web forms check it with ``validate_idempotency_key``; the actions with
``clean_idempotency_key``, which also reads "no key" (``None`` or ``""``) as ``""``.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

IDEMPOTENCY_KEY_MAX = 128
_KEY = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# The same rule as a pattern for schemas (OpenAPI's patterns are ECMAScript: no \A or \Z).
IDEMPOTENCY_KEY_PATTERN = "^[A-Za-z0-9._:-]{1,128}$"
IDEMPOTENCY_KEY_HELP = "1 to 128 characters: letters, digits and '._:-'."


def validate_idempotency_key(value: object) -> None:
    """A Django validator: a ``ValidationError`` unless ``value`` is a well-formed key."""
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        raise ValidationError(IDEMPOTENCY_KEY_HELP, code="invalid")


def clean_idempotency_key(value: object, field: str = "idempotency_key") -> str:
    """The key, or ``""`` for no key; a ``ValidationError`` on ``field`` for anything else."""
    if value is None or value == "":
        return ""
    try:
        validate_idempotency_key(value)
    except ValidationError:
        raise ValidationError({field: IDEMPOTENCY_KEY_HELP}) from None
    assert isinstance(value, str)
    return value
