"""Fairness metrics from aggregated confusion counts (docs/audits.md).

A function of data: ``cells`` is a pandas frame with one row per distinct (protected attribute values..., label,
prediction, score bin) and the number of scored rows in it (``count``), which Spark aggregates in one pass over any
number of rows (audits.pipelines.scoring). Every figure derives from these cells:

- per group (each protected attribute alone, and their intersection when there are several): selection rate,
  true and false positive rates, precision and accuracy through fairlearn's ``MetricFrame`` fed the cells with
  their counts as ``sample_weight``; AUC the same way on the score bins (exact when a bin holds one score value,
  otherwise within the bin width);
- per group against the reference group (the one with the highest selection rate): disparate impact ratio,
  statistical parity, equal opportunity and average odds differences through aif360's ``ClassificationMetric`` on a
  weighted ``BinaryLabelDataset`` (``instance_weights``), checked against the same figures from fairlearn's frame;
  fairlearn's between-groups ``ratio``/``difference`` summarise each grouping;
- a percentile confidence interval for each figure by a Poisson bootstrap over the cells: resampling rows with a
  Poisson(1) multiplicity each makes a cell of ``c`` rows hold a Poisson(c) count, so redrawing the cells' counts
  is the row-level Poisson bootstrap exactly, at a cost independent of the number of rows.

A group smaller than ``min_group_size`` rows is reported as "insufficient data": it is left out of the comparisons,
and a check with such a group is never a pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from audits.pipelines import AuditError
from audits.pipelines.libraries import import_aif360, import_fairlearn

if TYPE_CHECKING:
    import pandas as pd

LABEL = "label"
PREDICTION = "prediction"
SCORE_BIN = "score_bin"
COUNT = "count"

PASSED = "pass"
FAILED = "fail"
INSUFFICIENT = "insufficient_data"

GROUP_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate", "precision", "accuracy", "auc")
NAMED_METRICS = (
    "disparate_impact",
    "statistical_parity_difference",
    "equal_opportunity_difference",
    "average_odds_difference",
)
# Which threshold bounds which named metric: disparate impact from below, the differences' absolute values above.
BOUND_BY = {
    "disparate_impact": "disparate_impact_min",
    "statistical_parity_difference": "statistical_parity_max",
    "equal_opportunity_difference": "equal_opportunity_max",
    "average_odds_difference": "average_odds_max",
}
# fairlearn and aif360 compute the named metrics from the same counts in different orders of floating-point
# operations; a larger difference means they were not fed the same data.
AGREEMENT = 1e-9
BOOTSTRAP_CHUNK = 32


class FairnessError(AuditError):
    """The cells cannot be audited (the message names why, for the job's error)."""


@dataclass(frozen=True)
class Thresholds:
    """What a named metric must satisfy for every compared group: the disparate impact ratio at least
    ``disparate_impact_min`` (the four-fifths rule), the absolute differences at most their maximum."""

    disparate_impact_min: float = 0.8
    statistical_parity_max: float = 0.1
    equal_opportunity_max: float = 0.1
    average_odds_max: float = 0.1

    @classmethod
    def of(cls, values: Mapping[str, Any] | None) -> Thresholds:
        known = {key: float(value) for key, value in (values or {}).items() if key in cls.__dataclass_fields__}
        return cls(**known)

    def passes(self, metric: str, value: float) -> bool:
        """Whether one named metric's value meets its threshold (NaN, an undefined value, never does)."""
        if math.isnan(value):
            return False
        bound = BOUND_BY[metric]
        limit = getattr(self, bound)
        return bool(value >= limit) if bound.endswith("_min") else bool(abs(value) <= limit)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class FairnessParams:
    attributes: tuple[str, ...]
    min_group_size: int = 30
    bootstrap_iterations: int = 200
    seed: int = 0
    confidence: float = 0.95


# --- fairlearn over the weighted cells -------------------------------------------------------------------------------


def _group_size(y_true: Any, y_pred: Any, sample_weight: Any) -> float:
    return float(np.sum(sample_weight))


def _precision(y_true: Any, y_pred: Any, sample_weight: Any) -> float:
    from sklearn.metrics import precision_score

    return float(precision_score(y_true, y_pred, sample_weight=sample_weight, zero_division=np.nan))


def _accuracy(y_true: Any, y_pred: Any, sample_weight: Any) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y_true, y_pred, sample_weight=sample_weight))


