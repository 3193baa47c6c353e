"""Distributed training of binary classifiers with Spark ML, exported to ONNX and checked against Spark's own scores.

``train(spark, df, label=..., features=[...], algorithm=..., params={...})`` fits a Spark ML ``Pipeline``
(VectorAssembler, then logistic regression or gradient-boosted trees) on a feature-set version's rows and returns a
``TrainedModel``: the fitted pipeline, the chosen hyper-parameters, the decision threshold, metrics on a held-out
test split, the ONNX bytes and the parity of ONNX Runtime's scores with Spark's. A function of data: it reads and
writes no database (the training job, workers.tasks.train_model, registers the ONNX through the registry's action).
See docs/spark-jobs.md, "Training".

What happens, in order:

1. The input is checked before anything is fitted: the label and every feature exist, features are numeric (or
   boolean), nothing is null, the label holds exactly the two classes 0 and 1 (a one-class label is refused with the
   class it holds). Features are rounded to float32 here, because the ONNX contract is float32: Spark then trains and
   scores on exactly the values a caller of the ONNX model can send.
2. Partition skew is measured (rows per partition, one pass in the JVM) and, when the largest partition holds more
   than ``SKEW_RATIO`` times its share, the rows are repartitioned on a salted key (``rebalance``).
3. Rows are split into train, validation and test. With ``event_time_column`` the split is by time: train on the
   earliest rows, validate on later ones, test on the latest (never a random split across time); otherwise at
   random, with a fixed seed. Each split must hold both classes.
4. Class weights (``n / (2 * n_class)`` over the training rows, "balanced") go into a weight column.
5. Hyper-parameter search over ``params["search"]`` (a grid), candidates fitted ``parallelism`` at a time with Spark
   ML's ``fitMultiple`` (what TrainValidationSplit runs), each scored by AUC on the validation split. The split is
   ours rather than TrainValidationSplit's own random one because it must respect time, and because the same
   validation rows serve GBT's early stopping (``validationIndicatorCol`` + ``validationTol``) and the choice of
   the threshold. The best candidate is kept as fitted on the training split.
6. With a ``work_dir``, Spark checkpoints under it (``checkpointInterval`` truncates GBT's lineage) and the fitted
   pipeline is saved there: a job run again after a crash loads it instead of fitting again (``resumed``).
7. The threshold is chosen on the validation split: the one of maximum F1, or of minimum business cost when the
   use case states the cost of a false positive and of a false negative. Test metrics: AUC, precision, recall and
   F1 at that threshold, log loss, and the business cost.
8. ONNX export with onnxmltools (one float32 ``[N, 1]`` input per feature, named after it: the interface contract
   names every input), then parity: a held-out sample scored by Spark and by ONNX Runtime, the largest absolute
   difference of the positive-class probability reported, and ``ParityError`` above the tolerance
   (``params["parity_tolerance"]``, else ``default_parity_tolerance``: the job passes the
   ``TRAINING_PARITY_TOLERANCE`` setting; 1e-4 by default).

The ONNX model's outputs are ``prediction`` (Spark's converters cut at 0.5) and ``probability`` ([N, 2]); a caller
deciding at the chosen threshold reads ``probability[:, 1]`` and compares it with ``metrics["threshold"]``.

This module holds the sequence (``train``), the search and resuming. ``params`` are checked by
``registry.pipelines.params`` (which the request actions use too), steps 1 to 4 are in
``registry.pipelines.training_data``, step 7 in ``registry.pipelines.metrics``, step 8 in
``registry.pipelines.onnx_export``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.pool import ThreadPool
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from registry.pipelines.metrics import choose_threshold, held_out_metrics, probability_bins, with_positive_probability
from registry.pipelines.onnx_export import DEFAULT_PARITY_TOLERANCE, ParityError, check_parity, export_onnx, parity
from registry.pipelines.params import ALGORITHMS, InvalidParams, check_params
from registry.pipelines.progress import Progress, no_progress
from registry.pipelines.training_data import (
    FEATURES_COL,
    LABEL_COL,
    POSITIVE_COL,
    SKEW_RATIO,
    SPLIT_COL,
    VALIDATION_COL,
    WEIGHT_COL,
    TrainingError,
    measure_skew,
    prepare_rows,
    rebalance,
    split_rows,
    weigh_classes,
)

if TYPE_CHECKING:
    from pyspark.ml import PipelineModel
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "ALGORITHMS",
    "ParityError",
    "TrainedModel",
    "TrainingError",
    "train",
]


@dataclass
class TrainedModel:
    """What ``train`` produced. ``params`` are the hyper-parameters of the model kept (after the search) and the
    job's settings; ``search`` each candidate with its validation AUC; ``metrics`` numbers only (test split unless
    named otherwise); ``split`` how the rows were divided; ``timings`` seconds per stage."""

    pipeline: PipelineModel
    algorithm: str
    label: str
    features: tuple[str, ...]
    event_time_column: str | None
    params: dict[str, Any]
    search: list[dict[str, Any]]
    metrics: dict[str, float]
    threshold: float
    class_weights: dict[str, float]
    split: dict[str, Any]
    skew: dict[str, Any]
    onnx_bytes: bytes
    parity_max_abs_diff: float
    parity_tolerance: float
    resumed: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def chunks(self, size: int = 1024 * 1024) -> Iterator[bytes]:
        for start in range(0, len(self.onnx_bytes), size):
            yield self.onnx_bytes[start : start + size]

    def training_params(self) -> dict[str, Any]:
        """The version's ``training_params``: everything needed to say how it was trained."""
        return {
            "algorithm": self.algorithm,
            "label": self.label,
            "features": list(self.features),
            "event_time_column": self.event_time_column,
            "params": self.params,
            "search": self.search,
            "threshold": self.threshold,
            "class_weights": self.class_weights,
            "split": self.split,
            "skew": self.skew,
            "parity": {"max_abs_diff": self.parity_max_abs_diff, "tolerance": self.parity_tolerance},
            "resumed": self.resumed,
            "timings": self.timings,
            "onnx": {
                "inputs": "one float32 [N, 1] tensor per feature, named after it",
                "outputs": "probability [N, 2] (column 1: the positive class); prediction (cut at 0.5, not threshold)",
            },
        }


