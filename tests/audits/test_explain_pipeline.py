"""audits.pipelines.explain: the explainer read from an ONNX graph agrees with shap run on the scikit-learn model.

Pure tests (no Spark, no database): real scikit-learn models, exported with skl2onnx, explained through ONNX Runtime
and compared with shap's own explainers on the fitted estimators (the floor the product must match).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shap
from onnx import TensorProto, helper
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from audits.pipelines.explain import ADDITIVITY, ExplainError, build_explainer, global_report
from tests.audits.onnx_models import scorer_bytes

FEATURES = [f"f{i}" for i in range(6)]


def data(n: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES))).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] - 0.3 * x[:, 2] + rng.normal(size=n) > 0).astype(int)
    return x, y


def interface(width: int = len(FEATURES)) -> dict[str, Any]:
    return {
        "inputs": [{"name": "X", "kind": "tensor", "elem_type": "float32", "shape": [None, width]}],
        "outputs": [{"name": "probabilities", "kind": "tensor", "elem_type": "float32", "shape": [None, 2]}],
        "metadata_props": {"features": ",".join(FEATURES[:width])},
    }


def export(model: Any, x: np.ndarray) -> bytes:
    return to_onnx(model, x[:1], options={"zipmap": False}).SerializeToString()


def test_a_boosted_tree_ensemble_is_explained_exactly_as_shap_explains_the_sklearn_model():
    # GIVEN a gradient-boosted classifier exported to ONNX, and a background of 100 rows
    x, y = data()
    model = GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=0).fit(x, y)
    background, rows = x[:100], x[1000:1040]
    # WHEN the explainer is built from the ONNX graph
    explainer = build_explainer(export(model, x), interface(), background)
    explained = explainer.explain(rows)
    # THEN it is the exact tree explainer, in probability, recording its parameters
    assert explainer.method == "tree_exact"
    assert explainer.output_space == "probability"
    assert explainer.parameters["trees"] == 60
    assert explainer.parameters["background_rows"] == 100
    # AND its SHAP values are shap's on the scikit-learn model (interventional, probability), to 1e-6
    reference = shap.TreeExplainer(
        model, data=background, feature_perturbation="interventional", model_output="probability"
    ).shap_values(rows)
    reference = np.asarray(reference)
    reference = reference[..., 1] if reference.ndim == 3 else reference
    assert np.abs(explained.values - reference).max() < 1e-6
    # AND base + sum(SHAP) is the score ONNX Runtime returns
    assert explained.additivity < ADDITIVITY
    assert np.allclose(explained.outputs, model.predict_proba(rows)[:, 1], atol=1e-5)


def test_a_random_forest_is_explained_exactly():
    x, y = data(seed=1)
    model = RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0).fit(x, y)
    background, rows = x[:80], x[900:920]
    explainer = build_explainer(export(model, x), interface(), background)
    explained = explainer.explain(rows)
    assert explainer.method == "tree_exact"
    reference = np.asarray(
        shap.TreeExplainer(model, data=background, feature_perturbation="interventional").shap_values(rows)
    )
    reference = reference[..., 1] if reference.ndim == 3 else reference
    assert np.abs(explained.values - reference).max() < 1e-6
    assert explained.additivity < ADDITIVITY


def test_a_scaled_logistic_regression_is_explained_by_the_linear_explainer_in_log_odds():
    # GIVEN StandardScaler + LogisticRegression exported as Scaler + LinearClassifier
    x, y = data(seed=2)
    model = Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression())]).fit(x, y)
    background, rows = x[:100], x[700:730]
    explainer = build_explainer(export(model, x), interface(), background)
    explained = explainer.explain(rows)
    # THEN the linear explainer over the folded raw-feature function, in log-odds
    assert explainer.method == "linear"
    assert explainer.output_space == "log_odds"
    reference = shap.LinearExplainer(
        model[-1], shap.maskers.Independent(model[0].transform(background), max_samples=100)
    ).shap_values(model[0].transform(rows))
    assert np.abs(explained.values - np.asarray(reference)).max() < 1e-5
    # AND base + sum(SHAP) is the log-odds of the score ONNX Runtime returns
    assert explained.additivity < ADDITIVITY
    assert np.allclose(1 / (1 + np.exp(-explained.outputs)), explained.scores, atol=1e-6)


def test_any_other_model_gets_the_permutation_explainer_with_its_budget_recorded():
    # GIVEN a small neural network (no structure Assay reads)
    x, y = data(seed=3)
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=400, random_state=0).fit(x, y)
    explainer = build_explainer(export(model, x), interface(), x[:50], seed=7, max_evals=200)
    explained = explainer.explain(x[500:505])
    # THEN the permutation explainer, its budget and seed recorded, additive to the score
    assert explainer.method == "permutation"
    assert explainer.parameters["max_evals"] == 200
    assert explainer.parameters["seed"] == 7
    assert explained.additivity < ADDITIVITY
    # AND its attributions follow the model: the feature the label depends on most matters most on average
    assert int(np.argmax(np.abs(explained.values).mean(axis=0))) == 0


def test_the_permutation_explainer_agrees_with_the_exact_one_on_a_tree_model():
    # GIVEN a tree model explained both ways
    x, y = data(seed=4)
    model = GradientBoostingClassifier(n_estimators=30, max_depth=2, random_state=0).fit(x, y)
    onnx_bytes = export(model, x)
    exact = build_explainer(onnx_bytes, interface(), x[:60]).explain(x[800:810])
    sampled = build_explainer(onnx_bytes, interface(), x[:60], method="permutation", max_evals=2000).explain(x[800:810])
    # THEN the sampled attributions are close to the exact ones: within a tenth of the largest attribution (the
    # logistic link adds interactions that permutation sampling spreads differently) and ranked alike
    assert np.abs(sampled.values - exact.values).max() < 0.1 * np.abs(exact.values).max()
    assert np.corrcoef(sampled.values.ravel(), exact.values.ravel())[0, 1] > 0.99


def _tree(mode: str, missing_true: int) -> bytes:
    """One stump on x0 at 0.5 with ``mode``; true leaf weight 2, false leaf -2, logistic; one float input."""
    node = helper.make_node(
        "TreeEnsembleClassifier",
        ["X"],
        ["label", "probabilities"],
        domain="ai.onnx.ml",
        nodes_treeids=[0, 0, 0],
        nodes_nodeids=[0, 1, 2],
        nodes_featureids=[0, 0, 0],
        nodes_values=[0.5, 0.0, 0.0],
        nodes_modes=[mode, "LEAF", "LEAF"],
        nodes_truenodeids=[1, 0, 0],
        nodes_falsenodeids=[2, 0, 0],
        nodes_missing_value_tracks_true=[missing_true, 0, 0],
        class_treeids=[0, 0],
        class_nodeids=[1, 2],
        class_ids=[0, 0],
        class_weights=[2.0, -2.0],
        classlabels_int64s=[0, 1],
        post_transform="LOGISTIC",
    )
    graph = helper.make_graph(
        [node],
        "stump",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    model.ir_version = 8
    return model.SerializeToString()


@pytest.mark.parametrize("mode", ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT"])
@pytest.mark.parametrize("missing_true", [0, 1])
def test_every_branch_mode_and_missing_direction_is_read_as_onnx_runtime_runs_it(mode: str, missing_true: int):
    # GIVEN a stump whose threshold sits exactly on background values, with NaN in the rows
    background = np.array([[0.5, 0.0], [0.4, 1.0], [0.6, 0.0], [np.nan, 1.0]])
    rows = np.array([[0.5, 0.0], [np.nextafter(np.float32(0.5), np.float32(1)), 0.0], [np.nan, 0.0], [-3.0, 2.0]])
    explainer = build_explainer(_tree(mode, missing_true), interface(2), background)
    # THEN it is read exactly (the reading is checked against ONNX Runtime on the background when built)
    assert explainer.method == "tree_exact"
    explained = explainer.explain(rows)
    # AND on the boundary and on NaN the explanation adds up to ONNX Runtime's score
    assert explained.additivity < ADDITIVITY
    assert np.allclose(explained.outputs, explained.scores)
    # AND x1, which no branch reads, gets nothing
    assert np.abs(explained.values[:, 1]).max() < 1e-9


def test_a_background_that_does_not_match_the_model_is_refused():
    x, y = data()
    onnx_bytes = export(LogisticRegression().fit(x, y), x)
    with pytest.raises(ExplainError, match="needs 6 feature columns"):
        build_explainer(onnx_bytes, interface(), x[:10, :4])
    with pytest.raises(ExplainError, match="at least one row"):
        build_explainer(onnx_bytes, interface(), x[:0])


def test_a_method_that_does_not_fit_the_graph_is_refused():
    x, y = data()
    onnx_bytes = export(LogisticRegression().fit(x, y), x)
    with pytest.raises(ExplainError, match="not a tree ensemble"):
        build_explainer(onnx_bytes, interface(), x[:10], method="tree_exact")


def test_a_model_of_per_column_inputs_is_explained_through_its_columns():
    # GIVEN the audit tests' scorer: income and debt as two [N, 1] inputs, a graph of Mul/Add/Sigmoid
    interface_ = {
        "inputs": [
            {"name": "income", "kind": "tensor", "elem_type": "float32", "shape": [None, 1]},
            {"name": "debt", "kind": "tensor", "elem_type": "float32", "shape": [None, 1]},
        ],
        "outputs": [{"name": "probability", "kind": "tensor", "elem_type": "float32", "shape": [None, 2]}],
    }
    rng = np.random.default_rng(5)
    background = rng.normal(size=(40, 2))
    explainer = build_explainer(scorer_bytes(), interface_, background, max_evals=100)
    explained = explainer.explain(rng.normal(size=(3, 2)))
    # THEN the features are its columns, and the permutation explanation adds up to the score
    assert explainer.features == ["income", "debt"]
    assert explainer.method == "permutation"
    assert explained.additivity < ADDITIVITY


def test_the_global_report_ranks_features_and_compares_groups():
    # GIVEN a boosted model where f0 matters most, and a protected attribute that tracks f2 in half the rows
    x, y = data(seed=6)
    model = GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0).fit(x, y)
    explainer = build_explainer(export(model, x), interface(), x[:100])
    rows = x[200:1200].astype(np.float64)
    rows[::50, 3] = np.nan  # missing values in a feature
    group = np.where(np.arange(len(rows)) % 2 == 0, "a", "b")
    # WHEN the global report is computed in batches
    report = global_report(explainer, rows, groups={"sex": group}, points=50, top=3, batch=300)
    # THEN features are ranked by mean |SHAP|, computed over every row (checked against one explanation of all)
    whole = explainer.explain(rows)
    expected = np.abs(whole.values).mean(axis=0)
    assert report["features"][0]["feature"] == "f0"
    for entry in report["features"]:
        assert entry["mean_abs_shap"] == pytest.approx(expected[FEATURES.index(entry["feature"])], abs=1e-9)
        assert len(entry["points"]) == 50
    ranking = [f["mean_abs_shap"] for f in report["features"]]
    assert ranking == sorted(ranking, reverse=True)
    # AND the dependence of the top three features, with missing values as their own bin
    assert [d["feature"] for d in report["dependence"]] == [f["feature"] for f in report["features"][:3]]
    assert sum(b["count"] for b in report["dependence"][0]["bins"]) == len(rows)
    # AND each group's importance is its rows' mean |SHAP|
    (a, b) = report["by_group"]["sex"]
    assert (a["group"], a["size"], b["size"]) == ("a", 500, 500)
    assert a["mean_abs_shap"]["f0"] == pytest.approx(np.abs(whole.values[group == "a", 0]).mean(), abs=1e-9)
    assert report["additivity"] < ADDITIVITY
    assert report["method"] == "tree_exact"


def test_a_group_column_of_the_wrong_length_is_refused():
    x, y = data()
    explainer = build_explainer(export(LogisticRegression().fit(x, y), x), interface(), x[:20])
    with pytest.raises(ExplainError, match="has 3 values for 10 rows"):
        global_report(explainer, x[:10], groups={"sex": ["a", "b", "a"]})
