"""Audit reports: immutable results of an audit job, bound to the artifact and the dataset they were computed on."""

from audits.models.reports import AuditReport

__all__ = ["AuditReport"]
