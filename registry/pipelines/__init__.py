"""Spark pipelines of the registry: reading dataset versions (``io``), materializing feature views (``features``,
with ``feature_definitions`` checking them and ``statistics`` summarising the output), training models
(``training``, with ``training_data`` preparing the rows, ``metrics`` choosing the threshold and measuring, and
``onnx_export`` exporting and checking parity). Each function takes a SparkSession from its caller
(workers.spark.get_spark in the workers, the ``spark`` fixture in the tests) and never starts one itself.
docs/spark-jobs.md.
"""

from __future__ import annotations