def train(
    spark: SparkSession,
    df: DataFrame,
    *,
    label: str,
    features: Sequence[str],
    algorithm: str,
    params: dict[str, Any] | None = None,
    event_time_column: str | None = None,
    costs: tuple[float, float] | None = None,
    work_dir: Path | str | None = None,
    progress: Progress | None = None,
    default_parity_tolerance: float = DEFAULT_PARITY_TOLERANCE,
) -> TrainedModel:
    """Fit, evaluate, export and check a binary classifier on ``df`` (see the module's docstring).

    ``costs`` is ``(cost of a false positive, cost of a false negative)`` (registry UseCase.decision_costs()).
    ``work_dir`` (a path every executor can reach) holds Spark's checkpoints and the fitted pipeline, so that a
    second call with the same inputs resumes. Raises ``TrainingError`` (``ParityError``) with a precise message.
    """
    from pyspark.sql import functions as F

    report = progress or no_progress
    timings: dict[str, float] = {}
    started = time.perf_counter()
    features = tuple(features)
    try:
        model_params, job_params = check_params(algorithm, params or {})
    except InvalidParams as error:
        raise TrainingError(str(error)) from None
    report(0.02, "checking the data")
    prepared, class_counts = prepare_rows(df, label=label, features=features, event_time_column=event_time_column)

    skew = measure_skew(prepared)
    if skew["ratio"] > SKEW_RATIO:
        prepared = rebalance(
            prepared,
            partitions=skew["partitions"],
            key=job_params["skew_key"],
            salt_buckets=job_params["salt_buckets"],
            seed=job_params["seed"],
        )
        skew = {**skew, "rebalanced": True, "ratio_after": measure_skew(prepared)["ratio"]}
    else:
        skew = {**skew, "rebalanced": False}

    report(0.08, "splitting")
    split_df, split = split_rows(
        prepared,
        by_time=event_time_column is not None,
        validation_fraction=job_params["validation_fraction"],
        test_fraction=job_params["test_fraction"],
        seed=job_params["seed"],
    )
    class_weights = weigh_classes(split["class_counts"]["train"], job_params["class_weight"])
    weighted = split_df.withColumn(
        WEIGHT_COL, F.when(F.col(LABEL_COL) == 1.0, class_weights["1"]).otherwise(class_weights["0"])
    ).persist()
    split_df.unpersist()
    try:
        timings["prepare_seconds"] = time.perf_counter() - started
        train_rows = weighted.filter(F.col(SPLIT_COL) == "train")
        validation_rows = weighted.filter(F.col(SPLIT_COL) == "validation")
        test_rows = weighted.filter(F.col(SPLIT_COL) == "test")
        # GBT stops early on the validation rows, so they go to its fit, marked; LR must not see them.
        fit_rows = (
            weighted.filter(F.col(SPLIT_COL) != "test").withColumn(VALIDATION_COL, F.col(SPLIT_COL) == "validation")
            if algorithm == "gbt"
            else train_rows
        )

        fitted = time.perf_counter()
        key = _resume_key(algorithm, model_params, job_params, label, features, event_time_column, class_counts)
        work = Path(work_dir) if work_dir is not None else None
        resumed = work is not None and _saved(work, key) is not None
        if work is not None:
            (work / "checkpoints").mkdir(parents=True, exist_ok=True)
            spark.sparkContext.setCheckpointDir(str(work / "checkpoints"))
        if resumed:
            assert work is not None
            from pyspark.ml import PipelineModel

            report(0.15, "resuming: loading the pipeline fitted by an earlier attempt")
            pipeline = PipelineModel.load(str(work / "model"))
            saved = _saved(work, key)
            assert saved is not None
            chosen, search = saved["params"], saved["search"]
        else:
            pipeline, chosen, search = _search(
                spark,
                algorithm,
                features,
                model_params,
                job_params,
                fit_rows=fit_rows,
                validation_rows=validation_rows,
                report=report,
            )
            if work is not None:
                _save(work, key, pipeline, chosen, search)
        timings["fit_seconds"] = time.perf_counter() - fitted

        report(0.75, "choosing the threshold on the validation split")
        scored_validation = with_positive_probability(pipeline.transform(validation_rows))
        threshold = choose_threshold(probability_bins(scored_validation), costs=costs)

        report(0.8, "scoring the test split")
        scored_test = with_positive_probability(pipeline.transform(test_rows))
        metrics = held_out_metrics(scored_test, threshold=threshold, costs=costs)
        metrics["validation_auc"] = max(candidate["validation_auc"] for candidate in search)
        classifier: Any = pipeline.stages[-1]
        if algorithm == "gbt":
            metrics["trees"] = float(classifier.getNumTrees)

        report(0.85, "exporting to ONNX")
        exported = time.perf_counter()
        onnx_bytes = export_onnx(spark, pipeline, features)
        timings["onnx_export_seconds"] = time.perf_counter() - exported

        report(0.93, "checking ONNX Runtime's scores against Spark's")
        tolerance = (
            default_parity_tolerance
            if job_params["parity_tolerance"] is None
            else float(job_params["parity_tolerance"])
        )
        sample = scored_test.select(*features, POSITIVE_COL).limit(job_params["parity_sample"]).toPandas()
        difference = parity(onnx_bytes, sample, features)
        check_parity(difference, tolerance)
        metrics["parity_max_abs_diff"] = difference
        timings["total_seconds"] = time.perf_counter() - started
        metrics["training_seconds"] = timings["fit_seconds"]
    finally:
        weighted.unpersist()
    report(1.0, "trained")
    return TrainedModel(
        pipeline=pipeline,
        algorithm=algorithm,
        label=label,
        features=features,
        event_time_column=event_time_column,
        params={
            **chosen,
            **{k: v for k, v in job_params.items() if k != "search"},
            "search_grid": job_params["search"],
        },
        search=search,
        metrics=metrics,
        threshold=threshold,
        class_weights=class_weights,
        split=split,
        skew=skew,
        onnx_bytes=onnx_bytes,
        parity_max_abs_diff=difference,
        parity_tolerance=tolerance,
        resumed=resumed,
        timings=timings,
    )


