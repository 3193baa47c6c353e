"""Enumerations of the registry. Stored values are stable strings: never rename one, add a new one."""

from django.db import models


class RiskTier(models.TextChoices):
    """The EU AI Act's tiers (Regulation (EU) 2024/1689): a prohibited use case is recorded so it can be refused."""

    MINIMAL = "minimal", "Minimal risk"
    LIMITED = "limited", "Limited risk (transparency duties)"
    HIGH = "high", "High risk"
    PROHIBITED = "prohibited", "Prohibited practice"


class DecisionMode(models.TextChoices):
    AUTOMATED = "automated", "Automated decision"
    DECISION_SUPPORT = "decision_support", "Decision support (a person decides)"


class StorageFormat(models.TextChoices):
    PARQUET = "parquet", "Parquet"
    AVRO = "avro", "Avro"
    ORC = "orc", "ORC"
    CSV = "csv", "CSV"
    DELTA = "delta", "Delta"


class Classification(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential"
    RESTRICTED = "restricted", "Restricted"


class LegalBasis(models.TextChoices):
    """GDPR article 6(1); ``not_applicable`` for data that holds no personal data."""

    NOT_APPLICABLE = "not_applicable", "Not applicable (no personal data)"
    CONSENT = "consent", "Consent"
    CONTRACT = "contract", "Contract"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation"
    VITAL_INTERESTS = "vital_interests", "Vital interests"
    PUBLIC_TASK = "public_task", "Public task"
    LEGITIMATE_INTERESTS = "legitimate_interests", "Legitimate interests"


class FingerprintSource(models.TextChoices):
    COMPUTED = "computed", "Computed by Assay from the data"
    SUPPLIED = "supplied", "Supplied by the client"


class Aggregation(models.TextChoices):
    """How a feature is computed from the rows of its time window; ``none`` reads a column as it is."""

    NONE = "none", "None (the value as it is)"
    COUNT = "count", "Count"
    DISTINCT_COUNT = "distinct_count", "Distinct count"
    SUM = "sum", "Sum"
    MEAN = "mean", "Mean"
    MIN = "min", "Minimum"
    MAX = "max", "Maximum"
    LAST = "last", "Last value"


class VersionStatus(models.TextChoices):
    REGISTERED = "registered", "Registered"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    DEPLOYED = "deployed", "Deployed"
    DEPRECATED = "deprecated", "Deprecated"
    RETIRED = "retired", "Retired"


# The lifecycle of a model version: each allowed (from, to). Anything else is refused. A version sent back from
# review returns to "registered"; a deprecated version may be deployed again while it is still needed.
VERSION_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (VersionStatus.REGISTERED, VersionStatus.IN_REVIEW),
        (VersionStatus.REGISTERED, VersionStatus.RETIRED),
        (VersionStatus.IN_REVIEW, VersionStatus.REGISTERED),
        (VersionStatus.IN_REVIEW, VersionStatus.APPROVED),
        (VersionStatus.IN_REVIEW, VersionStatus.RETIRED),
        (VersionStatus.APPROVED, VersionStatus.DEPLOYED),
        (VersionStatus.APPROVED, VersionStatus.DEPRECATED),
        (VersionStatus.DEPLOYED, VersionStatus.DEPRECATED),
        (VersionStatus.DEPRECATED, VersionStatus.DEPLOYED),
        (VersionStatus.DEPRECATED, VersionStatus.RETIRED),
    }
)
