"""The keyed digest of a data subject's identifier, as prediction logs keep it (``PredictionLog.subject_digest``).

Logs never hold the raw identifier a request names as its ``subject``; they hold HMAC-SHA256 of it under a key
derived from SECRET_KEY, so that an access or erasure request for that subject finds its rows (same identifier, same
digest) while a leaked log table alone does not reveal who was scored. Changing SECRET_KEY makes earlier rows
unfindable by subject: rotate it with that in mind.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

# A label of its own, so that this key differs from every other use of SECRET_KEY (API token digests among them).
_PURPOSE = b"assay.serving.subject-digest.v1"


def _key() -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), _PURPOSE, hashlib.sha256).digest()


def subject_digest(value: str) -> str:
    """The hex digest logs keep for the subject ``value``; empty for an empty value (no subject named)."""
    if not value:
        return ""
    return hmac.new(_key(), value.encode(), hashlib.sha256).hexdigest()
