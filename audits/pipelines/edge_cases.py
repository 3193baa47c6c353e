"""The validation audit's synthetic edge cases and monotonic constraints (docs/audits.md, "Validation").

A function of data: the model's bytes, its scoring plan (which inputs, fed by which columns, of which types:
registry.interface through audits.pipelines.scoring) and statistics of the data (``data_statistics``, computed on
Spark: each numeric column's min, max and quantiles, each string column's most common categories). The cases are
rows built from those, scored with ONNX Runtime in this process (a few hundred rows at most):

- ``missing``: one feature at a time missing (NaN for a float input, None for a string input);
- ``extreme``: far below the minimum and far above the maximum (ten spans beyond), zero, a negative value where
  the data's minimum is positive;
- ``unseen``: a category the data never holds, for a string input;
- ``boundary``: the observed minimum and maximum, the 1st and 99th percentiles, an empty string;
- ``random``: rows drawn within the observed ranges and categories (``seed``).

Every other feature holds its median (its most common category). A case passes when the model does not fail and
returns one finite score in [0, 1] per row. A monotonic constraint is checked by sweeping the feature over its
observed range (``STEPS`` values) at several base rows (the others at their 10th, 25th, 50th, 75th and 90th
percentiles): the score must not fall (``increasing``) or rise (``decreasing``) from one step to the next; the
worst movement against the direction is reported, and judged against a tolerance (audits.validation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from audits.pipelines.scoring import NUMPY_TYPES, ScoringPlan, open_session, score_batch

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

QUANTILES = (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
BASE_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
TOP_CATEGORIES = 20
STEPS = 20
RANDOM_ROWS = 50
UNSEEN = "__assay_unseen_category__"
FAR = 10.0


@dataclass(frozen=True)
class Case:
    """One edge case: rows to score (column -> values), what it tries and on which feature."""

    name: str
    kind: str
    feature: str | None
    rows: dict[str, list[Any]]


def column_types(plan: ScoringPlan) -> dict[str, str]:
    """Each column the model reads and the element type of the input it feeds."""
    return {column: feed.elem_type for feed in plan.feeds for column in feed.columns}


def data_statistics(frame: DataFrame, plan: ScoringPlan, source: str) -> dict[str, Any]:
    """Statistics of the columns the model reads, on Spark: numeric min, max (NaN left out) and quantiles; string
    categories, the most common first. ``source`` says which data they describe, for the report."""
    from pyspark.sql import functions as F

    types = column_types(plan)
    numeric = [c for c, t in types.items() if t != "string"]
    columns: dict[str, Any] = {}
    if numeric:
        aggregates = []
        for column in numeric:
            value = F.col(column).cast("double")
            clean = F.when(~F.isnan(value), value)
            aggregates += [
                F.min(clean).alias(f"{column}__min"),
                F.max(clean).alias(f"{column}__max"),
                F.percentile_approx(clean, F.array(*[F.lit(q) for q in QUANTILES]), F.lit(10_000)).alias(
                    f"{column}__q"
                ),
            ]
        (row,) = frame.agg(*aggregates).collect()
        for column in numeric:
            quantiles = row[f"{column}__q"] or []
            columns[column] = {
                "type": "numeric",
                "min": row[f"{column}__min"],
                "max": row[f"{column}__max"],
                "quantiles": {str(q): float(v) for q, v in zip(QUANTILES, quantiles, strict=False) if v is not None},
            }
    for column in (c for c, t in types.items() if t == "string"):
        top = (
            frame.where(F.col(column).isNotNull())
            .groupBy(column)
            .count()
            .orderBy(F.col("count").desc(), F.col(column))
            .limit(TOP_CATEGORIES)
            .collect()
        )
        columns[column] = {"type": "string", "categories": [str(r[column]) for r in top]}
    return {"source": source, "columns": columns}


def _median(stats: Mapping[str, Any]) -> Any:
    if stats["type"] == "string":
        return stats["categories"][0] if stats["categories"] else ""
    quantiles = stats["quantiles"]
    return quantiles.get("0.5", stats["min"] if stats["min"] is not None else 0.0)


def _fit(value: float, elem_type: str) -> Any:
    """``value`` as the input's type can hold it (integers rounded and kept within their range)."""
    if elem_type == "bool":
        return bool(value)
    kind = np.dtype(NUMPY_TYPES[elem_type])
    if np.issubdtype(kind, np.integer):
        limits = np.iinfo(kind)  # type: ignore[type-var]
        return int(min(max(round(value), limits.min), limits.max))
    if kind == np.float32:
        limit = float(np.finfo(np.float32).max)
        return min(max(value, -limit), limit)
    return value


