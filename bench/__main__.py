"""Run the audit benchmarks on SQLite, and on PostgreSQL when DATABASE_URL names a server, each in a throwaway
database: a fresh data folder for SQLite, a database of its own (``assay_bench_<random>``, dropped afterwards) on the
PostgreSQL server. The user's own database is never touched.

    python -m bench [--sizes 10000,100000] [--sample 2000] [--threads 8] [--requests 200] [--backend all]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench._env import child_env, throwaway_postgres

ROOT = Path(__file__).resolve().parent.parent
UNTHROTTLED = "1000000/min"  # the API measurements must not hit the per-user rate limit


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="chain lengths to measure at (comma-separated)")
    parser.add_argument("--sample", type=int, default=2000, help="events appended per throughput measurement")
    parser.add_argument("--threads", type=int, default=8, help="threads for the concurrent append measurement")
    parser.add_argument("--requests", type=int, default=200, help="API requests per latency measurement")
    parser.add_argument(
        "--backend",
        choices=("all", "sqlite", "postgresql"),
        default="all",
        help="'all': SQLite, and PostgreSQL when DATABASE_URL is set",
    )
    return parser.parse_args(argv)


def _run_child(options: argparse.Namespace, env: dict[str, str]) -> int:
    args = [
        sys.executable,
        "-m",
        "bench.audit",
        f"--sizes={options.sizes}",
        f"--sample={options.sample}",
        f"--threads={options.threads}",
        f"--requests={options.requests}",
    ]
    return subprocess.run(args, cwd=ROOT, env=env, check=False).returncode


def _postgres(options: argparse.Namespace, server_url: str) -> int:
    data_dir = tempfile.mkdtemp(prefix="assay-bench-")
    try:
        with throwaway_postgres(server_url, "assay_bench") as database_url:
            return _run_child(options, child_env(data_dir, database_url, API_THROTTLE_USER=UNTHROTTLED))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _sqlite(options: argparse.Namespace) -> int:
    data_dir = tempfile.mkdtemp(prefix="assay-bench-")
    try:
        return _run_child(options, child_env(data_dir, None, API_THROTTLE_USER=UNTHROTTLED))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main(argv: list[str]) -> int:
    options = _options(argv)
    server_url = os.environ.get("DATABASE_URL", "")
    is_postgres = server_url.startswith(("postgres://", "postgresql://"))
    failures = 0
    if options.backend in ("all", "sqlite"):
        failures += _sqlite(options) != 0
    if options.backend == "postgresql" and not is_postgres:
        print("--backend postgresql needs DATABASE_URL=postgres://user@host:port/db (a server to create a database on)")
        return 2
    if options.backend in ("all", "postgresql") and is_postgres:
        failures += _postgres(options, server_url) != 0
    elif options.backend == "all":
        print("\n(PostgreSQL skipped: set DATABASE_URL=postgres://... to measure it too.)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
