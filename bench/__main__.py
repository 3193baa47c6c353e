"""Run the audit benchmarks on SQLite, and on PostgreSQL when DATABASE_URL names a server, each in a throwaway
database: a fresh data folder for SQLite, a database of its own (``assay_bench_<random>``, dropped afterwards) on the
PostgreSQL server. The user's own database is never touched.

    python -m bench [--sizes 10000,100000] [--sample 2000] [--threads 8] [--requests 200] [--backend all]
"""

from __future__ import annotations

import argparse
import sys

from bench._env import run_backends

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


def main(argv: list[str]) -> int:
    options = _options(argv)
    forwarded = [
        f"--sizes={options.sizes}",
        f"--sample={options.sample}",
        f"--threads={options.threads}",
        f"--requests={options.requests}",
    ]
    return run_backends("bench.audit", forwarded, options.backend, child=False, API_THROTTLE_USER=UNTHROTTLED)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
