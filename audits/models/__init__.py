"""Audit reports: immutable results of an audit job, bound to the artifact and the dataset they were computed on;
audit plans: how a release request runs the audits its policy requires; and the justifications compliance officers
record for the proxies a report flagged."""

from audits.models.justifications import ProxyJustification
from audits.models.plans import AuditPlan
from audits.models.reports import AuditReport

__all__ = ["AuditPlan", "AuditReport", "ProxyJustification"]
