"""Batch scoring's plan and its partition scorer: which columns feed which model inputs, which columns the
predictions become, and the function each Spark partition runs (serving.pipelines.batch_score, which drives them).

Django-free on purpose: Spark's Python workers import this module to run the scorer (cloudpickle pickles the scorer
by reference to it), and Django is not set up there. ``plan_batch`` is pure, and the request checks it before a job
starts (serving.batch), the job again on what it reads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from audits.pipelines.scoring import NUMPY_TYPES, open_session
from registry.interface import InputFeed, InterfaceError, input_feeds

if TYPE_CHECKING:
    import pandas as pd

PREFIX = "prediction_"
NUMERIC_COLUMN_TYPES = frozenset({"boolean", "int8", "int16", "int32", "int64", "float32", "float64"})
# ONNX element types (as registry.onnx_validation spells them) and the registry type of the column they become.
OUTPUT_TYPES = {
    "float32": "float32",
    "float": "float32",
    "float64": "float64",
    "double": "float64",
    "float16": "float32",
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "bool": "boolean",
    "string": "string",
}


class BatchScoringError(ValueError):
    """The dataset cannot be scored by the model as it is (the message names the column or the output)."""


@dataclass(frozen=True)
class OutputColumn:
    """One column of predictions: ``index`` is the column of a ``[N, k]`` output, None for one value per row."""

    name: str
    output: str
    index: int | None
    type: str


@dataclass(frozen=True)
class BatchPlan:
    """How to feed the model (``feeds``, matched to the dataset's column names) and what it writes (``outputs``);
    ``skipped`` names the outputs left out (not tensors)."""

    feeds: tuple[InputFeed, ...]
    outputs: tuple[OutputColumn, ...]
    skipped: tuple[str, ...] = ()

    @property
    def output_names(self) -> list[str]:
        return list(dict.fromkeys(column.output for column in self.outputs))


def _compatible(column_type: str, elem_type: str) -> bool:
    if elem_type == "string":
        return column_type == "string"
    return column_type in NUMERIC_COLUMN_TYPES or column_type.startswith("decimal(")


def plan_batch(interface: Mapping[str, Any], columns: Sequence[Mapping[str, Any]]) -> BatchPlan:
    """The plan for scoring rows of ``columns`` (a registered schema's columns) with a model of ``interface``;
    ``BatchScoringError`` naming every missing or mistyped column, an input no column feeds, or a model with no
    tensor output."""
    by_name = {str(column["name"]).casefold(): column for column in columns}
    try:
        wanted = input_feeds(dict(interface))
    except InterfaceError as error:
        raise BatchScoringError(str(error)) from None
    feeds, missing, mistyped = [], [], []
    for feed in wanted:
        found = []
        for name in feed.columns:
            column = by_name.get(name.casefold())
            if column is None:
                missing.append(name)
                found.append(name)
                continue
            if not _compatible(str(column["type"]), feed.elem_type):
                found_type = column["type"]
                mistyped.append(f"{column['name']} is {found_type}, the input {feed.input!r} takes {feed.elem_type}")
            found.append(str(column["name"]))
        feeds.append(InputFeed(feed.input, tuple(found), feed.elem_type, feed.rank))
    problems = []
    if missing:
        problems.append(f"it lacks the model's input column(s) {', '.join(sorted(missing))}")
    if mistyped:
        problems.append("; ".join(mistyped))
    if problems:
        raise BatchScoringError(f"The dataset's columns do not match the model's inputs: {'; '.join(problems)}.")
    outputs, skipped = _output_columns(interface)
    taken = sorted(column.name for column in outputs if column.name.casefold() in by_name)
    if taken:
        raise BatchScoringError(f"The dataset already has the prediction column(s) {', '.join(taken)}.")
    return BatchPlan(tuple(feeds), tuple(outputs), tuple(skipped))


def _output_columns(interface: Mapping[str, Any]) -> tuple[list[OutputColumn], list[str]]:
    outputs: list[OutputColumn] = []
    skipped: list[str] = []
    for value in interface.get("outputs") or []:
        name = str(value.get("name", ""))
        elem_type = str(value.get("elem_type", ""))
        shape = value.get("shape") or []
        if value.get("kind") != "tensor" or elem_type not in OUTPUT_TYPES or len(shape) not in (1, 2):
            skipped.append(name)
            continue
        width = shape[-1] if len(shape) == 2 else 1
        if not isinstance(width, int):
            skipped.append(name)
            continue
        column_type = OUTPUT_TYPES[elem_type]
        if width == 1:
            outputs.append(OutputColumn(f"{PREFIX}{name}", name, None, column_type))
        else:
            outputs.extend(OutputColumn(f"{PREFIX}{name}_{i}", name, i, column_type) for i in range(width))
    if not outputs:
        raise BatchScoringError("The model has no tensor output of one row per input row: there is nothing to write.")
    return outputs, skipped


def output_schema(input_schema: Mapping[str, Any], plan: BatchPlan) -> dict[str, Any]:
    """The registered schema of the predictions: the input's columns as registered (their personal-data and other
    flags with them), then one column per prediction."""
    columns = [dict(column) for column in input_schema.get("columns") or []]
    columns += [
        {"name": column.name, "type": column.type, "nullable": True, "description": f"Model output {column.output}"}
        for column in plan.outputs
    ]
    return {"columns": columns}


def feed_arrays(plan: BatchPlan, batch: pd.DataFrame) -> dict[str, np.ndarray]:
    """The ONNX Runtime feeds of a pandas batch: one array per input, a matrix input's columns stacked in order."""
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


def predict_batch(session: Any, plan: BatchPlan, batch: pd.DataFrame) -> pd.DataFrame:
    """``batch`` with the prediction columns added (one ONNX Runtime call for the batch)."""
    names = plan.output_names
    results = dict(zip(names, session.run(names, feed_arrays(plan, batch)), strict=True))
    out = batch.copy()
    for column in plan.outputs:
        values = np.asarray(results[column.output])
        if column.index is not None:
            values = values[:, column.index]
        out[column.name] = values.reshape(-1)
    return out


def scorer(model: Any, plan: BatchPlan) -> Any:
    """The function mapInPandas runs on each partition: one session (from the broadcast bytes) for all its batches.
    ``model`` is a Spark broadcast of the ONNX bytes (or the bytes themselves)."""

    def score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        session = open_session(model.value if hasattr(model, "value") else model)
        for batch in batches:
            yield predict_batch(session, plan, batch)

    return score_partition
