"""Compliance records: DPIAs, retention policies and their runs, legal holds, data-subject requests, data access
grants between teams."""

from compliance.models.dpia import ColumnReclassification, Dpia, DpiaTransition, DpiaVersion
from compliance.models.grants import DataAccessGrant, DataAccessGrantDecision
from compliance.models.holds import LegalHold, LegalHoldEvent
from compliance.models.retention import Purge, RetentionPolicy, RetentionPolicyVersion
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
    "ColumnReclassification",
    "DataAccessGrant",
    "DataAccessGrantDecision",
    "DatasetFilesErasure",
    "Dpia",
    "DpiaTransition",
    "DpiaVersion",
    "LegalHold",
    "LegalHoldEvent",
    "Purge",
    "RetentionPolicy",
    "RetentionPolicyVersion",
    "SubjectErasure",
    "SubjectRequest",
    "SubjectRequestKind",
    "SubjectRequestStatus",
    "SubjectRequestTransition",
    "SubjectSearch",
]
