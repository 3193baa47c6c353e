"""Scoring a dataset with ONNX Runtime on Spark and aggregating per-group confusion counts in one pass.

A function of data: a Spark frame and the model's bytes and interface in, a small pandas frame of cells out (one
row per distinct protected attribute values, label, prediction at the threshold and score bin, with its row
count), which audits.pipelines.fairness turns into figures. One ONNX Runtime session per partition (mapInPandas
calls the scorer once per partition, with the partition's Arrow batches), never one per row.

Refused here, with a message naming the cause (``ScoringError``): a model input the dataset lacks, a model with no
score output, a label that is not binary (null, or a value other than 0 and 1), scores that are NaN, infinite or
outside [0, 1].
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from audits.pipelines import AuditError
from audits.pipelines.fairness import COUNT, LABEL, PREDICTION, SCORE_BIN
from registry.interface import InputFeed, InterfaceError, input_feeds

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

MISSING = "(missing)"
SCORE = "score"
DEFAULT_BINS = 1000
NUMPY_TYPES = {
    "float32": np.float32,
    "float64": np.float64,
    "double": np.float64,
    "float": np.float32,
    "float16": np.float16,
    "int8": np.int8,
    "int16": np.int16,
    "int64": np.int64,
    "int32": np.int32,
    "bool": np.bool_,
}


class ScoringError(AuditError):
    """The data or the model cannot be scored (the message names why, for the job's error)."""


@dataclass(frozen=True)
class ScoringPlan:
    """How to feed the model (``feeds``: each ONNX input and the dataset columns feeding it, registry.interface) and
    read its score (``output``: name, column of the positive class or None for a one-column score)."""

    feeds: tuple[InputFeed, ...]
    output: tuple[str, int | None]

    @property
    def columns(self) -> list[str]:
        """The dataset columns the model reads, each once."""
        return list(dict.fromkeys(column for feed in self.feeds for column in feed.columns))


def plan_scoring(interface: dict[str, Any], columns: Sequence[str]) -> ScoringPlan:
    """Match the model's inputs to the dataset's columns (by name, ignoring case) and find its score output: a
    float tensor of two columns (the positive class's probability is the second) or of one."""
    by_name = {column.casefold(): column for column in columns}
    try:
        wanted = input_feeds(interface)
    except InterfaceError as error:
        raise ScoringError(str(error)) from None
    feeds = []
    missing: list[str] = []
    for feed in wanted:
        found = [by_name.get(column.casefold()) for column in feed.columns]
        missing.extend(column for column, match in zip(feed.columns, found, strict=True) if match is None)
        if feed.elem_type not in NUMPY_TYPES and feed.elem_type != "string":
            raise ScoringError(f"The model's input {feed.input!r} ({feed.elem_type}) cannot be fed from a column.")
        feeds.append(InputFeed(feed.input, tuple(match or "" for match in found), feed.elem_type, feed.rank))
    if missing:
        raise ScoringError(
            f"The dataset's columns do not match the model's interface: it lacks {', '.join(sorted(missing))}."
        )
    return ScoringPlan(tuple(feeds), score_output(interface))


def score_output(interface: dict[str, Any]) -> tuple[str, int | None]:
    """The model's score: the name of a float tensor output of the positive class's probability and its column (1
    of a two-column output), or None for a one-column score; ``ScoringError`` when it has none (a multi-class or
    multi-output model). An output whose name says "prob" is preferred."""
    outputs = [
        v for v in interface.get("outputs", []) if v.get("kind") == "tensor" and "float" in v.get("elem_type", "")
    ]
    for value in sorted(outputs, key=lambda v: "prob" not in str(v.get("name", "")).lower()):
        shape = value.get("shape") or []
        if len(shape) == 2 and shape[-1] == 2:
            return str(value["name"]), 1
        if len(shape) == 1 or (len(shape) == 2 and shape[-1] == 1):
            return str(value["name"]), None
    raise ScoringError("The model has no score output: a float tensor of the positive class's probability.")


def feed_arrays(plan: ScoringPlan, batch: pd.DataFrame) -> dict[str, np.ndarray]:
    """The ONNX Runtime feeds for a pandas batch holding the plan's columns: one array per input, a matrix input's
    columns stacked in the order its metadata names them."""
    feeds = {}
    for feed in plan.feeds:
        if feed.elem_type == "string":
            arrays = [batch[column].astype(str).to_numpy(dtype=object) for column in feed.columns]
        else:
            arrays = [batch[column].to_numpy(dtype=NUMPY_TYPES[feed.elem_type]) for column in feed.columns]
        if feed.matrix:
            feeds[feed.input] = np.column_stack(arrays)
        else:
            feeds[feed.input] = arrays[0].reshape(-1, 1) if feed.rank == 2 else arrays[0]
    return feeds


def run_scores(session: Any, plan: ScoringPlan, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """The positive class's score of each row fed, as float64 (one ONNX Runtime call)."""
    name, positive = plan.output
    (scores,) = session.run([name], feeds)
    scores = np.asarray(scores, dtype=np.float64)
    return scores[:, positive] if positive is not None else scores.reshape(-1)


def score_batch(session: Any, plan: ScoringPlan, batch: pd.DataFrame) -> np.ndarray:
    """The positive class's score of each row of ``batch``, as float64 (one ONNX Runtime call for the batch)."""
    return run_scores(session, plan, feed_arrays(plan, batch))


def open_session(onnx_bytes: bytes) -> Any:
    """One ONNX Runtime session on one thread (Spark runs a task per core): opened once per partition."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


def scorer(onnx_bytes: bytes, plan: ScoringPlan, label: str, attributes: Sequence[str]) -> Any:
    """The function mapInPandas runs on each partition: one session for all its batches."""

    def score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pandas as pd

        session = open_session(onnx_bytes)
        for batch in batches:
            scores = score_batch(session, plan, batch)
            out = pd.DataFrame({attribute: batch[attribute].astype("string") for attribute in attributes})
            for attribute in attributes:
                out[attribute] = out[attribute].fillna(MISSING).astype(str)
            out[LABEL] = pd.to_numeric(batch[label], errors="coerce").astype("float64")
            out[SCORE] = scores
            yield out

    return score_partition


def aggregate_cells(
    frame: DataFrame,
    onnx_bytes: bytes,
    interface: dict[str, Any],
    *,
    label: str,
    attributes: Sequence[str],
    threshold: float,
    bins: int = DEFAULT_BINS,
    segment: str | None = None,
) -> pd.DataFrame:
    """Score ``frame`` and count its rows per (attributes, segment when given, label, prediction, score bin), in
    one pass; raises ScoringError when the label is not binary or a score is not a probability."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    groups = list(dict.fromkeys([*attributes, *([segment] if segment is not None else [])]))
    missing = [c for c in (label, *groups) if c not in frame.columns]
    if missing:
        raise ScoringError(f"The dataset lacks the column(s) {', '.join(missing)}.")
    plan = plan_scoring(interface, frame.columns)
    needed = list(dict.fromkeys([*plan.columns, label, *groups]))
    schema = StructType(
        [StructField(a, StringType()) for a in groups]
        + [StructField(LABEL, DoubleType()), StructField(SCORE, DoubleType())]
    )
    scored = frame.select(*needed).mapInPandas(scorer(onnx_bytes, plan, label, groups), schema)
    score = F.col(SCORE)
    bad_score = F.isnan(score) | score.isNull() | (score < 0) | (score > 1)
    bad_label = F.col(LABEL).isNull() | ~F.col(LABEL).isin(0.0, 1.0)
    cells_frame = (
        scored.select(
            *groups,
            F.when(bad_label, F.lit(-1)).otherwise(F.col(LABEL).cast("int")).alias(LABEL),
            F.when(bad_score, F.lit(-1)).otherwise((score >= F.lit(threshold)).cast("int")).alias(PREDICTION),
            F.when(bad_score, F.lit(-1))
            .otherwise(F.least(F.floor(score * bins).cast("int"), F.lit(bins - 1)))
            .alias(SCORE_BIN),
        )
        .groupBy(*groups, LABEL, PREDICTION, SCORE_BIN)
        .agg(F.count(F.lit(1)).alias(COUNT))
    )
    cells: Any = cells_frame.toPandas()
    bad = cells[cells[PREDICTION] < 0][COUNT].sum()
    if bad:
        raise ScoringError(f"The model returned {bad} score(s) that are NaN, infinite or outside [0, 1].")
    nonbinary = cells[cells[LABEL] < 0][COUNT].sum()
    if nonbinary:
        raise ScoringError(
            f"The label column {label!r} is not binary: {nonbinary} row(s) hold a null or a value other than 0 and 1."
        )
    return cells
