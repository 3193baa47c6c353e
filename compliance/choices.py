"""Enumerations of the compliance app. Stored values are stable strings: never rename one, add a new one."""

from django.db import models


class HoldScope(models.TextChoices):
    DATASET = "dataset", "A dataset"
    MODEL = "model", "A registered model"
    USE_CASE = "use_case", "A use case"
    TEAM = "team", "A whole team"
    SUBJECT = "subject", "Every record about one data subject"


class HoldStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RELEASE_REQUESTED = "release_requested", "Release requested (still holding)"
    RELEASED = "released", "Released"


class CountedFrom(models.TextChoices):
    """The date a retention period counts from: each target kind says which it offers."""

    CREATED = "created", "Creation"
    RETIRED = "retired", "Retirement"
    FINISHED = "finished", "Job end"
    LAST_USED = "last_used", "Last use"


class OnExpiry(models.TextChoices):
    DELETE = "delete", "Delete the bytes, keep a metadata tombstone"
    ANONYMISE = "anonymise", "Anonymise"


class PurgeState(models.TextChoices):
    PENDING = "pending", "Pending (bytes may be partly deleted)"
    DONE = "done", "Done"


class GrantStatus(models.TextChoices):
    """Where a data access grant stands. ``approved`` needs both sides; until its ``expires_at`` it covers use."""

    REQUESTED = "requested", "Awaiting approval"
    APPROVED = "approved", "Approved by both sides"
    REFUSED = "refused", "Refused"
    REVOKED = "revoked", "Revoked"
    WITHDRAWN = "withdrawn", "Withdrawn by the requesting team"


class GrantSide(models.TextChoices):
    """Who judges a grant: an admin of the team that owns the dataset, and a compliance officer."""

    OWNER = "owner", "Owning team's admin"
    COMPLIANCE = "compliance", "Compliance officer"


class GrantDecision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REFUSE = "refuse", "Refuse"
