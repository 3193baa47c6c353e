"""Enumerations shared across Assay. Stored values are stable strings: never rename one, add a new one."""

from django.db import models


class Role(models.TextChoices):
    ENGINEER = "engineer", "Engineer"
    REVIEWER = "reviewer", "Reviewer"
    COMPLIANCE_OFFICER = "compliance_officer", "Compliance officer"
    AUDITOR = "auditor", "Auditor"
    ADMIN = "admin", "Team admin"


class BoardRole(models.TextChoices):
    LEGAL = "legal", "Legal"
    COMPLIANCE = "compliance", "Compliance"
    RISK = "risk", "Risk"
    PRIVACY = "privacy", "Privacy / DPO"
    TECHNICAL = "technical", "Technical"


class TokenKind(models.TextChoices):
    PERSONAL = "personal", "Personal"
    SERVICE = "service", "Service account"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_JOB_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class AuditEventType(models.TextChoices):
    USER_CREATED = "user.created", "User created"
    TEAM_CREATED = "team.created", "Team created"
    TEAM_UPDATED = "team.updated", "Team updated"
    MEMBERSHIP_GRANTED = "membership.granted", "Membership granted"
    MEMBERSHIP_REVOKED = "membership.revoked", "Membership revoked"
    SERVICE_ACCOUNT_CREATED = "service_account.created", "Service account created"
    TOKEN_CREATED = "token.created", "API token created"
    TOKEN_REVOKED = "token.revoked", "API token revoked"
    LOGIN_SUCCEEDED = "auth.login_succeeded", "Login succeeded"
    LOGIN_FAILED = "auth.login_failed", "Login failed"
    LOGIN_LOCKED_OUT = "auth.locked_out", "Account locked out"
    LOGOUT = "auth.logout", "Logout"
    AUDIT_CHAIN_VERIFIED = "audit.chain_verified", "Audit chain verified"
    AUDIT_CHECKPOINT_SIGNED = "audit.checkpoint_signed", "Audit checkpoint signed"
    JOB_REQUESTED = "job.requested", "Job requested"
    JOB_STARTED = "job.started", "Job started"
    JOB_INTERRUPTED = "job.interrupted", "Job interrupted (worker stopped)"
    JOB_SUCCEEDED = "job.succeeded", "Job succeeded"
    JOB_FAILED = "job.failed", "Job failed"
    JOB_CANCEL_REQUESTED = "job.cancel_requested", "Job cancellation requested"
    JOB_CANCELLED = "job.cancelled", "Job cancelled"
