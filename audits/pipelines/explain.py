"""Explaining an ONNX model with shap: the explainer that fits the graph, built once, then applied to batches.

A function of data (no Django, no Spark): an ONNX model's bytes, the columns that feed it (registry.interface) and
a background sample in, an ``OnnxExplainer`` out, whose ``explain(rows)`` returns each row's score, the SHAP value
of each feature and the base value, with the additivity (base + sum of SHAP = the model's output) checked.

The explainer is chosen from the graph, and every choice is checked against ONNX Runtime on the background before
it is trusted (a graph read wrongly would explain another model):

- **tree_exact**: the graph is a tree ensemble fed directly by the features (``TreeEnsembleClassifier`` or
  ``TreeEnsembleRegressor`` of ``ai.onnx.ml``, optionally behind a Cast, with an Identity or ZipMap-free output).
  Its trees are read into the dictionary form shap's ``TreeExplainer`` accepts (children, features, thresholds,
  leaf values, the missing-value direction) and explained exactly with the background (``interventional``), in the
  probability space the model outputs. ONNX's branch modes are mapped onto shap's one comparison (``x <= t``): a
  strict ``x < t`` becomes ``x <= prev(t)`` in float32, the input type ONNX Runtime compares in; ``>``/``>=`` swap
  the children. Equality branches are not representable: such a graph falls back to the permutation explainer.
- **linear**: a ``LinearClassifier`` with a logistic output, optionally behind a ``Scaler`` (scikit-learn's
  StandardScaler + LogisticRegression): folded into one linear function of the raw features and explained by
  shap's ``LinearExplainer`` with the background (interventional). SHAP values are in log-odds, the space where a
  linear model is additive; the output space is stated with them.
- **permutation**: anything else, through shap's ``PermutationExplainer`` over a prediction function that scores
  whole batches through ONNX Runtime, with the background as an independent masker; ``max_evals`` (the sampling
  budget) and the seed are recorded. Exact in the additivity sense (permutation SHAP values sum to the output
  difference by construction), approximate in the attribution.

Only numeric inputs are explained (a string input has no background value to mask with here): ``ExplainError``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audits.pipelines import AuditError
from audits.pipelines.scoring import NUMPY_TYPES, ScoringPlan, open_session, plan_scoring, run_scores, score_batch
from registry.interface import InterfaceError, feature_columns

TREE_OPS = {"TreeEnsembleClassifier", "TreeEnsembleRegressor"}
PASS_THROUGH = {"Cast", "Identity"}
# How far a checked explainer's model may be from ONNX Runtime's scores on the background (float32 arithmetic).
AGREEMENT = 1e-5
# base + sum(SHAP) against the model's output: the tolerance reported with each explanation.
ADDITIVITY = 1e-4
DEFAULT_MAX_EVALS = 500


class ExplainError(AuditError):
    """The model cannot be explained as asked (the message names why)."""


@dataclass
class Explanation:
    """``values[i, j]``: feature j's SHAP value for row i; ``base_values[i]``; ``outputs[i]`` the model's output in
    ``output_space`` (what base + sum(values) equals); ``scores[i]`` the score ONNX Runtime returns; ``additivity``
    the largest |base + sum - output| over the rows."""

    features: list[str]
    values: np.ndarray
    base_values: np.ndarray
    outputs: np.ndarray
    scores: np.ndarray
    output_space: str
    additivity: float


@dataclass
class OnnxExplainer:
    """A shap explainer bound to one ONNX model and one background; ``method`` and ``parameters`` say which and how."""

    features: list[str]
    method: str
    output_space: str
    parameters: dict[str, Any]
    plan: ScoringPlan
    session: Any
    explainer: Any
    _margin: Any = field(default=None, repr=False)

    def score(self, rows: np.ndarray) -> np.ndarray:
        """The model's positive-class score per row (one ONNX Runtime call for the batch)."""
        return score_matrix(self.session, self.plan, self.features, rows)

    def explain(self, rows: np.ndarray) -> Explanation:
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != len(self.features):
            raise ExplainError(f"Rows must have the model's {len(self.features)} features, in its order.")
        scores = self.score(rows)
        if self.method == "tree_exact":
            values = np.asarray(self.explainer.shap_values(rows.astype(np.float32), check_additivity=False))
            base = np.full(len(rows), float(np.ravel(self.explainer.expected_value)[0]))
            outputs = scores
        elif self.method == "linear":
            values = np.asarray(self.explainer.shap_values(rows))
            base = np.full(len(rows), float(np.ravel(self.explainer.expected_value)[0]))
            outputs = self._margin(rows)
        else:
            explained = self.explainer(rows, max_evals=self.parameters["max_evals"], silent=True)
            values = np.asarray(explained.values)
            base = np.asarray(explained.base_values, dtype=np.float64).reshape(-1)
            outputs = scores
        values = values.reshape(len(rows), len(self.features))
        gap = np.abs(base + values.sum(axis=1) - outputs)
        additivity = float(gap.max()) if len(gap) else 0.0
        return Explanation(self.features, values, base, outputs, scores, self.output_space, additivity)


