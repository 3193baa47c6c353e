"""Audit reports: immutable results of an audit job, bound to the artifact and the dataset they were computed on;
audit plans: how a release request runs the audits its policy requires; and the justifications compliance officers
record for the proxies a report flagged; and the reason catalogues that turn a decision's explanation into sentences."""

from audits.models.justifications import ProxyJustification
from audits.models.plans import AuditPlan
from audits.models.reasons import ReasonCatalogue, ReasonDirection
from audits.models.reports import AuditReport

__all__ = ["AuditPlan", "AuditReport", "ProxyJustification", "ReasonCatalogue", "ReasonDirection"]
