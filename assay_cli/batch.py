"""``assay batch-score``: score a dataset version with the version a model's route serves (its primary, or a named
deployment), on Spark; the predictions become a new dataset of the model's team (docs/serving.md, "Batch scoring").
Standard library only."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from assay_cli.client import Client
from assay_cli.errors import UsageError
from assay_cli.jobs import job_options, start_job
from assay_cli.traffic import model_id


def add_commands(commands: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    batch = command(
        commands,
        "batch-score",
        "start a Spark job scoring a dataset version with the model's deployed version; predictions become a dataset",
        cmd_batch_score,
    )
    batch.add_argument("model", nargs="?", metavar="MODEL", help="the model's id, or TEAM/NAME (with --env)")
    batch.add_argument("--env", metavar="ENV", help="the environment whose primary scores (with MODEL)")
    batch.add_argument("--deployment", type=int, metavar="ID", help="or: a deployment serving now, by id")
    batch.add_argument("--dataset-version", type=int, required=True, metavar="ID", help="the dataset version to score")
    batch.add_argument("--output", required=True, metavar="NAME", help="the name of the new dataset of predictions")
    job_options(batch)


def cmd_batch_score(client: Client, args: argparse.Namespace) -> int:
    by_route = args.model is not None or args.env is not None
    if (args.deployment is not None) == by_route:
        raise UsageError("Name either MODEL with --env, or --deployment ID.")
    if by_route and (args.model is None or args.env is None):
        raise UsageError("MODEL and --env go together: the environment's primary of that model scores.")
    payload: dict[str, Any] = {"dataset_version": args.dataset_version, "output_name": args.output}
    if args.deployment is not None:
        payload["deployment"] = args.deployment
    else:
        payload.update(model=model_id(client, args.model), environment=args.env)
    return start_job(client, args, "batch-scoring/", payload)