def _auc(y_true: Any, y_score: Any, sample_weight: Any) -> float:
    from sklearn.metrics import roc_auc_score

    weights = np.asarray(sample_weight, dtype=float)
    labels = np.asarray(y_true)
    if weights[labels == 1].sum() == 0 or weights[labels == 0].sum() == 0:
        return math.nan
    return float(roc_auc_score(y_true, y_score, sample_weight=weights))


def metric_frames(cells: pd.DataFrame, attributes: Sequence[str]) -> tuple[Any, Any]:
    """fairlearn's frames over ``cells`` grouped by ``attributes`` (their intersection when several): the
    threshold metrics on the predictions, and AUC on the score bins; every metric weighted by the cells' counts."""
    metrics = import_fairlearn()
    weights = cells[COUNT].to_numpy(dtype=float)
    functions = {
        "size": _group_size,
        "selection_rate": metrics.selection_rate,
        "true_positive_rate": metrics.true_positive_rate,
        "false_positive_rate": metrics.false_positive_rate,
        "precision": _precision,
        "accuracy": _accuracy,
    }
    sensitive = cells[list(attributes)]
    frame = metrics.MetricFrame(
        metrics=functions,
        y_true=cells[LABEL].to_numpy(),
        y_pred=cells[PREDICTION].to_numpy(),
        sensitive_features=sensitive,
        sample_params={name: {"sample_weight": weights} for name in functions},
    )
    auc = metrics.MetricFrame(
        metrics={"auc": _auc},
        y_true=cells[LABEL].to_numpy(),
        y_pred=cells[SCORE_BIN].to_numpy(),
        sensitive_features=sensitive,
        sample_params={"auc": {"sample_weight": weights}},
    )
    return frame, auc


def _key(index_value: Any, attributes: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(v) for v in (index_value if isinstance(index_value, tuple) else (index_value,)))[: len(attributes)]


# --- aif360 over the weighted cells ----------------------------------------------------------------------------------


def aif360_named(
    cells: pd.DataFrame, attributes: Sequence[str], group: tuple[str, ...], reference: tuple[str, ...]
) -> dict[str, float]:
    """The four named metrics of ``group`` against ``reference`` from aif360's ClassificationMetric over the cells
    (summed over score bins), each cell one instance weighted by its count."""
    import pandas as pd  # the Spark worker's (requirements/spark.txt); a web node imports this module, not pandas

    binary_label_dataset, classification_metric = import_aif360()
    rows = cells.groupby([*attributes, LABEL, PREDICTION], as_index=False, observed=True)[COUNT].sum()
    rows = rows[rows[COUNT] > 0]
    codes: dict[str, dict[str, int]] = {}
    frame = pd.DataFrame()
    for attribute in attributes:
        values = sorted(rows[attribute].astype(str).unique())
        codes[attribute] = {value: index for index, value in enumerate(values)}
        frame[attribute] = rows[attribute].astype(str).map(codes[attribute]).astype(float).to_numpy()
    frame[LABEL] = rows[LABEL].astype(float).to_numpy()
    frame[COUNT] = rows[COUNT].astype(float).to_numpy()
    truth = binary_label_dataset(
        df=frame,
        label_names=[LABEL],
        protected_attribute_names=list(attributes),
        instance_weights_name=COUNT,
        favorable_label=1.0,
        unfavorable_label=0.0,
    )
    predicted = truth.copy(deepcopy=True)
    predicted.labels = rows[PREDICTION].astype(float).to_numpy().reshape(-1, 1)
    metric = classification_metric(
        truth,
        predicted,
        unprivileged_groups=[{a: codes[a][v] for a, v in zip(attributes, group, strict=True)}],
        privileged_groups=[{a: codes[a][v] for a, v in zip(attributes, reference, strict=True)}],
    )
    return {
        "disparate_impact": float(metric.disparate_impact()),
        "statistical_parity_difference": float(metric.statistical_parity_difference()),
        "equal_opportunity_difference": float(metric.equal_opportunity_difference()),
        "average_odds_difference": float(metric.average_odds_difference()),
    }


