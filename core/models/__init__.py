from core.models.audit import AuditCheckpoint, AuditEvent
from core.models.jobs import Job, JobLogLine
from core.models.teams import Membership, ServiceAccount, Team
from core.models.tokens import ApiToken

__all__ = [
    "ApiToken",
    "AuditCheckpoint",
    "AuditEvent",
    "Job",
    "JobLogLine",
    "Membership",
    "ServiceAccount",
    "Team",
]
