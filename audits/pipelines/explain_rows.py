"""The rows a global explanation works from, drawn on Spark (docs/audits.md, "Explanations"): a background the
explainer masks with and a sample it explains, both seeded and disjoint, brought to the driver with the protected
attributes of the sample's rows. A function of data: a Spark frame in, arrays out.

Every row gets one seeded uniform number; the rows with the smallest numbers are taken in one top-k pass (Spark's
``orderBy(...).limit(k)`` keeps k rows per partition, never sorts the whole frame): the first ``background_rows`` are
the background, the next ``sample_rows`` the sample. A dataset with fewer rows than both gives the background at
most half of them, so the sample is never empty; the report records how many each got.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from audits.pipelines import AuditError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# A missing protected attribute is a group of its own, named so on the page.
MISSING_GROUP = "(missing)"
DRAW_COLUMN = "_assay_draw"


@dataclass
class DrawnRows:
    """``background`` and ``sample``: float matrices of the features, in the order asked (NaN for a missing value);
    ``groups``: each protected attribute's value per sample row, as text."""

    background: np.ndarray
    sample: np.ndarray
    groups: dict[str, list[str]]


def draw_rows(
    frame: DataFrame,
    features: Sequence[str],
    attributes: Sequence[str],
    *,
    background_rows: int,
    sample_rows: int,
    seed: int,
) -> DrawnRows:
    """The background and the sample (the module's docstring)."""
    from pyspark.sql import functions as F

    columns = list(dict.fromkeys([*features, *attributes]))
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise AuditError(f"The dataset lacks the column(s) {', '.join(missing)}.")
    keyed = frame.select(*[F.col(f"`{name}`") for name in columns], F.rand(seed).alias(DRAW_COLUMN))
    taken: Any = keyed.orderBy(DRAW_COLUMN).limit(background_rows + sample_rows).toPandas()
    if len(taken) < 2:
        raise AuditError(f"The dataset has {len(taken)} row(s): a background and a sample need at least 2.")
    background = min(background_rows, len(taken) // 2)
    matrix = _numeric(taken, features)
    sample = taken.iloc[background:]
    groups = {
        name: [MISSING_GROUP if _absent(value) else str(value) for value in sample[name].tolist()]
        for name in attributes
    }
    return DrawnRows(matrix[:background], matrix[background:], groups)


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _numeric(taken: Any, features: Sequence[str]) -> np.ndarray:
    import pandas as pd

    columns = [pd.to_numeric(taken[name], errors="coerce").astype("float64") for name in features]
    return np.column_stack([column.to_numpy() for column in columns]) if columns else np.zeros((len(taken), 0))


def background_record(
    dataset_version: int, seed: int, features: Sequence[str], background: np.ndarray
) -> dict[str, Any]:
    """The background as the report carries it (the contract the local explainer reads, docs/audits.md): the
    dataset version and seed it was drawn with, its rows, the model's features in the interface's order, and the
    values row by row, null for a missing one."""
    return {
        "dataset_version": dataset_version,
        "seed": seed,
        "rows": len(background),
        "features": list(features),
        "values": [[None if math.isnan(value) else float(value) for value in row] for row in background.tolist()],
    }
