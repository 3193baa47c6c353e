"""Fairness audit benchmark (issue #12): the Spark audit (score with ONNX Runtime per partition, aggregate the cells in
one pass, fairlearn and aif360 on the weighted cells, Poisson bootstrap) at 1M and 10M rows, beside fairlearn's
MetricFrame computed the plain way on pandas over the 1M rows, in the same run; and the agreement of the figures.

    python -m bench.fairness [--sizes 1000000,10000000] [--plain 1000000] [--bootstrap 200]
    make bench-fairness ARGS="--sizes 200000 --plain 200000"     # a quick run

Synthetic credit rows (seeded numpy): income and debt, two protected attributes (sex, age band), a label; the scorer
is tests/audits/onnx_models.py's (sigmoid of a linear score). The rows are written once as Parquet in a throwaway
folder and read by Spark, as a dataset version is. The JVM start is excluded (one small untimed audit first).

Printed: per size, the Spark audit's wall seconds (scoring and aggregation, then the figures); the plain fairlearn
computation over ``--plain`` rows (scores from ONNX Runtime in this process, not timed; the MetricFrames for each
attribute and their intersection, timed); and the largest difference between the two sets of per-group figures on
those rows (the target is 1e-9; AUC is compared on the score bins, which is what the audit measures).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BINS = 1000
CHUNK = 1_000_000


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fairness", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="rows of the Spark audits, comma-separated")
    parser.add_argument("--plain", type=int, default=1_000_000, help="rows of the plain fairlearn computation")
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap iterations of the Spark audit")
    return parser.parse_args(argv)


def _write_rows(folder: Path, n: int) -> None:
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        sex = rng.choice(np.array(["f", "m"]), size)
        table = pa.table(
            {
                "income": rng.normal(0, 1, size) + np.where(sex == "m", 0.3, 0.0),
                "debt": rng.normal(0, 1, size),
                "sex": sex,
                "age_band": rng.choice(np.array(["<30", "30-60", ">60"]), size, p=[0.3, 0.5, 0.2]),
                "defaulted": (rng.random(size) < 0.3).astype(np.int64),
            }
        )
        pq.write_table(table, folder / f"part-{start // CHUNK:05d}.parquet")


def _spark_audit(spark: Any, folder: Path, onnx_bytes: bytes, interface: dict[str, Any], bootstrap: int) -> Any:
    from audits.pipelines.fairness import FairnessParams, Thresholds, fairness_report
    from audits.pipelines.scoring import aggregate_cells

    started = time.perf_counter()
    cells = aggregate_cells(
        spark.read.parquet(str(folder)),
        onnx_bytes,
        interface,
        label="defaulted",
        attributes=["sex", "age_band"],
        threshold=0.5,
        bins=BINS,
    )
    scored = time.perf_counter()
    report = fairness_report(cells, FairnessParams(("sex", "age_band"), bootstrap_iterations=bootstrap), Thresholds())
    return report, scored - started, time.perf_counter() - scored


def _plain(folder: Path, onnx_bytes: bytes) -> tuple[dict[tuple[str, ...], dict[str, float]], float]:
    """fairlearn's MetricFrame over the rows themselves (unweighted), per attribute and for the intersection."""
    import numpy as np
    import onnxruntime
    import pandas as pd
    from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
    from sklearn.metrics import accuracy_score, precision_score, roc_auc_score

    frame = pd.read_parquet(folder)
    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    feeds = {name: frame[name].to_numpy(np.float32).reshape(-1, 1) for name in ("income", "debt")}
    scores = session.run(["probability"], feeds)[0][:, 1].astype(np.float64)
    frame["prediction"] = (scores >= 0.5).astype(int)
    frame["score_bin"] = np.minimum(np.floor(scores * BINS).astype(int), BINS - 1)
    figures: dict[tuple[str, ...], dict[str, float]] = {}
    started = time.perf_counter()
    for attributes in (["sex"], ["age_band"], ["sex", "age_band"]):
        by_group = MetricFrame(
            metrics={
                "selection_rate": selection_rate,
                "true_positive_rate": true_positive_rate,
                "false_positive_rate": false_positive_rate,
                "precision": lambda t, p: precision_score(t, p, zero_division=np.nan),
                "accuracy": accuracy_score,
            },
            y_true=frame["defaulted"],
            y_pred=frame["prediction"],
            sensitive_features=frame[attributes],
        ).by_group
        auc = MetricFrame(
            metrics={"auc": roc_auc_score},
            y_true=frame["defaulted"],
            y_pred=frame["score_bin"],
            sensitive_features=frame[attributes],
        ).by_group
        for key, row in by_group.join(auc).iterrows():
            values = key if isinstance(key, tuple) else (key,)
            figures[tuple(f"{a}={v}" for a, v in zip(attributes, values, strict=True))] = dict(row)
    return figures, time.perf_counter() - started


def _difference(report: dict[str, Any], plain: dict[tuple[str, ...], dict[str, float]]) -> float:
    worst = 0.0
    for grouping in report["groupings"]:
        for group in grouping["groups"]:
            key = tuple(f"{a}={v}" for a, v in group["group"].items())
            for name, figure in group["metrics"].items():
                if figure["value"] is not None:
                    worst = max(worst, abs(figure["value"] - plain[key][name]))
    return worst


def main(argv: list[str] | None = None) -> int:
    options = _options(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assay.settings")
    import django

    django.setup()
    from tests.audits.onnx_models import INTERFACE, scorer_bytes
    from workers.spark import get_spark

    onnx_bytes = scorer_bytes()
    sizes = [int(size) for size in options.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="assay-bench-fairness-") as work:
        root = Path(work)
        started = time.perf_counter()
        spark = get_spark()
        print(f"JVM start: {time.perf_counter() - started:.1f} s (excluded)")
        _write_rows(root / "warm", 10_000)
        _spark_audit(spark, root / "warm", onnx_bytes, INTERFACE, 10)
        for size in sorted(set(sizes) | {options.plain}):
            _write_rows(root / str(size), size)
        plain, plain_seconds = _plain(root / str(options.plain), onnx_bytes)
        print(f"plain fairlearn MetricFrame, {options.plain:,} rows: {plain_seconds:.1f} s")
        for size in sizes:
            report, scoring, figures = _spark_audit(spark, root / str(size), onnx_bytes, INTERFACE, options.bootstrap)
            line = (
                f"Spark audit, {size:,} rows: {scoring + figures:.1f} s "
                f"(scoring and aggregation {scoring:.1f} s, figures with {options.bootstrap} bootstrap "
                f"iterations {figures:.1f} s)"
            )
            if size == options.plain:
                line += f"; largest difference from the plain figures: {_difference(report, plain):.2e}"
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