# --- scoring a feature matrix ----------------------------------------------------------------------------------------


def score_matrix(session: Any, plan: ScoringPlan, features: Sequence[str], rows: np.ndarray) -> np.ndarray:
    """Scores of a float matrix whose columns are ``features`` (the plan's columns), batched through ONNX Runtime."""
    import pandas as pd

    rows = np.asarray(rows, dtype=np.float64)
    if len(plan.feeds) == 1 and plan.feeds[0].matrix and list(plan.feeds[0].columns) == list(features):
        # One matrix input in the features' order (a scikit-learn export): fed as it is, no frame in between.
        (feed,) = plan.feeds
        return run_scores(session, plan, {feed.input: rows.astype(NUMPY_TYPES[feed.elem_type])})
    return score_batch(session, plan, pd.DataFrame(rows, columns=list(features)))


# --- reading the graph -----------------------------------------------------------------------------------------------


def _attributes(node: Any) -> dict[str, Any]:
    import onnx

    found = {}
    for attribute in node.attribute:
        value = onnx.helper.get_attribute_value(attribute)
        if attribute.name.endswith("_as_tensor"):
            value = onnx.numpy_helper.to_array(value)
            found[attribute.name.removesuffix("_as_tensor")] = np.asarray(value, dtype=np.float64)
        else:
            found[attribute.name] = value
    return found


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _main_node(model: Any, ops: set[str]) -> Any | None:
    """The one node of ``ops`` when every other node merely passes values through (Cast, Identity) and it reads a
    graph input (possibly through a Cast): otherwise None."""
    nodes = list(model.graph.node)
    main = [node for node in nodes if node.op_type in ops]
    others = [node for node in nodes if node.op_type not in ops]
    if len(main) != 1 or any(node.op_type not in PASS_THROUGH for node in others):
        return None
    node = main[0]
    inputs = {value.name for value in model.graph.input}
    source = node.input[0]
    producers = {out: n for n in others for out in n.output}
    while source in producers:
        source = producers[source].input[0]
    return node if source in inputs and len(model.graph.input) == 1 else None


def _previous_float32(value: float) -> float:
    return float(np.nextafter(np.float32(value), np.float32(-np.inf)))