# --- Fit and search -----------------------------------------------------------------------------------------------


def _estimator(algorithm: str, features: tuple[str, ...], model_params: dict[str, Any], seed: int) -> Any:
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import GBTClassifier, LogisticRegression
    from pyspark.ml.feature import VectorAssembler

    assembler = VectorAssembler(inputCols=list(features), outputCol=FEATURES_COL, handleInvalid="error")
    common: dict[str, Any] = {"featuresCol": FEATURES_COL, "labelCol": LABEL_COL, "weightCol": WEIGHT_COL}
    classifier: Any
    if algorithm == "gbt":
        classifier = GBTClassifier(**common, validationIndicatorCol=VALIDATION_COL, seed=seed, **model_params)
    else:
        classifier = LogisticRegression(**common, family="binomial", **model_params)
    return Pipeline(stages=[assembler, classifier]), classifier


def _search(
    spark: SparkSession,
    algorithm: str,
    features: tuple[str, ...],
    model_params: dict[str, Any],
    job_params: dict[str, Any],
    *,
    fit_rows: DataFrame,
    validation_rows: DataFrame,
    report: Progress,
) -> tuple[PipelineModel, dict[str, Any], list[dict[str, Any]]]:
    """Fit every candidate of the grid (``parallelism`` at a time, as Spark ML's TrainValidationSplit does) and keep
    the one of the best validation AUC."""
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.tuning import ParamGridBuilder
    from pyspark.util import inheritable_thread_target

    pipeline, classifier = _estimator(algorithm, features, model_params, job_params["seed"])
    grid = ParamGridBuilder()
    for name, values in job_params["search"].items():
        grid = grid.addGrid(classifier.getParam(name), values)
    param_maps = grid.build()
    evaluator = BinaryClassificationEvaluator(
        labelCol=LABEL_COL, rawPredictionCol="probability", metricName="areaUnderROC"
    )
    fits = pipeline.fitMultiple(fit_rows, param_maps)
    total = len(param_maps)
    results: list[tuple[int, Any, float]] = []

    def fit_one(_: int) -> tuple[int, Any, float]:
        # fitMultiple's iterator is thread-safe: each call fits the next candidate.
        index, model = next(fits)
        return index, model, evaluator.evaluate(model.transform(validation_rows))

    # inheritable_thread_target: the candidates' Spark jobs keep the caller's job group (cancellation reaches them).
    with ThreadPool(processes=min(job_params["parallelism"], total)) as pool:
        for done, result in enumerate(pool.imap_unordered(inheritable_thread_target(spark)(fit_one), range(total)), 1):
            results.append(result)
            report(0.15 + 0.55 * done / total, f"fitted {done} of {total} candidate{'s' if total > 1 else ''}")
    results.sort(key=lambda item: item[0])
    search: list[dict[str, Any]] = [
        {
            "params": {param.name: _plain(value) for param, value in param_maps[index].items()},
            "validation_auc": auc,
        }
        for index, _, auc in results
    ]
    best_index, best_model, _ = max(results, key=lambda item: (item[2], -item[0]))
    chosen = {**model_params, **search[best_index]["params"]}
    return best_model, chosen, search


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _resume_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _saved(work: Path, key: str) -> dict[str, Any] | None:
    try:
        saved: dict[str, Any] = json.loads((work / "model.json").read_text())
    except (OSError, ValueError):
        return None
    return saved if saved.get("key") == key and (work / "model").is_dir() else None


def _save(work: Path, key: str, pipeline: PipelineModel, chosen: dict[str, Any], search: list[dict[str, Any]]) -> None:
    # The pipeline first, the manifest last: a crash between them leaves no manifest, so nothing half-saved resumes.
    shutil.rmtree(work / "model", ignore_errors=True)
    pipeline.write().overwrite().save(str(work / "model"))
    staging = work / "model.json.tmp"
    staging.write_text(json.dumps({"key": key, "params": chosen, "search": search}))
    staging.replace(work / "model.json")
