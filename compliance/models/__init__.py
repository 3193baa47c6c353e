"""Compliance records: DPIAs, retention policies and their runs, legal holds, data-subject requests."""

from compliance.models.subjects import (
    DatasetFilesErasure,
    SubjectErasure,
    SubjectRequest,
    SubjectRequestKind,
    SubjectRequestStatus,
    SubjectRequestTransition,
    SubjectSearch,
)

__all__ = [
    "DatasetFilesErasure",
    "SubjectErasure",
    "SubjectRequest",
    "SubjectRequestKind",
    "SubjectRequestStatus",
    "SubjectRequestTransition",
    "SubjectSearch",
]
