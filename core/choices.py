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


class MembershipSource(models.TextChoices):
    """Who keeps a membership: a team admin (``local``) or the organisation's identity provider (``sso``), whose
    memberships follow the groups it asserts at each sign-in (core.sso)."""

    LOCAL = "local", "Granted in Assay"
    SSO = "sso", "From the identity provider's groups"


class NotificationDelivery(models.TextChoices):
    """How a user receives one kind of notification by email."""

    IMMEDIATE = "immediate", "Email at once"
    DIGEST = "digest", "In the daily digest"
    OFF = "off", "Not by email"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENT = "sent", "Sent"
    DIGESTED = "digested", "Sent in a digest"
    FAILED = "failed", "Failed (retries exhausted)"
    SKIPPED = "skipped", "Not sent (email off, or no address)"


class WebhookStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENT = "sent", "Delivered (2xx)"
    FAILED = "failed", "Failed (retries exhausted)"


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
    USE_CASE_CREATED = "use_case.created", "Use case created"
    USE_CASE_UPDATED = "use_case.updated", "Use case updated"
    KPI_OBSERVATION_RECORDED = "use_case.kpi_observed", "KPI observation recorded"
    DATASET_CREATED = "dataset.created", "Dataset created"
    DATASET_UPDATED = "dataset.updated", "Dataset updated"
    DATASET_VERSION_REGISTERED = "dataset.version_registered", "Dataset version registered"
    DATASET_VERSION_REFUSED = "dataset.version_refused", "Dataset version refused"
    DATASET_VERSION_DATA_CHANGED = "dataset.data_changed", "Dataset version's files changed after Assay first read them"
    MODEL_CREATED = "model.created", "Registered model created"
    MODEL_UPDATED = "model.updated", "Registered model updated"
    MODEL_VERSION_REGISTERED = "model.version_registered", "Model version registered"
    MODEL_VERSION_REFUSED = "model.version_refused", "Model version refused"
    MODEL_VERSION_STATUS_CHANGED = "model.version_status_changed", "Model version status changed"
    ARTIFACT_CORRUPTED = "artifact.corrupted", "Stored artifact failed its digest check"
    FEATURE_VIEW_CREATED = "feature_view.created", "Feature view created"
    FEATURE_VIEW_UPDATED = "feature_view.updated", "Feature view updated"
    FEATURE_SET_VERSION_REGISTERED = "feature_view.version_registered", "Feature-set version registered"
    ENVIRONMENT_CREATED = "environment.created", "Environment created"
    BOARD_CREATED = "board.created", "Review board created"
    BOARD_MEMBER_ADDED = "board.member_added", "Board member added"
    BOARD_MEMBER_REMOVED = "board.member_removed", "Board member removed"
    POLICY_CREATED = "policy.created", "Release policy created"
    POLICY_VERSION_CREATED = "policy.version_created", "Release policy version created"
    SIGNING_KEY_REGISTERED = "signing_key.registered", "Signing key registered"
    SIGNING_KEY_REVOKED = "signing_key.revoked", "Signing key revoked"
    SIGNING_KEY_REFUSED = "signing_key.refused", "Signing key refused"
    RELEASE_REQUESTED = "release.requested", "Release requested"
    RELEASE_WITHDRAWN = "release.withdrawn", "Release withdrawn"
    RELEASE_BUNDLE_EXPORTED = "release.bundle_exported", "Release bundle exported"
    APPROVAL_SIGNED = "approval.signed", "Approval signed"
    APPROVAL_REFUSED = "approval.refused", "Approval refused"
    GATE_FAILED = "gate.failed", "Deployment refused by the gate"
    DEPLOYMENT_CREATED = "deployment.created", "Deployment created"
    # serving: traffic, retirement, the inference service (serving/actions.py, serving/inference/)
    DEPLOYMENT_RETIRED = "deployment.retired", "Model retired from an environment (no longer served)"
    DEPLOYMENT_TRIAL_ENDED = "deployment.trial_ended", "Canary or shadow ended"
    INFERENCE_SCOPE_SET = "serving.scope_set", "Inference scope of a token set"
    SERVING_LOAD_REFUSED = "serving.load_refused", "Inference service refused to load an artifact (digest mismatch)"
    PREDICTION_LOGS_DROPPED = "serving.logs_dropped", "Prediction logs dropped (buffer overflow)"
    PREDICTION_LOGS_ERASED = "serving.logs_erased", "Prediction log inputs of a data subject erased"
    # lineage (ingestion of OpenLineage events: lineage.actions)
    LINEAGE_EVENTS_INGESTED = "lineage.events_ingested", "Lineage events ingested"
    LINEAGE_WRITE_REFUSED = "lineage.write_refused", "Lineage events refused (namespace of another team)"
    LINEAGE_NAMESPACE_CLAIMED = "lineage.namespace_claimed", "Lineage namespace claimed"
    LINEAGE_NAMESPACE_ASSIGNED = "lineage.namespace_assigned", "Lineage namespace assigned"
    # lineage (links to the registry: lineage.links, lineage.actions.do_relink)
    LINEAGE_RELINKED = "lineage.relinked", "Lineage nodes linked to registry objects"
    # compliance: DPIAs and column reclassification (compliance/actions/dpia.py)
    DPIA_CREATED = "dpia.created", "DPIA created"
    DPIA_UPDATED = "dpia.updated", "DPIA draft edited"
    DPIA_SCREENED = "dpia.screened", "DPIA screening recorded"
    DPIA_SUBMITTED = "dpia.submitted", "DPIA submitted for review"
    DPIA_APPROVED = "dpia.approved", "DPIA approved"
    DPIA_RETURNED = "dpia.returned", "DPIA returned to its author"
    DPIA_VERSION_CREATED = "dpia.version_created", "DPIA new version started"
    DPIA_REFUSED = "dpia.refused", "DPIA change refused"
    COLUMN_RECLASSIFIED = "dataset.column_reclassified", "Dataset column reclassified"
    # audits/
    AUDIT_REPORT_REGISTERED = "audit_report.registered", "Audit report registered"
    AUDIT_PLAN_SET = "audit_plan.set", "Audit plan set"
    AUDIT_PLAN_DELETED = "audit_plan.deleted", "Audit plan removed"
    PROXY_JUSTIFIED = "audit_report.proxy_justified", "Flagged proxy justified by a compliance officer"
    REASON_CATALOGUE_SET = "model.reasons_set", "Reason catalogue of a model set"
    # compliance: retention policies, purges and legal holds (compliance/actions/retention.py, holds.py)
    RETENTION_POLICY_CREATED = "retention.policy_created", "Retention policy created"
    RETENTION_POLICY_CHANGED = "retention.policy_changed", "Retention policy changed (new version)"
    RETENTION_PURGE_STARTED = "retention.purge_started", "Record purge started (bytes about to go)"
    RETENTION_PURGED = "retention.purged", "Record purged (bytes deleted, tombstone kept)"
    RETENTION_DELETION_REFUSED = "retention.deletion_refused", "Deletion refused (legal hold or rule)"
    LEGAL_HOLD_PLACED = "legal_hold.placed", "Legal hold placed"
    LEGAL_HOLD_RELEASE_REQUESTED = "legal_hold.release_requested", "Legal hold release requested"
    LEGAL_HOLD_RELEASED = "legal_hold.released", "Legal hold released (second officer confirmed)"
    LEGAL_HOLD_REFUSED = "legal_hold.refused", "Legal hold action refused"
    # compliance: data-subject requests (compliance/actions/subjects.py)
    SUBJECT_REQUEST_CREATED = "subject_request.created", "Data-subject request recorded"
    SUBJECT_REQUEST_REFUSED = "subject_request.refused", "Data-subject request action refused"
    SUBJECT_REQUEST_SEARCHED = "subject_request.searched", "Data-subject search report recorded"
    SUBJECT_REQUEST_ERASED = "subject_request.erased", "Data-subject erasure recorded"
    SUBJECT_REQUEST_CLOSED = "subject_request.closed", "Data-subject request closed"
    SUBJECT_REPORT_EXPORTED = "subject_request.report_exported", "Data-subject report downloaded"
    DATASET_ROWS_ERASED = "dataset.rows_erased", "Dataset version's rows erased for a data subject"
    # core: notifications and webhooks (core/notifications.py, core/actions)
    NOTIFICATION_PREFERENCES_SET = "notification.preferences_set", "Notification preferences set"
    WEBHOOK_CREATED = "webhook.created", "Webhook endpoint created"
    WEBHOOK_DELETED = "webhook.deleted", "Webhook endpoint deleted"
    # core: single sign-on (core/sso.py)
    SSO_MAPPING_CREATED = "sso.mapping_created", "Identity-provider group mapping created"
    SSO_MAPPING_DELETED = "sso.mapping_deleted", "Identity-provider group mapping deleted"
    SSO_LOGIN_REFUSED = "auth.sso_refused", "Single sign-on refused"
    USER_DEACTIVATED = "user.deactivated", "User deactivated (disabled at the identity provider)"
    # compliance: data access grants between teams (compliance/actions/grants.py)
    DATA_GRANT_REQUESTED = "data_grant.requested", "Data access grant requested"
    DATA_GRANT_APPROVED = "data_grant.approved", "Data access grant approved by one side"
    DATA_GRANT_REFUSED = "data_grant.refused", "Data access grant refused"
    DATA_GRANT_REVOKED = "data_grant.revoked", "Data access grant revoked"
    DATA_ACCESS_REFUSED = "data_grant.access_refused", "Use of another team's dataset refused (no grant)"