def named_from_rates(group: Mapping[str, Any], reference: Mapping[str, Any]) -> dict[str, Any]:
    """The named metrics from two groups' rates (fairlearn's figures, and the bootstrap's)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.divide(group["selection_rate"], reference["selection_rate"])
    return {
        "disparate_impact": ratio,
        "statistical_parity_difference": group["selection_rate"] - reference["selection_rate"],
        "equal_opportunity_difference": group["true_positive_rate"] - reference["true_positive_rate"],
        "average_odds_difference": 0.5
        * (
            (group["false_positive_rate"] - reference["false_positive_rate"])
            + (group["true_positive_rate"] - reference["true_positive_rate"])
        ),
    }


# --- the bootstrap ---------------------------------------------------------------------------------------------------


def _rates(tp: Any, fp: Any, tn: Any, fn: Any) -> dict[str, Any]:
    with np.errstate(divide="ignore", invalid="ignore"):
        size = tp + fp + tn + fn
        return {
            "selection_rate": (tp + fp) / size,
            "true_positive_rate": tp / (tp + fn),
            "false_positive_rate": fp / (fp + tn),
            "precision": (tp / (tp + fp)),
            "accuracy": (tp + tn) / size,
        }


def auc_from_bins(positives: Any, negatives: Any) -> Any:
    """AUC from per-bin counts (last axis: bins, ascending score), ties counted half: the Mann-Whitney statistic."""
    below = np.cumsum(negatives, axis=-1) - negatives
    with np.errstate(divide="ignore", invalid="ignore"):
        wins = (positives * (below + 0.5 * negatives)).sum(axis=-1)
        return wins / (positives.sum(axis=-1) * negatives.sum(axis=-1))


def bootstrap(
    cells: pd.DataFrame,
    attributes: Sequence[str],
    groups: Sequence[tuple[str, ...]],
    *,
    iterations: int,
    seed: int,
) -> dict[tuple[str, ...], dict[str, np.ndarray]]:
    """``iterations`` replicates of each group's metrics, redrawing every cell's count from Poisson(count)."""
    index = {group: position for position, group in enumerate(groups)}
    keys = [tuple(str(v) for v in row) for row in cells[list(attributes)].itertuples(index=False, name=None)]
    member = np.array([index.get(key, -1) for key in keys])
    keep = member >= 0
    counts = cells[COUNT].to_numpy(dtype=float)[keep]
    member = member[keep]
    label = cells[LABEL].to_numpy()[keep].astype(int)
    predicted = cells[PREDICTION].to_numpy()[keep].astype(int)
    bins = cells[SCORE_BIN].to_numpy()[keep].astype(int)
    n_bins = int(bins.max()) + 1 if len(bins) else 1
    rng = np.random.default_rng(seed)
    replicates: dict[str, list[np.ndarray]] = {name: [] for name in GROUP_METRICS}
    for start in range(0, iterations, BOOTSTRAP_CHUNK):
        drawn = rng.poisson(counts, size=(min(BOOTSTRAP_CHUNK, iterations - start), len(counts))).astype(float)
        confusion = np.zeros((drawn.shape[0], len(groups), 2, 2))
        by_bin = np.zeros((drawn.shape[0], len(groups), 2, n_bins))
        every: Any = (slice(None), member, label)  # numpy's stubs do not type a slice in an index tuple
        np.add.at(confusion, (*every, predicted), drawn)
        np.add.at(by_bin, (*every, bins), drawn)
        rates = _rates(confusion[..., 1, 1], confusion[..., 0, 1], confusion[..., 0, 0], confusion[..., 1, 0])
        rates["auc"] = auc_from_bins(by_bin[..., 1, :], by_bin[..., 0, :])
        for name in GROUP_METRICS:
            replicates[name].append(rates[name])
    stacked = {name: np.concatenate(values, axis=0) for name, values in replicates.items()}
    return {group: {name: stacked[name][:, position] for name in GROUP_METRICS} for group, position in index.items()}


def interval(values: np.ndarray, confidence: float) -> list[float | None]:
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return [None, None]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return [float(low), float(high)]


# --- the report ------------------------------------------------------------------------------------------------------


def number(value: Any) -> float | None:
    """A figure for JSON: NaN and infinities (an undefined rate) become None."""
    value = float(value)
    return value if math.isfinite(value) else None


def check_cells(cells: pd.DataFrame, attributes: Sequence[str]) -> None:
    missing = [c for c in (*attributes, LABEL, PREDICTION, SCORE_BIN, COUNT) if c not in cells.columns]
    if missing:
        raise FairnessError(f"The aggregated rows lack the column(s) {', '.join(missing)}.")
    counts = cells.groupby(LABEL)[COUNT].sum()
    if counts.get(0, 0) == 0 or counts.get(1, 0) == 0:
        raise FairnessError("The label holds a single class over the scored rows: fairness cannot be measured.")
    for attribute in attributes:
        if cells.loc[cells[COUNT] > 0, attribute].nunique() < 2:
            raise FairnessError(f"The protected attribute {attribute!r} holds a single group: nothing to compare.")


def groupings(attributes: Sequence[str]) -> list[tuple[str, ...]]:
    """Each attribute alone, then all of them together (their intersection) when there are several."""
    alone = [(attribute,) for attribute in attributes]
    return alone + ([tuple(attributes)] if len(attributes) > 1 else [])


def audit_grouping(
    cells: pd.DataFrame, attributes: tuple[str, ...], params: FairnessParams, thresholds: Thresholds
) -> dict[str, Any]:
    """One grouping's groups (figures, intervals, status), its named metrics against the reference group with a
    verdict each, and fairlearn's between-groups summary."""
    frame, auc_frame = metric_frames(cells, attributes)
    # fairlearn lists every combination of the attributes' values; a combination no row holds (an empty cell of an
    # intersection) has no size and is no group.
    by_group = frame.by_group[frame.by_group["size"].fillna(0) > 0]
    aucs = auc_frame.by_group["auc"]
    figures: dict[tuple[str, ...], dict[str, float]] = {}
    for index_value, row in by_group.iterrows():
        key = _key(index_value, attributes)
        figures[key] = {name: float(row[name]) for name in (*GROUP_METRICS[:-1], "size")}
        figures[key]["auc"] = float(aucs.loc[index_value])
    sufficient = [key for key, row in figures.items() if row["size"] >= params.min_group_size]
    small = [key for key in figures if key not in sufficient]
    replicates = bootstrap(cells, attributes, list(figures), iterations=params.bootstrap_iterations, seed=params.seed)
    groups = []
    for key, row in figures.items():
        groups.append(
            {
                "group": dict(zip(attributes, key, strict=True)),
                "size": int(row["size"]),
                "status": "ok" if key in sufficient else INSUFFICIENT,
                "metrics": {
                    name: {"value": number(row[name]), "interval": interval(replicates[key][name], params.confidence)}
                    for name in GROUP_METRICS
                },
            }
        )
    result: dict[str, Any] = {
        "attributes": list(attributes),
        "groups": groups,
        "insufficient_groups": [dict(zip(attributes, key, strict=True)) for key in small],
    }
    if len(sufficient) < 2:
        result.update(
            reference=None,
            comparisons=[],
            between_groups={},
            checks={name: {"verdict": INSUFFICIENT, "worst": None} for name in NAMED_METRICS},
        )
        return result
    reference = max(sufficient, key=lambda key: (figures[key]["selection_rate"], figures[key]["size"]))
    comparisons = []
    worst: dict[str, float] = {}
    failed: set[str] = set()
    for key in sufficient:
        if key == reference:
            continue
        fairlearn_named = {k: float(v) for k, v in named_from_rates(figures[key], figures[reference]).items()}
        aif_named = aif360_named(cells, attributes, key, reference)
        for name in NAMED_METRICS:
            a, b = fairlearn_named[name], aif_named[name]
            if not (math.isnan(a) and math.isnan(b)) and not abs(a - b) <= AGREEMENT:
                raise FairnessError(f"fairlearn and aif360 disagree on {name} for {key}: {a!r} and {b!r}.")
        boot = named_from_rates(replicates[key], replicates[reference])
        metrics = {}
        for name in NAMED_METRICS:
            value = aif_named[name]
            passed = thresholds.passes(name, value)
            if not passed:
                failed.add(name)
            distance = value if name == "disparate_impact" else -abs(value)
            if name not in worst or (math.isnan(value) or distance < worst[name]):
                worst[name] = distance
            metrics[name] = {
                "value": number(value),
                "fairlearn": number(fairlearn_named[name]),
                "interval": interval(np.asarray(boot[name], dtype=float), params.confidence),
                "verdict": PASSED if passed else FAILED,
            }
        comparisons.append({"group": dict(zip(attributes, key, strict=True)), "metrics": metrics})
    kept = cells[[tuple(str(v) for v in k) in set(sufficient) for k in cells[list(attributes)].itertuples(False)]]
    summary_frame, _ = metric_frames(kept, attributes)
    checks = {}
    for name in NAMED_METRICS:
        verdict = FAILED if name in failed else INSUFFICIENT if small else PASSED
        value = worst.get(name, math.nan)
        checks[name] = {
            "verdict": verdict,
            "worst": number(value if name == "disparate_impact" else -value),
        }
    result.update(
        reference=dict(zip(attributes, reference, strict=True)),
        comparisons=comparisons,
        between_groups={
            "selection_rate_ratio": number(summary_frame.ratio(method="between_groups")["selection_rate"]),
            "selection_rate_difference": number(summary_frame.difference(method="between_groups")["selection_rate"]),
            "true_positive_rate_difference": number(
                summary_frame.difference(method="between_groups")["true_positive_rate"]
            ),
            "false_positive_rate_difference": number(
                summary_frame.difference(method="between_groups")["false_positive_rate"]
            ),
        },
        checks=checks,
    )
    return result


