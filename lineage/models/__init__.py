"""The OpenLineage store: raw events as received, and the graph folded from them (namespaces, datasets with their
schema versions, jobs, runs with their state history, run input/output edges and column edges)."""

from lineage.models.events import LineageEvent
from lineage.models.graph import (
    ColumnEdge,
    DatasetSchema,
    LineageDataset,
    LineageJob,
    LineageRun,
    Namespace,
    RunEdge,
    RunTransition,
)
from lineage.models.outbox import LineageDelivery

__all__ = [
    "ColumnEdge",
    "DatasetSchema",
    "LineageDataset",
    "LineageDelivery",
    "LineageEvent",
    "LineageJob",
    "LineageRun",
    "Namespace",
    "RunEdge",
    "RunTransition",
]
