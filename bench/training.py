"""Training benchmark (issue #5): Spark ML training time at 1M rows, for logistic regression and a small GBT, and the
ONNX export, with the JVM start reported on its own.

    python -m bench.training [--sizes 100000,1000000] [--gbt-trees 10] [--gbt-depth 3]
    make bench-training ARGS="--sizes 100000"        # a quick run

Synthetic churn-like rows (seeded numpy): eight numeric features, a label with about 20% positives drawn from a
logistic model of them, and an event time (one row per second, in order), written once as Parquet (pyarrow) in a
throwaway folder and read by Spark, as a feature-set version is. Each algorithm goes through
``registry.pipelines.training.train`` end to end: checks, skew measure, time-aware split (70/15/15), class weights,
one candidate (no grid), GBT early stopping on the validation split, threshold on validation, test metrics, ONNX
export and parity on 1,000 held-out rows.

Printed per size and algorithm: the whole ``train`` call (wall seconds, and input rows per second), and the parts
``train`` itself times: preparing (checks, skew, split, weights: three passes over the data), fitting, and the ONNX
export (onnxmltools' conversion; for GBT it grows with the number of trees, not the rows). The rest of the total
is threshold choice, test metrics and parity. The JVM start (``workers.spark.get_spark()``, the first time in the
process) is printed on its own and excluded from the rest; one small untimed run warms the JVM's compiler first.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FEATURES = [f"x{i}" for i in range(8)]
COEFFICIENTS = [0.8, -0.6, 0.5, -0.4, 0.3, 0.2, -0.2, 0.1]


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.training", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000", help="row counts, comma-separated")
    parser.add_argument("--gbt-trees", type=int, default=10, help="maxIter of the GBT (early stopping may cut it)")
    parser.add_argument("--gbt-depth", type=int, default=3, help="maxDepth of the GBT")
    return parser.parse_args(argv)


def _write_rows(path: Path, n: int) -> None:
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    rng = np.random.default_rng(n)
    columns = {name: rng.normal(0.0, 1.0, n) for name in FEATURES}
    logit = -1.6 + sum(c * columns[name] for c, name in zip(COEFFICIENTS, FEATURES, strict=True))
    columns["churned"] = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int32)
    start = np.datetime64("2024-01-01T00:00:00", "us")
    columns["event_time"] = pa.array(start + np.arange(n).astype("timedelta64[s]"), type=pa.timestamp("us", tz="UTC"))
    pq.write_table(pa.table(columns), path, row_group_size=1_000_000)


def _train(spark: Any, path: Path, algorithm: str, params: dict[str, Any]) -> Any:
    from registry.pipelines.training import train

    return train(
        spark,
        spark.read.parquet(str(path)),
        label="churned",
        features=FEATURES,
        algorithm=algorithm,
        params=params,
        event_time_column="event_time",
    )


def main(argv: list[str] | None = None) -> int:
    options = _options(sys.argv[1:] if argv is None else argv)
    sizes = [int(size) for size in options.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="assay-bench-training-") as folder:
        os.environ["ASSAY_DATA_DIR"] = folder
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assay.settings")
        import django

        django.setup()
        from workers.spark import get_spark, stop_spark

        started = time.perf_counter()
        spark = get_spark()
        jvm_start = time.perf_counter() - started
        print(f"JVM start (SparkSession, {spark.sparkContext.master}, {os.cpu_count()} CPUs): {jvm_start:.1f} s")
        gbt = {"maxIter": options.gbt_trees, "maxDepth": options.gbt_depth, "validationTol": 0.001}
        try:
            warm = Path(folder) / "warm.parquet"
            _write_rows(warm, 5_000)
            _train(spark, warm, "logistic_regression", {})
            _train(spark, warm, "gbt", {"maxIter": 2, "maxDepth": 2})
            print()
            print("| rows | algorithm | train() s | rows/s | prepare s | fit s | ONNX export s | trees | test AUC |")
            print("|---|---|---|---|---|---|---|---|---|")
            for n in sizes:
                path = Path(folder) / f"rows-{n}.parquet"
                _write_rows(path, n)
                for algorithm, params in (("logistic_regression", {}), ("gbt", gbt)):
                    began = time.perf_counter()
                    trained = _train(spark, path, algorithm, params)
                    total = time.perf_counter() - began
                    timings, metrics = trained.timings, trained.metrics
                    trees = f"{metrics['trees']:.0f}" if "trees" in metrics else "-"
                    print(
                        f"| {n:,} | {algorithm} | {total:.1f} | {n / total:,.0f} | {timings['prepare_seconds']:.1f} "
                        f"| {timings['fit_seconds']:.1f} | {timings['onnx_export_seconds']:.2f} | {trees} "
                        f"| {metrics['auc']:.3f} |",
                        flush=True,
                    )
        finally:
            stop_spark()
    return 0


if __name__ == "__main__":
    sys.exit(main())