def read_trees(model: Any) -> tuple[list[dict[str, np.ndarray]], float, str] | None:
    """The tree ensemble's trees in shap's dictionary form, its base value and aggregation, or None when the graph
    is not a tree ensemble over the features alone or uses a branch shap cannot represent."""
    node = _main_node(model, TREE_OPS)
    if node is None:
        return None
    a = _attributes(node)
    prefix = "class" if node.op_type == "TreeEnsembleClassifier" else "target"
    if node.op_type == "TreeEnsembleClassifier":
        labels = a.get("classlabels_int64s") or a.get("classlabels_strings") or []
        if len(labels) != 2 or len(set(a[f"{prefix}_ids"])) != 1:
            return None  # multi-class, or both classes weighted: not one score to explain this way
    elif len(set(a.get(f"{prefix}_ids", [0]))) != 1 or _text(a.get("aggregate_function", "SUM")) not in {
        "SUM",
        "AVERAGE",
    }:
        return None
    modes = [_text(m) for m in a["nodes_modes"]]
    if any(mode not in {"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "LEAF"} for mode in modes):
        return None
    tree_ids = np.asarray(a["nodes_treeids"])
    node_ids = np.asarray(a["nodes_nodeids"])
    missing_true = np.asarray(a.get("nodes_missing_value_tracks_true", [0] * len(modes)))
    trees: list[dict[str, Any]] = []
    for tree in sorted(set(tree_ids.tolist())):
        members = np.flatnonzero(tree_ids == tree)
        position = {int(node_ids[i]): k for k, i in enumerate(members)}
        n = len(members)
        left = np.full(n, -1, dtype=np.int64)
        right = np.full(n, -1, dtype=np.int64)
        default = np.full(n, -1, dtype=np.int64)
        features = np.full(n, -2, dtype=np.int64)
        thresholds = np.zeros(n, dtype=np.float64)
        values = np.zeros((n, 1), dtype=np.float64)
        for k, i in enumerate(members):
            mode = modes[i]
            if mode == "LEAF":
                continue
            true = position[int(a["nodes_truenodeids"][i])]
            false = position[int(a["nodes_falsenodeids"][i])]
            threshold = float(a["nodes_values"][i])
            if mode in {"BRANCH_LT", "BRANCH_GTE"}:
                threshold = _previous_float32(threshold)
            # shap goes left when x <= threshold: the "true" child for <= and <, the "false" one for > and >=.
            left[k], right[k] = (true, false) if mode in {"BRANCH_LEQ", "BRANCH_LT"} else (false, true)
            default[k] = true if missing_true[i] else false
            features[k] = int(a["nodes_featureids"][i])
            thresholds[k] = threshold
        weight_trees = np.asarray(a[f"{prefix}_treeids"])
        for j in np.flatnonzero(weight_trees == tree):
            values[position[int(a[f"{prefix}_nodeids"][j])], 0] += float(a[f"{prefix}_weights"][j])
        trees.append(
            {
                "children_left": left,
                "children_right": right,
                "children_default": default,
                "features": features,
                "thresholds": thresholds,
                "values": values,
                "node_sample_weight": np.ones(n, dtype=np.float64),
            }
        )
    if _text(a.get("aggregate_function", "SUM")) == "AVERAGE":
        for tree in trees:
            tree["values"] = tree["values"] / len(trees)
    base = float(np.sum(a.get("base_values", [0.0])))
    return trees, base, _text(a.get("post_transform", "NONE"))


def read_linear(model: Any, width: int) -> tuple[np.ndarray, float] | None:
    """A logistic linear classifier (optionally behind a Scaler) as one linear function of the raw features: the
    coefficients and intercept of the positive class's log-odds, or None for any other graph."""
    nodes = [node for node in model.graph.node if node.op_type not in PASS_THROUGH]
    if [node.op_type for node in nodes] not in (["LinearClassifier"], ["Scaler", "LinearClassifier"]):
        return None
    linear = _attributes(nodes[-1])
    if _text(linear.get("post_transform", "NONE")) != "LOGISTIC":
        return None
    coefficients = np.asarray(linear["coefficients"], dtype=np.float64).reshape(-1, width)
    intercepts = np.asarray(linear["intercepts"], dtype=np.float64)
    if coefficients.shape[0] == 2:  # binary, written as [-w, w]: the positive class's row
        coefficients, intercept = coefficients[1], float(intercepts[1])
    elif coefficients.shape[0] == 1:
        coefficients, intercept = coefficients[0], float(intercepts[0])
    else:
        return None
    if len(nodes) == 2:
        scaler = _attributes(nodes[0])
        offset = np.broadcast_to(np.asarray(scaler.get("offset", [0.0]), dtype=np.float64), (width,))
        scale = np.broadcast_to(np.asarray(scaler.get("scale", [1.0]), dtype=np.float64), (width,))
        # (x - offset) * scale, then w . that + b  ==  (w * scale) . x + (b - sum(w * scale * offset))
        intercept = intercept - float(np.sum(coefficients * scale * offset))
        coefficients = coefficients * scale
    return coefficients, intercept


# --- building the explainer ------------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _tree_explainer(
    trees: list[dict[str, np.ndarray]], base: float, transform: str, background: np.ndarray, scores: np.ndarray
) -> Any | None:
    """shap's TreeExplainer over the trees, in whichever reading of the ensemble's output reproduces ONNX Runtime's
    scores on the background (the positive class's score may be the logistic of the sum, of its negation, the sum
    itself or one minus it, depending on the converter), or None when none does."""
    import shap

    raw = np.zeros(len(background))
    for tree in trees:
        raw += _tree_predict(tree, background)
    raw += base
    readings = [("log_odds", 1.0, base), ("log_odds", -1.0, -base)] if transform == "LOGISTIC" else []
    readings += [("raw_value", 1.0, base), ("raw_value", -1.0, 1.0 - base)] if transform == "NONE" else []
    for output, sign, offset in readings:
        candidate = _sigmoid(sign * raw) if output == "log_odds" else (raw if sign > 0 else 1.0 - raw)
        if not np.allclose(candidate, scores, atol=AGREEMENT, rtol=0):
            continue
        model = {
            "trees": [{**tree, "values": tree["values"] * sign} for tree in trees],
            "base_offset": offset,
            "tree_output": output,
            "objective": "binary_crossentropy" if output == "log_odds" else "squared_error",
            "input_dtype": np.float32,
            "internal_dtype": np.float64,
        }
        explainer = shap.TreeExplainer(
            model,
            data=background.astype(np.float32),
            feature_perturbation="interventional",
            model_output="probability" if output == "log_odds" else "raw",
        )
        return explainer
    return None


def _tree_predict(tree: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """One tree's leaf value per row, compared in float32 as ONNX Runtime compares."""
    rows32 = rows.astype(np.float32)
    out = np.zeros(len(rows))
    for i, row in enumerate(rows32):
        k = 0
        while tree["children_left"][k] >= 0:
            x = row[tree["features"][k]]
            if math.isnan(x):
                k = int(tree["children_default"][k])
            else:
                k = int(
                    tree["children_left"][k] if x <= np.float32(tree["thresholds"][k]) else tree["children_right"][k]
                )
        out[i] = tree["values"][k, 0]
    return out


def build_explainer(
    onnx_bytes: bytes,
    interface: dict[str, Any],
    background: np.ndarray,
    *,
    seed: int = 0,
    max_evals: int = DEFAULT_MAX_EVALS,
    method: str | None = None,
) -> OnnxExplainer:
    """The explainer that fits the model (or ``method`` when given: "tree_exact", "linear", "permutation"),
    checked against ONNX Runtime on ``background`` (rows of the features, in the interface's column order)."""
    import onnx
    import shap

    plan = plan_scoring(interface, _columns(interface))
    features = plan.columns
    if any(feed.elem_type == "string" for feed in plan.feeds):
        raise ExplainError("The model has a string input; explanations need numeric inputs.")
    background = np.asarray(background, dtype=np.float64)
    if background.ndim != 2 or background.shape[1] != len(features) or len(background) == 0:
        raise ExplainError(
            f"The background's columns do not match the model: it needs {len(features)} feature columns "
            f"({', '.join(features)}) and at least one row."
        )
    session = open_session(onnx_bytes)
    scores = score_matrix(session, plan, features, background)
    if not np.all(np.isfinite(scores)):
        raise ExplainError("The model returns NaN or infinite scores on the background.")
    model = onnx.load_from_string(onnx_bytes)
    parameters: dict[str, Any] = {"background_rows": len(background), "seed": seed}
    if method in (None, "tree_exact"):
        read = read_trees(model)
        explainer = _tree_explainer(*read, background, scores) if read is not None else None
        if read is not None and explainer is not None:
            parameters.update(trees=len(read[0]), feature_perturbation="interventional", shap=shap.__version__)
            return OnnxExplainer(features, "tree_exact", "probability", parameters, plan, session, explainer)
        if method == "tree_exact":
            raise ExplainError("The model is not a tree ensemble over its features that Assay can read exactly.")
    if method in (None, "linear"):
        linear = read_linear(model, len(features))
        if linear is not None:
            coefficients, intercept = linear
            margin = lambda rows: np.asarray(rows, dtype=np.float64) @ coefficients + intercept  # noqa: E731
            if np.allclose(_sigmoid(margin(background)), scores, atol=AGREEMENT, rtol=0):
                explainer = shap.LinearExplainer(
                    (coefficients, intercept), shap.maskers.Independent(background, max_samples=len(background))
                )
                parameters.update(feature_perturbation="interventional", shap=shap.__version__)
                found = OnnxExplainer(features, "linear", "log_odds", parameters, plan, session, explainer)
                found._margin = margin
                return found
        if method == "linear":
            raise ExplainError("The model is not a logistic linear classifier Assay can read.")
    masker = shap.maskers.Independent(background, max_samples=len(background))
    predict = lambda rows: score_matrix(session, plan, features, rows)  # noqa: E731
    explainer = shap.PermutationExplainer(predict, masker, seed=seed)
    parameters.update(max_evals=max(max_evals, 2 * len(features) + 1), shap=shap.__version__)
    found = OnnxExplainer(features, "permutation", "probability", parameters, plan, session, explainer)
    # shap compiles its permutation code (numba) on first use, seconds long: done here, once per process and model,
    # not on the first request.
    found.explain(background[:1])
    return found


def _columns(interface: dict[str, Any]) -> list[str]:
    try:
        return feature_columns(interface)
    except InterfaceError as error:
        raise ExplainError(str(error)) from None


# --- the global report -----------------------------------------------------------------------------------------------


def global_report(
    explainer: OnnxExplainer,
    rows: np.ndarray,
    *,
    groups: dict[str, Any] | None = None,
    points: int = 200,
    top: int = 5,
    batch: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The figures of a global explanation over ``rows`` (a sample of the evaluation data, in the explainer's
    feature order): mean |SHAP| per feature (the importance ranking), each feature's SHAP distribution (quantiles,
    and up to ``points`` (value, SHAP) pairs drawn with ``seed`` for a beeswarm), the dependence of the ``top``
    features (SHAP against the feature's value, binned by the value's deciles), and, per protected attribute in
    ``groups`` (its value per row), the mean |SHAP| per feature within each group: does the model lean on different
    features for different groups? Rows are explained in batches of ``batch``."""
    rows = np.asarray(rows, dtype=np.float64)
    parts = [explainer.explain(rows[start : start + batch]) for start in range(0, len(rows), batch)]
    values = np.concatenate([part.values for part in parts]) if parts else np.zeros((0, len(explainer.features)))
    additivity = max((part.additivity for part in parts), default=0.0)
    base = float(parts[0].base_values[0]) if parts else math.nan
    importance = np.abs(values).mean(axis=0) if len(values) else np.zeros(len(explainer.features))
    order = [int(i) for i in np.argsort(-importance, kind="stable")]
    rng = np.random.default_rng(seed)
    chosen: Any = np.sort(rng.choice(len(rows), size=min(points, len(rows)), replace=False)) if len(rows) else []
    features = []
    for j in order:
        column, shap_values = rows[:, j], values[:, j]
        quantiles: Any = np.nanquantile(shap_values, [0.05, 0.25, 0.5, 0.75, 0.95]) if len(values) else []
        features.append(
            {
                "feature": explainer.features[j],
                "mean_abs_shap": float(importance[j]),
                "shap_quantiles": [float(q) for q in quantiles],
                "points": [
                    [None if math.isnan(column[i]) else float(column[i]), float(shap_values[i])] for i in chosen
                ],
            }
        )
    dependence = [_dependence(explainer.features[j], rows[:, j], values[:, j]) for j in order[:top]]
    by_group = {}
    for attribute, given in (groups or {}).items():
        labels = np.asarray([str(label) for label in given], dtype=object)
        if len(labels) != len(rows):
            raise ExplainError(f"The protected attribute {attribute!r} has {len(labels)} values for {len(rows)} rows.")
        by_group[attribute] = [
            {
                "group": str(group),
                "size": int((labels == group).sum()),
                "mean_abs_shap": {
                    explainer.features[j]: float(np.abs(values[labels == group, j]).mean()) for j in order
                },
            }
            for group in sorted(set(labels.tolist()))
        ]
    return {
        "rows": len(rows),
        "method": explainer.method,
        "output_space": explainer.output_space,
        "parameters": explainer.parameters,
        "base_value": base,
        "additivity": additivity,
        "features": features,
        "dependence": dependence,
        "by_group": by_group,
    }


def _dependence(feature: str, column: np.ndarray, shap_values: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """SHAP against the feature's value: per decile bin of the value, its range, count and mean SHAP (missing
    values their own bin)."""
    present = ~np.isnan(column)
    edges = np.unique(np.quantile(column[present], np.linspace(0, 1, bins + 1))) if present.any() else np.array([])
    out: list[dict[str, Any]] = []
    if len(edges) >= 2:
        index = np.clip(np.searchsorted(edges, column[present], side="right") - 1, 0, len(edges) - 2)
        for k in range(len(edges) - 1):
            members = shap_values[present][index == k]
            if len(members):
                out.append(
                    {
                        "low": float(edges[k]),
                        "high": float(edges[k + 1]),
                        "count": len(members),
                        "mean_shap": float(members.mean()),
                    }
                )
    elif present.any():
        out.append(
            {
                "low": float(column[present][0]),
                "high": float(column[present][0]),
                "count": int(present.sum()),
                "mean_shap": float(shap_values[present].mean()),
            }
        )
    if (~present).any():
        out.append(
            {
                "low": None,
                "high": None,
                "count": int((~present).sum()),
                "mean_shap": float(shap_values[~present].mean()),
            }
        )
    return {"feature": feature, "bins": out}