def base_row(statistics: Mapping[str, Any]) -> dict[str, Any]:
    return {column: _median(stats) for column, stats in statistics["columns"].items()}


def _numeric_cases(column: str, stats: Mapping[str, Any], elem_type: str) -> list[tuple[str, str, float]]:
    low, high = stats["min"], stats["max"]
    if low is None or high is None:
        return []
    span = max(float(high) - float(low), 1.0)
    cases = [
        ("extreme", "far below the minimum", low - FAR * span),
        ("extreme", "far above the maximum", high + FAR * span),
        ("extreme", "zero", 0.0),
        ("boundary", "the minimum", low),
        ("boundary", "the maximum", high),
    ]
    if low > 0:
        cases.append(("extreme", "negative", -float(high)))
    for q in ("0.01", "0.99"):
        if q in stats["quantiles"]:
            cases.append(("boundary", f"the {float(q):.0%} quantile", stats["quantiles"][q]))
    if elem_type == "bool":
        return [("boundary", "false", 0.0), ("boundary", "true", 1.0)]
    return cases


def edge_cases(plan: ScoringPlan, statistics: Mapping[str, Any], seed: int = 0) -> list[Case]:
    """The cases (the module's docstring), each one row unless ``random``."""
    types = column_types(plan)
    base = base_row(statistics)

    def one(name: str, kind: str, feature: str | None, **change: Any) -> Case:
        return Case(name, kind, feature, {column: [change.get(column, value)] for column, value in base.items()})

    cases = [one("baseline: every feature at its median", "baseline", None)]
    for column, stats in statistics["columns"].items():
        elem_type = types[column]
        if stats["type"] == "string":
            cases += [
                one(f"{column}: missing (None)", "missing", column, **{column: None}),
                one(f"{column}: an unseen category", "unseen", column, **{column: UNSEEN}),
                one(f"{column}: an empty string", "boundary", column, **{column: ""}),
            ]
            continue
        if "float" in elem_type or elem_type == "double":
            cases.append(one(f"{column}: missing (NaN)", "missing", column, **{column: math.nan}))
        for kind, what, value in _numeric_cases(column, stats, elem_type):
            cases.append(one(f"{column}: {what}", kind, column, **{column: _fit(value, elem_type)}))
    rng = np.random.default_rng(seed)
    random_rows: dict[str, list[Any]] = {}
    for column, stats in statistics["columns"].items():
        if stats["type"] == "string":
            choices = stats["categories"] or [""]
            random_rows[column] = [choices[i] for i in rng.integers(0, len(choices), RANDOM_ROWS)]
        else:
            low = stats["min"] if stats["min"] is not None else 0.0
            high = stats["max"] if stats["max"] is not None else 0.0
            random_rows[column] = [_fit(v, types[column]) for v in rng.uniform(low, high, RANDOM_ROWS)]
    cases.append(Case(f"{RANDOM_ROWS} random rows within the observed ranges", "random", None, random_rows))
    return cases


def _frame(plan: ScoringPlan, rows: Mapping[str, list[Any]]) -> Any:
    import pandas as pd

    types = column_types(plan)
    frame = pd.DataFrame({column: rows[column] for column in types})
    for column, elem_type in types.items():
        if elem_type != "string":
            frame[column] = frame[column].astype(NUMPY_TYPES[elem_type])
    return frame


def _scores(session: Any, plan: ScoringPlan, rows: Mapping[str, list[Any]]) -> tuple[np.ndarray | None, str]:
    """The scores of ``rows``, or None and why the model failed on them."""
    try:
        return score_batch(session, plan, _frame(plan, rows)), ""
    except Exception as error:  # any failure of the model on the case is the finding
        return None, f"the model failed: {type(error).__name__}: {str(error)[:300]}"


