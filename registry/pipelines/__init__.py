"""Spark pipelines of the registry: reading dataset versions (``io``), materializing feature views (``features``),
training models (``training``). Each function takes a SparkSession from its caller (workers.spark.get_spark in the
workers, the ``spark`` fixture in the tests) and never starts one itself. docs/spark-jobs.md.
"""

from __future__ import annotations
