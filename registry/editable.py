"""The fields of each registry object that people edit: what the actions apply and audit, and what the API's
serializers accept (and show) beside the team and the read-only columns. One list per object, used by both, so that
a field added here is editable everywhere at once."""

from __future__ import annotations

USE_CASE_FIELDS: tuple[str, ...] = (
    "name",
    "objective",
    "kpis",
    "expected_roi",
    "roi_measurement",
    "decision_mode",
    "output_users",
    "scope",
    "limitations",
    "owner",
    "stakeholders",
    "risk_tier",
    "cost_false_positive",
    "cost_false_negative",
)
DATASET_FIELDS: tuple[str, ...] = (
    "name",
    "owner",
    "description",
    "storage_format",
    "location",
    "partitioning",
    "residency_region",
    "classification",
    "legal_basis",
)
MODEL_FIELDS: tuple[str, ...] = (
    "name",
    "owner",
    "on_call",
    "escalation_path",
    "use_case",
    "description",
    "intended_use",
    "limitations",
    "assumptions",
    "upstream_dependencies",
    "tags",
)
FEATURE_VIEW_FIELDS: tuple[str, ...] = (
    "name",
    "entity",
    "source_dataset",
    "event_time_column",
    "features",
    "owner",
    "description",
)