def overall(verdicts: Sequence[str]) -> str:
    if FAILED in verdicts:
        return FAILED
    if INSUFFICIENT in verdicts or not verdicts:
        return INSUFFICIENT
    return PASSED


def fairness_report(
    cells: pd.DataFrame, params: FairnessParams, thresholds: Thresholds, *, segment: str | None = None
) -> dict[str, Any]:
    """The fairness section of an audit report from the aggregated cells: every grouping audited, a verdict per
    named check (failed when any grouping fails it, insufficient data when any lacks data), and overall.

    With a ``segment`` (a column of the cells, such as a region), each protected attribute is also audited within
    each segment (``segments``): figures for the review board to see where a disparity lives. They are evidence, not
    checks: the verdicts are the whole population's, since a segment's groups are often below the minimum size."""
    check_cells(cells, params.attributes)
    cells = cells.copy()
    for attribute in params.attributes:
        cells[attribute] = cells[attribute].astype(str)
    whole = cells
    if segment is not None:
        if segment not in cells.columns:
            raise FairnessError(f"The aggregated rows lack the segment column {segment!r}.")
        cells[segment] = cells[segment].astype(str)
        keys = [c for c in cells.columns if c not in (segment, COUNT)]
        whole = cells.groupby(keys, as_index=False, observed=True)[COUNT].sum()
    audited = [audit_grouping(whole, grouping, params, thresholds) for grouping in groupings(params.attributes)]
    checks = {name: overall([grouping["checks"][name]["verdict"] for grouping in audited]) for name in NAMED_METRICS}
    report: dict[str, Any] = {
        "rows": int(whole[COUNT].sum()),
        "groupings": audited,
        "checks": checks,
        "thresholds": thresholds.as_dict(),
        "verdict": overall(list(checks.values())),
    }
    if segment is not None:
        report["segments"] = {"column": segment, "by_segment": audit_segments(cells, segment, params, thresholds)}
    return report


def audit_segments(
    cells: pd.DataFrame, segment: str, params: FairnessParams, thresholds: Thresholds
) -> list[dict[str, Any]]:
    """Each protected attribute audited within each segment's rows (largest segment first)."""
    found = []
    sizes = cells.groupby(segment, observed=True)[COUNT].sum().sort_values(ascending=False)
    for value, size in sizes.items():
        part = cells[cells[segment] == value].drop(columns=[segment])
        entry: dict[str, Any] = {"segment": str(value), "rows": int(size), "groupings": []}
        for attribute in params.attributes:
            present = part.loc[part[COUNT] > 0]
            labels = present.groupby(LABEL)[COUNT].sum()
            if present[attribute].nunique() < 2 or labels.get(0, 0) == 0 or labels.get(1, 0) == 0:
                entry["groupings"].append(
                    {"attributes": [attribute], "groups": [], "comparisons": [], "status": INSUFFICIENT}
                )
                continue
            audited = audit_grouping(part, (attribute,), params, thresholds)
            audited["status"] = overall([check["verdict"] for check in audited["checks"].values()])
            entry["groupings"].append(audited)
        found.append(entry)
    return found
