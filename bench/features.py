"""Feature materialization benchmark (issue #5): Spark against pandas in one process, at 1M and 10M events.

    python -m bench.features [--sizes 1000000,10000000] [--entities-per 100]
    make bench-features ARGS="--sizes 1000000"       # the default size only

Synthetic events (seeded numpy): ``n`` events of ``n / entities-per`` customers over 180 days, an amount and one
of four channels, written once as Parquet (pyarrow) in a throwaway folder that is also the artifact root. Both sides
read that Parquet and compute the same features at the same spine (each customer at the end of each day it was
active, registry.pipelines.features.default_spine): sum, count and mean of the amount over 30 days, sum and max over
7 days, each over ``[t - window, t)``.

Printed per size:

- ``spark aggregation``: ``build_features`` then a ``noop`` write (every row computed, nothing stored): the
  aggregation alone, comparable to pandas.
- ``spark materialize``: ``materialize`` end to end: aggregation, partitioned Parquet written atomically, the
  output's fingerprint (its files re-read and hashed), statistics (two Spark jobs).
- ``pandas aggregation``: the same features with ``groupby().rolling(window, closed="left")`` over the events and
  spine rows sorted together, in this process.

Rows/s are input events per second of wall time; the ratio is Spark's rate over pandas'. The JVM start
(``workers.spark.get_spark()``, the first time in the process) is reported on its own and excluded from the rest,
and one small untimed run warms the JVM's compiler first.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FEATURES = [
    {"name": "spend_30d", "definition": "amount", "aggregation": "sum", "window": "30d", "description": ""},
    {"name": "orders_30d", "definition": "1", "aggregation": "count", "window": "30d", "description": ""},
    {"name": "mean_amount_30d", "definition": "amount", "aggregation": "mean", "window": "30d", "description": ""},
    {"name": "spend_7d", "definition": "amount", "aggregation": "sum", "window": "7d", "description": ""},
    {"name": "max_amount_7d", "definition": "amount", "aggregation": "max", "window": "7d", "description": ""},
]
VIEW = {"entity": "customer", "event_time_column": "event_time", "features": FEATURES}
DAYS = 180


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.features", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="event counts, comma-separated")
    parser.add_argument("--entities-per", type=int, default=100, help="events per customer on average")
    return parser.parse_args(argv)


def _write_events(path: Path, n: int, entities: int) -> None:
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped]  # no stubs or py.typed
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    rng = np.random.default_rng(n)
    start = np.datetime64("2024-01-01T00:00:00", "us")
    offsets = rng.integers(0, DAYS * 86_400_000_000, size=n, dtype=np.int64)
    table = pa.table(
        {
            "customer_id": rng.integers(0, entities, size=n, dtype=np.int64),
            "event_time": pa.array(start + offsets.astype("timedelta64[us]"), type=pa.timestamp("us", tz="UTC")),
            "amount": np.round(rng.lognormal(3.0, 1.0, size=n), 2),
            "channel": pa.array(rng.choice(np.array(["web", "app", "store", "phone"]), size=n)),
        }
    )
    pq.write_table(table, path, row_group_size=1_000_000)


def _pandas_features(path: Path) -> Any:
    import pandas as pd

    events = pd.read_parquet(path, columns=["customer_id", "event_time", "amount"])
    events["one"] = 1.0
    day = events["event_time"].dt.floor("D")
    spine = events.assign(event_time=day + pd.Timedelta(days=1))[["customer_id", "event_time"]].drop_duplicates()
    rows = pd.concat([events, spine], ignore_index=True).sort_values(["customer_id", "event_time"], kind="stable")
    grouped = rows.groupby("customer_id", sort=False)
    out = {}
    for feature in FEATURES:
        column = "one" if feature["definition"] == "1" else "amount"
        rolling = grouped.rolling(feature["window"].upper(), on="event_time", closed="left")[column]
        how = {"sum": "sum", "count": "count", "mean": "mean", "max": "max"}[feature["aggregation"]]
        out[feature["name"]] = getattr(rolling, how)().to_numpy()
    result = rows[["customer_id", "event_time"]].copy()
    for name, values in out.items():
        result[name] = values
    is_spine = rows["amount"].isna().to_numpy()
    return result[is_spine]


def _timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def main(argv: list[str]) -> int:
    options = _options(argv)
    sizes = [int(size) for size in options.sizes.split(",") if size]
    workdir = Path(tempfile.mkdtemp(prefix="assay-bench-features-"))
    os.environ["ASSAY_DATA_DIR"] = str(workdir)
    os.environ["ARTIFACT_ROOT"] = str(workdir / "artifacts")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assay.settings")
    import django

    django.setup()
    from registry.pipelines.features import build_features, materialize
    from workers.spark import get_spark, stop_spark

    artifacts = workdir / "artifacts"
    jvm_start, spark = _timed(get_spark)
    print(
        f"JVM and SparkSession start: {jvm_start:.1f} s (master {spark.sparkContext.master}, once per worker process)"
    )
    warm = workdir / "warm.parquet"
    _write_events(warm, 20_000, 200)
    materialize(spark, VIEW, spark.read.parquet(str(warm)), artifact_root=artifacts)

    print()
    print(
        "| events | spine rows | spark aggregation s | spark materialize s | pandas aggregation s |"
        " spark agg rows/s | spark materialize rows/s | pandas rows/s | spark agg / pandas |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        path = workdir / f"events-{n}.parquet"
        _write_events(path, n, max(1, n // options.entities_per))
        events = spark.read.parquet(str(path))
        aggregation, _ = _timed(
            lambda events=events: build_features(VIEW, events).dataframe.write.format("noop").mode("overwrite").save()
        )
        whole, result = _timed(lambda events=events: materialize(spark, VIEW, events, artifact_root=artifacts))
        in_pandas, frame = _timed(lambda path=path: _pandas_features(path))
        spark_orders = result.statistics["orders_30d"]["mean"]
        if len(frame) != result.row_count or abs(frame["orders_30d"].mean() - spark_orders) > 1e-9 * spark_orders:
            print(f"results differ: pandas {len(frame)} rows, spark {result.row_count}", file=sys.stderr)
            return 1
        print(
            f"| {n:,} | {result.row_count:,} | {aggregation:.1f} | {whole:.1f} | {in_pandas:.1f} | "
            f"{n / aggregation:,.0f} | {n / whole:,.0f} | {n / in_pandas:,.0f} | {in_pandas / aggregation:.2f} |"
        )
        del frame
        path.unlink()
    stop_spark()
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
