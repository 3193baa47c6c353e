"""Objects and fixtures the registry's model and API tests share: a use case, a dataset with versions, a registered
model with a real ONNX version (the ``models`` fixture of tests/registry/conftest.py builds the files)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from registry import actions
from tests.api_cases import World

SCHEMA: dict[str, Any] = {
    "columns": [
        {"name": "customer_id", "type": "int64", "nullable": False},
        {"name": "age", "type": "int32", "nullable": True, "personal_data": True, "protected_attribute": True},
        {"name": "income", "type": "float64", "nullable": True, "personal_data": True},
        {"name": "churned", "type": "boolean", "nullable": False},
    ]
}


def fingerprint(text: str = "rows") -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Throttle counters live in the cache: every test starts and ends with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def artifact_root(settings: Any, tmp_path: Path) -> Path:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    return Path(settings.ARTIFACT_ROOT)


@pytest.fixture
def world(cast: Any, api_as: Any, artifact_root: Path) -> World:
    return World(cast=cast, make_client=api_as)


def make_use_case(team: Any, actor: Any, **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "name": "Churn prevention",
        "objective": "Keep customers who would leave.",
        "kpis": [{"name": "churn_rate", "unit": "%", "baseline": 12.0, "target": 9.0}],
        "expected_roi": "2 MEUR a year",
        "roi_measurement": "Retained revenue of contacted customers against a holdout group.",
        "decision_mode": "decision_support",
        "output_users": "Retention agents",
        "scope": "Consumer contracts in the EU",
        "limitations": "Not for credit decisions.",
        "owner": actor,
        "stakeholders": ["Retention team", "DPO"],
        "risk_tier": "limited",
    }
    fields.update(overrides)
    return actions.do_create_use_case(team, actor=actor, **fields)


def make_dataset(team: Any, actor: Any, **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "name": "Customers",
        "owner": actor,
        "description": "One row per customer and month.",
        "storage_format": "parquet",
        "location": "s3://lake/customers/",
        "partitioning": ["month"],
        "residency_region": "eu-west-1",
        "classification": "confidential",
        "legal_basis": "contract",
    }
    fields.update(overrides)
    return actions.do_create_dataset(team, actor=actor, **fields)


def make_dataset_version(dataset: Any, actor: Any, schema: dict[str, Any] | None = None, **overrides: Any) -> Any:
    fields: dict[str, Any] = {"content_fingerprint": fingerprint(f"{dataset.pk}-{dataset.versions.count()}")}
    fields.update(overrides)
    return actions.do_register_dataset_version(dataset, actor=actor, schema=schema or SCHEMA, **fields)


def make_model(team: Any, actor: Any, **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "name": "Churn scorer",
        "owner": actor,
        "on_call": "#churn-oncall",
        "escalation_path": "On-call engineer, then the team lead.",
        "description": "Scores churn risk.",
        "intended_use": "Rank customers for retention calls.",
        "limitations": "Not calibrated below 1% risk.",
        "assumptions": "Monthly data.",
        "upstream_dependencies": ["customers-etl"],
        "tags": ["churn", "tier-1"],
    }
    fields.update(overrides)
    return actions.do_create_model(team, actor=actor, **fields)


def chunks_of(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(64 * 1024):
            yield chunk


def make_model_version(model: Any, actor: Any, path: Path, **overrides: Any) -> Any:
    fields: dict[str, Any] = {"filename": path.name, "metrics": {"auc": 0.91}, "training_params": {"C": 1.0}}
    fields.update(overrides)
    return actions.do_register_model_version(model, actor=actor, chunks=chunks_of(path), **fields)


EVENTS_SCHEMA: dict[str, Any] = {
    "columns": [
        {"name": "customer_id", "type": "int64", "nullable": False},
        {"name": "event_time", "type": "timestamp", "nullable": False},
        {"name": "amount", "type": "decimal(12,2)", "nullable": True},
        {"name": "channel", "type": "string", "nullable": True},
    ]
}

# A spine: the rows (entity, event time) to compute features at, with the label.
SPINE_SCHEMA: dict[str, Any] = {
    "columns": [
        {"name": "customer_id", "type": "int64", "nullable": False},
        {"name": "event_time", "type": "timestamp", "nullable": False},
        {"name": "churned", "type": "boolean", "nullable": False},
        {"name": "segment", "type": "string", "nullable": True},
    ]
}

FEATURES: list[dict[str, Any]] = [
    {"name": "spend_7d", "definition": "amount", "aggregation": "sum", "window": "7d", "description": "Spend"},
    {"name": "orders_30d", "definition": "1", "aggregation": "count", "window": "30d"},
    {"name": "last_channel", "definition": "channel", "aggregation": "last", "window": "90d"},
]


def make_events_dataset(team: Any, actor: Any, **overrides: Any) -> tuple[Any, Any]:
    dataset = make_dataset(team, actor, name=overrides.pop("name", "Events"), **overrides)
    return dataset, make_dataset_version(dataset, actor, schema=EVENTS_SCHEMA)


def make_feature_view(team: Any, actor: Any, dataset: Any, **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "name": "customer_activity",
        "entity": "customer",
        "source_dataset": dataset,
        "event_time_column": "event_time",
        "features": FEATURES,
        "owner": actor,
        "description": "Spending and ordering behaviour per customer.",
    }
    fields.update(overrides)
    return actions.do_create_feature_view(team, actor=actor, **fields)
