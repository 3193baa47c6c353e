"""Batch scoring: a dataset version's rows scored by a deployed model's ONNX on Spark, written as Parquet.

A function of data: the frame (read and checked by registry.pipelines.io), the verified ONNX bytes and the plan
(serving.pipelines.batch_plan: which columns feed which inputs, which columns the predictions become) in; Parquet
files under the data lake and their figures out. No database, no settings.

``score_dataset`` scores with one ONNX Runtime session per partition (``mapInPandas``: the session is built once
from the broadcast bytes and serves every Arrow batch of the partition), keeps every input column beside the
predictions, writes the result all or nothing (registry.pipelines.io.write_parquet_atomically) and reads it back
through the same reader every later job uses, so that the fingerprint and the files' digest registered are those of
what a reader sees.

Output columns: ``prediction_<output>`` for each tensor output of one value per row, ``prediction_<output>_<i>`` for
each column of a ``[N, k]`` output (a classifier's probabilities: ``prediction_probabilities_1`` is the positive
class). Outputs that are not tensors (scikit-learn's ZipMap) are left out, and said so. A float output that is NaN
(the model's answer to a null in a float input) is written as null: Spark's pandas-to-Arrow conversion reads NaN so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from registry.pipelines import io
from serving.pipelines.batch_plan import BatchPlan, BatchScoringError, scorer

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class BatchResult:
    """What was written: the rows, the content fingerprint and the files' digest as a reader computes them."""

    row_count: int
    content_fingerprint: str
    files_digest: str | None


def score_dataset(
    spark: SparkSession,
    frame: DataFrame,
    onnx_bytes: bytes,
    plan: BatchPlan,
    output: io.DataSource,
    *,
    lake_root: str,
    owner: str,
) -> BatchResult:
    """Score ``frame`` and write it to ``output.location`` (a ``lake://`` place, under ``lake_root``) as Parquet of
    ``output.schema``, then read it back through registry.pipelines.io for its figures. A null in a column that
    feeds an integer, boolean or string input fails with ``BatchScoringError`` before anything is written (a float
    input gets NaN, which ONNX models handle or pass on)."""
    from pyspark.sql import functions as f
    from pyspark.sql.types import StructField, StructType

    strict = [c for feed in plan.feeds if not feed.elem_type.startswith("float") for c in feed.columns]
    if strict:
        nulls = frame.agg(*(f.sum(f.col(f"`{c}`").isNull().cast("int")).alias(c) for c in strict)).collect()[0]
        offending = [f"{c} ({nulls[c]})" for c in strict if nulls[c]]
        if offending:
            raise BatchScoringError(f"Columns feeding non-float inputs hold nulls: {', '.join(offending)}.")
    # Nullable: Spark's pandas-to-Arrow conversion writes a NaN score (a model's answer to a NaN input) as null.
    schema = StructType(
        [*frame.schema.fields] + [StructField(column.name, io.spark_type(column.type)) for column in plan.outputs]
    )
    model = spark.sparkContext.broadcast(onnx_bytes)
    try:
        scored = frame.mapInPandas(scorer(model, plan), schema)
        destination = io.resolve_location(output.location, lake_root=lake_root)
        if "://" in destination:
            # A lake on an object store (a cluster's): Spark's own commit protocol, no local rename.
            scored.write.mode("overwrite").parquet(destination)
        else:
            io.write_parquet_atomically(scored, Path(destination), artifact_root=Path(lake_root), owner=owner)
    finally:
        model.unpersist()
    read = io.read_dataset_version(spark, output, lake_root=lake_root)
    return BatchResult(
        row_count=read.frame.count(),
        content_fingerprint=io.content_fingerprint(read.frame),
        files_digest=read.files_digest,
    )
