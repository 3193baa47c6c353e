"""Proxy detection benchmark (issue #12): the proxy audit's figures for 50 features against two protected attributes
over 1M rows on Spark local, timed. Target: under a minute on this machine.

    python -m bench.proxy [--rows 1000000] [--features 50] [--categorical 6]
    make bench-proxy ARGS="--rows 200000"     # a quick run

Synthetic applications (seeded numpy): ``--features`` features, of which ``--categorical`` are strings (one of them
a 1000-value postcode, capped at the 20 most frequent values like any wide column) and the rest numbers; three of
them are planted proxies (two of sex, one of the age band); two protected attributes, sex (2 groups, 2% missing)
and age band (3 groups). The rows are written once as Parquet in a throwaway folder and read by Spark, as a dataset
version is. The JVM start is excluded (one small untimed audit first).

Printed: the wall seconds of the whole audit (row count, one approxQuantile over every numeric column, one count of
the categorical values, the one pass that counts every contingency table, and the figures from the tables), and
whether exactly the planted proxies were flagged.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

CHUNK = 250_000
PLANTED = {("spend", "sex"), ("shoe_size", "sex"), ("tenure", "age_band")}


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.proxy", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the dataset")
    parser.add_argument("--features", type=int, default=50, help="features (model inputs) in all")
    parser.add_argument("--categorical", type=int, default=6, help="of which string columns")
    return parser.parse_args(argv)


def _feature_names(features: int, categorical: int) -> tuple[list[str], list[str]]:
    numeric = ["spend", "shoe_size", "tenure", *(f"x{i:02d}" for i in range(features - categorical - 3))]
    strings = ["postcode", *(f"c{i:02d}" for i in range(categorical - 1))]
    return numeric, strings


def _write_rows(folder: Path, n: int, features: int, categorical: int) -> None:
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    folder.mkdir(parents=True)
    numeric, strings = _feature_names(features, categorical)
    rng = np.random.default_rng(13)
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        sex = rng.choice(np.array(["f", "m"]), size)
        age_band = rng.choice(np.array(["<30", "30-60", ">60"]), size, p=[0.3, 0.5, 0.2])
        male = (sex == "m").astype(np.float64)
        columns = {
            "spend": male + rng.normal(0, 0.7, size),
            "shoe_size": 38 + 4 * male + rng.normal(0, 1.5, size),
            "tenure": np.select([age_band == "<30", age_band == "30-60"], [2.0, 10.0], 25.0) + rng.normal(0, 4, size),
        }
        for name in numeric[3:]:
            columns[name] = rng.normal(0, 1, size)
        columns["postcode"] = rng.integers(1000, 2000, size).astype(str)
        for name in strings[1:]:
            columns[name] = rng.choice(np.array(["a", "b", "c", "d", "e"]), size)
        sex_column = pa.array(sex, mask=rng.random(size) < 0.02)
        table = pa.table({**columns, "sex": sex_column, "age_band": age_band})
        pq.write_table(table, folder / f"part-{start // CHUNK:05d}.parquet")


def main(argv: list[str] | None = None) -> int:
    options = _options(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assay.settings")
    import django

    django.setup()
    from audits.pipelines.proxy import ProxyParams, Thresholds, detect_proxies
    from workers.spark import get_spark

    numeric, strings = _feature_names(options.features, options.categorical)
    params = ProxyParams(features=(*numeric, *strings), attributes=("sex", "age_band"))
    with tempfile.TemporaryDirectory(prefix="assay-bench-proxy-") as work:
        root = Path(work)
        started = time.perf_counter()
        spark = get_spark()
        print(f"JVM start: {time.perf_counter() - started:.1f} s (excluded)")
        _write_rows(root / "warm", 10_000, options.features, options.categorical)
        detect_proxies(spark.read.parquet(str(root / "warm")), params, Thresholds())
        _write_rows(root / "rows", options.rows, options.features, options.categorical)
        started = time.perf_counter()
        results = detect_proxies(spark.read.parquet(str(root / "rows")), params, Thresholds())
        seconds = time.perf_counter() - started
    flagged = {(f["feature"], f["attribute"]) for f in results["flagged"]}
    print(
        f"proxy detection, {options.rows:,} rows, {len(params.features)} features "
        f"({len(strings)} categorical) x 2 attributes = {len(results['pairs'])} pairs: {seconds:.1f} s "
        f"(Spark local, {os.cpu_count()} cores)"
    )
    print(f"flagged: {sorted(flagged)}; exactly the planted proxies: {flagged == PLANTED}")
    return 0 if flagged == PLANTED else 1


if __name__ == "__main__":
    raise SystemExit(main())
