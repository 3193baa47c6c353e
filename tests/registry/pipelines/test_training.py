"""registry.pipelines.training (with training_data, metrics, onnx_export): Spark ML fits, their checks, the ONNX
export and its parity, and registration.

Real Spark (the session-wide ``spark`` fixture), real ONNX Runtime, the registry's own registration action. Data is
tiny and models small (GBT maxIter <= 5, depth <= 3): a fit costs seconds and a GBT conversion several more, so each
trained model is fitted once per module and its tests read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction

from core.models import Job
from registry import actions
from registry.models import ModelVersion
from registry.pipelines import onnx_export, params, training, training_data
from registry.pipelines.metrics import THRESHOLD_BINS, choose_threshold, with_positive_probability
from registry.pipelines.training import ParityError, TrainingError
from tests.registry.factories import make_events_dataset, make_feature_view, make_model, make_use_case
from workers.tasks import register_trained_model

FEATURES = ["usage", "complaints", "tenure_days", "has_discount"]
LABEL = "churned"
START = np.datetime64("2025-01-01T00:00:00")


def churn(rows: int = 600, *, seed: int = 7, noise: bool = False) -> pd.DataFrame:
    """Customers with a churn label (about one in five churn) that depends on usage, complaints and tenure; with
    ``noise`` the label is drawn independently of every feature. Event times are one per hour, in order."""
    rng = np.random.default_rng(seed)
    usage = rng.normal(10.0, 3.0, rows)
    complaints = rng.poisson(1.0, rows)
    tenure = rng.integers(30, 2000, rows)
    discount = rng.random(rows) < 0.3
    logit = -1.6 - 0.35 * (usage - 10.0) + 0.9 * (complaints - 1.0) - 0.0008 * (tenure - 1000) + 0.4 * discount
    probability = np.full(rows, 0.2) if noise else 1.0 / (1.0 + np.exp(-logit))
    return pd.DataFrame(
        {
            "customer_id": np.arange(rows),
            "usage": usage,
            "complaints": complaints.astype(np.int32),
            "tenure_days": tenure.astype(np.int64),
            "has_discount": discount,
            LABEL: (rng.random(rows) < probability).astype(np.int32),
            "event_time": START + np.arange(rows).astype("timedelta64[h]"),
        }
    )


def frame(spark: Any, data: pd.DataFrame) -> Any:
    return spark.createDataFrame(data)


@pytest.fixture(scope="module")
def lr(spark: Any) -> training.TrainedModel:
    """Logistic regression on time-ordered data, handed over skewed (every row in one of four partitions), with a
    search over two regularisations, and business costs."""
    from pyspark.sql import functions as F

    skewed = frame(spark, churn()).repartition(4, F.lit(1))
    return training.train(
        spark,
        skewed,
        label=LABEL,
        features=FEATURES,
        algorithm="logistic_regression",
        params={"search": {"regParam": [0.0, 0.05]}, "parallelism": 2},
        event_time_column="event_time",
        costs=(1.0, 5.0),
    )


@pytest.fixture(scope="module")
def gbt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gbt-job")


@pytest.fixture(scope="module")
def gbt(spark: Any, gbt_dir: Path) -> training.TrainedModel:
    stages: list[tuple[float, str]] = []
    trained = training.train(
        spark,
        frame(spark, churn(800, seed=11)),
        label=LABEL,
        features=FEATURES,
        algorithm="gbt",
        params={"maxIter": 5, "maxDepth": 3, "validationTol": 0.0, "checkpointInterval": 1},
        work_dir=gbt_dir,
        progress=lambda fraction, stage: stages.append((fraction, stage)),
    )
    trained.timings["stages_reported"] = float(len(stages))
    return trained


# --- Fits ---------------------------------------------------------------------------------------------------------


def test_logistic_regression_fits_and_reports_test_metrics(lr: training.TrainedModel) -> None:
    metrics = lr.metrics
    assert 0.6 < metrics["auc"] <= 1.0
    assert 0.0 < metrics["precision"] <= 1.0
    assert 0.0 < metrics["recall"] <= 1.0
    assert 0.0 < metrics["log_loss"] < 1.0
    assert metrics["threshold"] == lr.threshold
    assert 0.0 <= lr.threshold <= 1.0
    assert metrics["test_rows"] == lr.split["rows"]["test"]
    # Costs given: the business cost on the test split is the confusion counts at the threshold, priced.
    assert metrics["business_cost"] == 1.0 * metrics["false_positives"] + 5.0 * metrics["false_negatives"]
    assert [candidate["params"] for candidate in lr.search] == [{"regParam": 0.0}, {"regParam": 0.05}]
    best = max(lr.search, key=lambda candidate: candidate["validation_auc"])
    assert lr.params["regParam"] == best["params"]["regParam"]


def test_gbt_fits_with_at_most_its_trees(gbt: training.TrainedModel) -> None:
    assert gbt.algorithm == "gbt"
    assert 1 <= gbt.metrics["trees"] <= 5
    assert 0.6 < gbt.metrics["auc"] <= 1.0
    assert gbt.split["kind"] == "random"
    # Progress reported from checking the data to the end, in order.
    assert gbt.timings["stages_reported"] >= 6


def test_class_weights_balance_the_training_classes(lr: training.TrainedModel) -> None:
    counts = lr.split["class_counts"]["train"]
    total = counts["0"] + counts["1"]
    assert lr.class_weights == pytest.approx({"0": total / (2 * counts["0"]), "1": total / (2 * counts["1"])})
    # Each class then carries half of the weight, the rare one weighing more per row.
    assert counts["1"] * lr.class_weights["1"] == pytest.approx(counts["0"] * lr.class_weights["0"])
    assert lr.class_weights["1"] > 1.0 > lr.class_weights["0"]


def test_class_weights_can_be_turned_off() -> None:
    assert training_data.weigh_classes({"0": 90, "1": 10}, "none") == {"0": 1.0, "1": 1.0}
    assert training_data.weigh_classes({"0": 90, "1": 10}, "balanced") == {"0": 100 / 180, "1": 100 / 20}


def test_time_aware_split_never_validates_on_earlier_data(spark: Any) -> None:
    from pyspark.sql import functions as F

    # Shuffled rows: the split must follow the event time, not the order of arrival.
    data = churn(500).sample(frac=1.0, random_state=3)
    prepared, _ = training_data.prepare_rows(
        frame(spark, data), label=LABEL, features=tuple(FEATURES), event_time_column="event_time"
    )
    split, info = training_data.split_rows(prepared, by_time=True, validation_fraction=0.15, test_fraction=0.15, seed=1)
    bounds = {
        row[training_data.SPLIT_COL]: (row["first"], row["last"], row["rows"])
        for row in split.groupBy(training_data.SPLIT_COL)
        .agg(
            F.min(training_data.TIME_COL).alias("first"),
            F.max(training_data.TIME_COL).alias("last"),
            F.count(F.lit(1)).alias("rows"),
        )
        .collect()
    }
    assert bounds["train"][1] < bounds["validation"][0]
    assert bounds["validation"][1] < bounds["test"][0]
    assert info["kind"] == "time"
    assert bounds["train"][1] < info["validation_from"] <= bounds["validation"][0]
    assert sum(rows for _, _, rows in bounds.values()) == 500
    assert 300 <= bounds["train"][2] <= 400


def test_the_lr_job_split_in_time(lr: training.TrainedModel) -> None:
    assert lr.split["kind"] == "time"
    assert lr.split["validation_from"] < lr.split["test_from"]


def test_early_stopping_stops_when_validation_stops_improving(spark: Any) -> None:
    # A label drawn independently of every feature: more trees cannot lower the validation error.
    trained = training.train(
        spark,
        frame(spark, churn(500, seed=5, noise=True)),
        label=LABEL,
        features=FEATURES,
        algorithm="gbt",
        params={"maxIter": 5, "maxDepth": 3, "validationTol": 0.01, "parity_tolerance": 1e-3},
    )
    assert trained.metrics["trees"] < 5


def test_gbt_checkpoints_under_the_work_dir_and_resumes(spark: Any, gbt: training.TrainedModel, gbt_dir: Path) -> None:
    checkpoint_dir = spark.sparkContext.getCheckpointDir()
    assert checkpoint_dir is not None
    assert str(gbt_dir / "checkpoints") in checkpoint_dir
    assert (gbt_dir / "model.json").is_file()
    assert (gbt_dir / "model").is_dir()
    assert not gbt.resumed
    # The same job again (a retry after a crash): the saved pipeline is loaded, nothing is fitted.
    again = training.train(
        spark,
        frame(spark, churn(800, seed=11)),
        label=LABEL,
        features=FEATURES,
        algorithm="gbt",
        params={"maxIter": 5, "maxDepth": 3, "validationTol": 0.0, "checkpointInterval": 1},
        work_dir=gbt_dir,
    )
    assert again.resumed
    assert again.metrics["auc"] == pytest.approx(gbt.metrics["auc"])
    assert again.params == gbt.params


# --- Skew ---------------------------------------------------------------------------------------------------------


def test_skewed_input_is_rebalanced(lr: training.TrainedModel) -> None:
    assert lr.skew["ratio"] == pytest.approx(4.0)
    assert lr.skew["rebalanced"] is True
    assert lr.skew["ratio_after"] < training_data.SKEW_RATIO


def test_salted_key_spreads_a_hot_key_over_partitions(spark: Any) -> None:
    from pyspark.sql import functions as F

    # One customer has 90% of the rows: partitioned on the key alone, one partition holds them all.
    rows = spark.range(4000).withColumn("customer_id", F.when(F.col("id") % 10 < 9, F.lit(0)).otherwise(F.col("id")))
    by_key = rows.repartition(8, "customer_id")
    assert training_data.measure_skew(by_key)["ratio"] > 6.0
    salted = training_data.rebalance(by_key, partitions=8, key="customer_id", salt_buckets=64)
    skew = training_data.measure_skew(salted)
    assert skew["rows"] == 4000
    assert skew["partitions"] == 8
    assert skew["ratio"] < training_data.SKEW_RATIO
    assert salted.columns == by_key.columns


# --- Threshold ----------------------------------------------------------------------------------------------------


def bins_of(negatives: list[float], positives: list[float]) -> np.ndarray:
    bins = np.zeros((THRESHOLD_BINS, 2))
    for p in negatives:
        bins[min(int(p * THRESHOLD_BINS), THRESHOLD_BINS - 1), 0] += 1
    for p in positives:
        bins[min(int(p * THRESHOLD_BINS), THRESHOLD_BINS - 1), 1] += 1
    return bins


def test_threshold_of_max_f1_separates_separable_scores() -> None:
    bins = bins_of(negatives=[0.1, 0.2, 0.3], positives=[0.6, 0.7])
    threshold = choose_threshold(bins)
    assert 0.3 < threshold <= 0.6


def test_threshold_of_min_cost_follows_the_costs() -> None:
    bins = bins_of(negatives=[0.1, 0.2, 0.4, 0.5], positives=[0.3, 0.45, 0.8])
    # Missing a positive costs far more than a false alarm: flag everything down to the lowest positive.
    assert 0.2 < choose_threshold(bins, costs=(1.0, 100.0)) <= 0.3
    # False alarms cost far more: flag only above every negative.
    assert 0.5 < choose_threshold(bins, costs=(100.0, 1.0)) <= 0.8


# --- ONNX ---------------------------------------------------------------------------------------------------------


def test_onnx_takes_one_float_input_per_feature(lr: training.TrainedModel) -> None:
    model = onnx.load_from_string(lr.onnx_bytes)
    assert [graph_input.name for graph_input in model.graph.input] == FEATURES
    assert {output.name for output in model.graph.output} == {"prediction", "probability"}


def test_parity_within_tolerance(lr: training.TrainedModel, gbt: training.TrainedModel) -> None:
    for trained in (lr, gbt):
        assert 0.0 <= trained.parity_max_abs_diff <= onnx_export.DEFAULT_PARITY_TOLERANCE
        assert trained.metrics["parity_max_abs_diff"] == trained.parity_max_abs_diff


def test_a_perturbed_onnx_model_fails_parity(spark: Any, lr: training.TrainedModel) -> None:
    model = onnx.load_from_string(lr.onnx_bytes)
    (node,) = [node for node in model.graph.node if node.op_type == "LinearClassifier"]
    (coefficients,) = [attribute for attribute in node.attribute if attribute.name == "coefficients"]
    coefficients.floats[:] = [value * 1.5 for value in coefficients.floats]
    scored = with_positive_probability(lr.pipeline.transform(frame(spark, churn(200, seed=9))))
    sample = scored.select(*FEATURES, training_data.POSITIVE_COL).toPandas()
    assert onnx_export.parity(lr.onnx_bytes, sample, FEATURES) < 1e-6
    difference = onnx_export.parity(model.SerializeToString(), sample, FEATURES)
    assert difference > 1e-3
    with pytest.raises(ParityError, match=r"above the tolerance of 0\.0001"):
        onnx_export.check_parity(difference, 1e-4)


def test_parity_above_the_tolerance_fails_the_training(spark: Any) -> None:
    # Spark scores in double precision, ONNX Runtime in float: never bit for bit equal.
    with pytest.raises(ParityError, match="above the tolerance of 0"):
        training.train(
            spark,
            frame(spark, churn(300)),
            label=LABEL,
            features=FEATURES,
            algorithm="logistic_regression",
            params={"parity_tolerance": 0.0},
        )


def test_params_are_checked_without_spark() -> None:
    """The request actions check params with the same function the job uses, and it loads nothing of Spark."""
    model_params, job_params = params.check_params("gbt", {"maxDepth": 4, "seed": 7})
    assert model_params["maxDepth"] == 4
    assert model_params["maxIter"] == params.DEFAULT_MODEL_PARAMS["gbt"]["maxIter"]
    assert job_params["seed"] == 7
    with pytest.raises(params.InvalidParams, match="maxDepth must be from 0 to 30; got 31"):
        params.check_params("gbt", {"maxDepth": 31})
    with pytest.raises(params.InvalidParams, match="Unknown algorithm 'svm'"):
        params.check_params("svm", {})
    imports = [line for line in Path(params.__file__).read_text().splitlines() if line.startswith(("import", "from"))]
    assert imports == ["from __future__ import annotations", "import math", "from typing import Any, cast"]


# --- Refusals -----------------------------------------------------------------------------------------------------


def refused(spark: Any, data: pd.DataFrame, **overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "label": LABEL,
        "features": FEATURES,
        "algorithm": "logistic_regression",
        "params": {},
    }
    arguments.update(overrides)
    with pytest.raises(TrainingError) as raised:  # noqa: PT011  (each caller compares the whole message)
        training.train(spark, frame(spark, data), **arguments)
    return str(raised.value)


def test_a_label_with_one_class_is_refused_before_fitting(spark: Any) -> None:
    data = churn(100)
    data[LABEL] = 0
    assert refused(spark, data) == (
        "The label 'churned' has one class only (0 in all 100 rows): a classifier needs examples of both 0 and 1."
    )


def test_missing_columns_are_named(spark: Any) -> None:
    message = refused(spark, churn(50), features=["usage", "spend_90d"], label="left")
    assert message.startswith("Columns not in the data: left, spend_90d (the data has ")


def test_a_non_numeric_feature_is_refused(spark: Any) -> None:
    data = churn(50).assign(channel="web")
    message = refused(spark, data, features=[*FEATURES, "channel"])
    assert message.endswith("target encoding): channel (string).")


def test_nulls_and_labels_other_than_0_and_1_are_refused(spark: Any) -> None:
    data = churn(50)
    data["usage"] = data["usage"].astype(object)
    data.loc[3, "usage"] = None
    assert refused(spark, data) == "Null values where the model needs numbers: usage (1 rows)."
    data = churn(50)
    data.loc[0, LABEL] = 2
    assert "must be 0 or 1 (binary classification); it also holds 2.0" in refused(spark, data)


def test_bad_parameters_are_refused_by_name(spark: Any) -> None:
    data = churn(50)
    assert "Unknown algorithm 'svm'" in refused(spark, data, algorithm="svm")
    assert refused(spark, data, params={"maxDepth": 3}).startswith(
        "Unknown parameter 'maxDepth' for logistic_regression"
    )
    assert refused(spark, data, algorithm="gbt", params={"maxIter": 0}) == "maxIter must be from 1 to 1000; got 0."
    assert "not a hyper-parameter of gbt" in refused(spark, data, algorithm="gbt", params={"search": {"regParam": [1]}})
    assert refused(spark, data, params={"parallelism": 0}) == "parallelism must be an integer from 1 to 64."


def test_too_few_rows_of_a_class_in_a_split_is_refused(spark: Any) -> None:
    data = churn(60)
    data[LABEL] = 0
    data.loc[0, LABEL] = 1
    assert "split has no rows of class 1: too few rows" in refused(spark, data)


# --- Registration -------------------------------------------------------------------------------------------------


@pytest.fixture
def training_target(cast: Any, settings: Any, tmp_path: Path) -> dict[str, Any]:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    engineer = cast.engineer_a
    use_case = make_use_case(cast.team_a, engineer, cost_false_positive=1.0, cost_false_negative=5.0)
    model = make_model(cast.team_a, engineer, use_case=use_case)
    dataset, dataset_version = make_events_dataset(cast.team_a, engineer)
    view = make_feature_view(cast.team_a, engineer, dataset)
    feature_set = actions.do_register_feature_set_version(view, actor=engineer, dataset_versions=[dataset_version.pk])
    job = Job.objects.create(kind="registry.train_model", team=cast.team_a, requested_by=engineer)
    return {"model": model, "feature_set": feature_set, "job": job, "engineer": engineer, "dataset": dataset_version}


def test_a_trained_model_registers_once_per_job(
    training_target: dict[str, Any], lr: training.TrainedModel, gbt: training.TrainedModel
) -> None:
    model, job, engineer = training_target["model"], training_target["job"], training_target["engineer"]
    assert model.use_case.decision_costs() == (1.0, 5.0)
    version = register_trained_model(
        lr, model=model, job=job, actor=engineer, feature_set_version=training_target["feature_set"]
    )
    assert version.number == 1
    assert version.job == job
    assert version.links == {
        "dataset_versions": [training_target["dataset"].pk],
        "feature_set_versions": [training_target["feature_set"].pk],
        "authors": [engineer.username],
    }
    assert version.metrics["auc"] == lr.metrics["auc"]
    assert version.training_params["params"]["regParam"] == lr.params["regParam"]
    assert version.training_params["job"] == str(job.public_id)
    assert [item["name"] for item in version.interface["inputs"]] == FEATURES
    # The job retried after a crash trains again and registers again: it gets its first version back.
    again = register_trained_model(
        gbt, model=model, job=job, actor=engineer, feature_set_version=training_target["feature_set"]
    )
    assert again.pk == version.pk
    assert again.artifact_sha256 == version.artifact_sha256
    assert ModelVersion.objects.filter(model=model).count() == 1
    # Another job registers the next version.
    other = Job.objects.create(kind="registry.train_model", team=model.team, requested_by=engineer)
    second = register_trained_model(
        gbt, model=model, job=other, actor=engineer, feature_set_version=training_target["feature_set"]
    )
    assert second.number == 2
    assert second.job == other


def test_a_versions_job_is_frozen(training_target: dict[str, Any], lr: training.TrainedModel) -> None:
    version = register_trained_model(
        lr,
        model=training_target["model"],
        job=training_target["job"],
        actor=training_target["engineer"],
        feature_set_version=training_target["feature_set"],
    )
    with (
        pytest.raises(DatabaseError, match=r"registry_modelversion rows are immutable: UPDATE refused"),
        transaction.atomic(),
    ):
        ModelVersion.objects.filter(pk=version.pk).update(job=None)


def test_use_case_costs_come_as_a_pair_of_non_negative_numbers(cast: Any) -> None:
    engineer = cast.engineer_a
    with pytest.raises(
        ValidationError, match=r"Give it with cost_false_positive: the costs of errors come as a pair\."
    ) as raised:
        make_use_case(cast.team_a, engineer, cost_false_positive=2.0)
    assert "cost_false_negative" in raised.value.message_dict
    with pytest.raises(ValidationError, match=r"A cost is a finite number, zero or more\.") as raised:
        make_use_case(cast.team_a, engineer, cost_false_positive=-1.0, cost_false_negative=1.0)
    assert raised.value.message_dict["cost_false_positive"] == ["A cost is a finite number, zero or more."]
    assert make_use_case(cast.team_a, engineer).decision_costs() is None


def test_use_case_costs_through_the_api(cast: Any, api_as: Any) -> None:
    use_case = make_use_case(cast.team_a, cast.engineer_a)
    client = api_as(cast.engineer_a)
    response = client.patch(
        f"/api/v1/use-cases/{use_case.pk}/", {"cost_false_positive": 3.0, "cost_false_negative": 40.0}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["cost_false_positive"], response.json()["cost_false_negative"]) == (3.0, 40.0)
    response = client.patch(f"/api/v1/use-cases/{use_case.pk}/", {"cost_false_negative": None}, format="json")
    assert response.status_code == 400
    assert "cost_false_negative" in response.json()["error"]["fields"]
