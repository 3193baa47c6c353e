"""The MLflow side of ``bench.registry_vs_mlflow``: seeding only, run by the interpreter of the MLflow virtual
environment (bench/.mlflow-venv), never by Assay's. It imports nothing from Assay.

    python bench/_mlflow_side.py seed --db sqlite:///.../mlflow.db --count 2000 --models 100 --groups 10

Versions are created round-robin over the registered models (which the benchmark created over REST) through
MLflow's own Python client on the server's SQLite store: its fastest supported way in, and the same rows the REST
handlers write (version, source, status, and a ``group`` tag per version, since MLflow searches versions by their
own tags, not their registered model's).
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def model_name(index: int) -> str:
    return f"bench-model-{index:04d}"


def group_tag(index: int, groups: int) -> str:
    return f"group-{index % groups:02d}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=("seed",))
    parser.add_argument("--db", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--start", type=int, required=True, help="versions already in the store")
    parser.add_argument("--models", type=int, required=True)
    parser.add_argument("--groups", type=int, default=10)
    options = parser.parse_args(argv)

    from mlflow.tracking import MlflowClient  # type: ignore[import-not-found]  # in bench/.mlflow-venv only

    client = MlflowClient(tracking_uri=options.db, registry_uri=options.db)
    started = time.perf_counter()
    for i in range(options.count):
        index = (options.start + i) % options.models
        name = model_name(index)
        client.create_model_version(
            name=name,
            source=f"s3://bench-artifacts/{name}/seed-{options.start + i}",
            tags={"group": group_tag(index, options.groups)},
        )
    print(json.dumps({"seconds": time.perf_counter() - started}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
