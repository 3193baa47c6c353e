"""Spark pipelines of the registry: reading dataset versions (``io``), materializing feature views (``features``),
training models (``training``). Each function takes a SparkSession from its caller (workers.spark.get_spark in the
workers, the ``spark`` fixture in the tests) and never starts one itself. docs/spark-jobs.md.
"""

from __future__ import annotations

from collections.abc import Iterable


def entity_key_column(entity: str, columns: Iterable[str]) -> str | None:
    """The column holding a feature view's entity key: ``<entity>_id`` (``customer_id`` for ``customer``), or a
    column named as the entity itself; None when the schema has neither. Names compare without case, as in Spark."""
    by_fold = {name.casefold(): name for name in columns}
    for candidate in (f"{entity}_id", entity):
        if candidate.casefold() in by_fold:
            return by_fold[candidate.casefold()]
    return None