def run_case(session: Any, plan: ScoringPlan, case: Case) -> dict[str, Any]:
    size = len(next(iter(case.rows.values())))
    scores, failure = _scores(session, plan, case.rows)
    if scores is None:
        passed, detail = False, failure
    elif scores.shape != (size,):
        passed, detail = False, f"the model returned {scores.size} score(s) for {size} row(s)"
    elif not np.isfinite(scores).all():
        passed, detail = False, f"the model returned a non-finite score: {float(scores[~np.isfinite(scores)][0])}"
    elif ((scores < 0) | (scores > 1)).any():
        passed, detail = (
            False,
            f"the model returned a score outside [0, 1]: {float(scores[(scores < 0) | (scores > 1)][0])}",
        )
    else:
        passed, detail = (
            True,
            f"score {scores[0]:.6g}" if size == 1 else f"scores {scores.min():.6g} to {scores.max():.6g}",
        )
    return {"name": case.name, "kind": case.kind, "feature": case.feature, "passed": passed, "detail": detail}


def monotonic_check(
    session: Any, plan: ScoringPlan, statistics: Mapping[str, Any], feature: str, direction: str
) -> dict[str, Any]:
    """Sweep ``feature`` over its observed range at each base row; the worst step against ``direction``."""
    types = column_types(plan)
    stats = statistics["columns"][feature]
    result: dict[str, Any] = {"feature": feature, "direction": direction, "steps": STEPS, "crashed": False}
    low, high = stats["min"], stats["max"]
    if low is None or high is None:
        return {**result, "bases": 0, "worst_violation": 0.0, "at": None, "detail": "the data holds no value of it"}
    grid = [_fit(v, types[feature]) for v in np.linspace(float(low), float(high), STEPS)]
    bases = []
    for q in BASE_QUANTILES:
        row = base_row(statistics)
        for column, other in statistics["columns"].items():
            if column != feature and other["type"] == "numeric":
                row[column] = _fit(other["quantiles"].get(str(q), row[column]), types[column])
        bases.append(row)
    rows = {column: [base[column] for base in bases for _ in grid] for column in types}
    rows[feature] = [value for _ in bases for value in grid]
    scores, failure = _scores(session, plan, rows)
    if scores is None or not np.isfinite(scores).all():
        detail = failure or "the model returned a non-finite score during the sweep"
        return {**result, "bases": len(bases), "crashed": True, "worst_violation": None, "at": None, "detail": detail}
    steps = np.diff(scores.reshape(len(bases), len(grid)), axis=1)
    against = -steps if direction == "increasing" else steps
    base_index, step = np.unravel_index(int(np.argmax(against)), against.shape)
    worst = max(float(against[base_index, step]), 0.0)
    return {
        **result,
        "bases": len(bases),
        "worst_violation": worst,
        "at": {
            "base_quantile": BASE_QUANTILES[base_index],
            "from": float(grid[step]),
            "to": float(grid[step + 1]),
        }
        if worst > 0
        else None,
        "detail": (
            f"the score moves {worst:.3g} against {direction} from {feature} = {grid[step]:.6g} to "
            f"{grid[step + 1]:.6g} (others at their {BASE_QUANTILES[base_index]:.0%} quantile)"
            if worst > 0
            else f"{direction} over [{low:.6g}, {high:.6g}] at {len(bases)} base rows"
        ),
    }


def edge_case_suite(
    onnx_bytes: bytes,
    plan: ScoringPlan,
    statistics: Mapping[str, Any],
    *,
    monotonic: Mapping[str, str],
    seed: int = 0,
) -> dict[str, Any]:
    """The edge cases' results and the monotonic constraints', scored by one ONNX Runtime session."""
    session = open_session(onnx_bytes)
    cases = [run_case(session, plan, case) for case in edge_cases(plan, statistics, seed)]
    failed = sum(not case["passed"] for case in cases)
    return {
        "edge_cases": {
            "statistics_from": statistics["source"],
            "statistics": statistics["columns"],
            "cases": cases,
            "passed": len(cases) - failed,
            "failed": failed,
        },
        "monotonic": [
            monotonic_check(session, plan, statistics, feature, direction) for feature, direction in monotonic.items()
        ],
    }
