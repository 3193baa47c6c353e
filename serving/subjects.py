"""The data subject of a scored request (docs/serving.md, "Prediction logs: API, pages, subjects and retention").

A request may name its data subject (``"subject"`` in the rows form). The log keeps only ``subject_digest``: the
same keyed hash (HMAC-SHA256 under SECRET_KEY, compliance's salt) that a data-subject request stores, so that an
access or erasure request finds the subject's prediction logs by equality, and the log never holds the raw
identifier. One function for both, so they cannot drift apart.
"""

from __future__ import annotations

from compliance.subjects import subject_digest as compliance_subject_digest


def subject_digest(value: str) -> str:
    """The keyed hash a prediction log keeps of the subject's identifier (64 hex characters)."""
    return compliance_subject_digest(value)
