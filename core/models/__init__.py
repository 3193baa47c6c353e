from core.models.audit import AuditCheckpoint, AuditEvent
from core.models.identity import ExternalIdentity, GroupMapping
from core.models.jobs import Job, JobLogLine
from core.models.notifications import Notification, NotificationPreference, WebhookDelivery, WebhookEndpoint
from core.models.teams import Membership, ServiceAccount, Team
from core.models.tokens import ApiToken

__all__ = [
    "ApiToken",
    "AuditCheckpoint",
    "AuditEvent",
    "ExternalIdentity",
    "GroupMapping",
    "Job",
    "JobLogLine",
    "Membership",
    "Notification",
    "NotificationPreference",
    "ServiceAccount",
    "Team",
    "WebhookDelivery",
    "WebhookEndpoint",
]
