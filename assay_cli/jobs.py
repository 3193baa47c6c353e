"""Job commands: ``assay features materialize``, ``assay model train``, ``assay job list`` and ``assay job show``.

Standard library only. A request answers with the job at once (``--wait`` follows it until it ends, printing its
progress); ``assay job list`` lists the jobs you may see, newest first; ``assay job show ID`` reads one with its
log. docs/cli.md, docs/spark-jobs.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assay_cli.client import Client
from assay_cli.errors import OK, REFUSED, UsageError
from assay_cli.render import emit, table

FINISHED = ("succeeded", "failed", "cancelled")
STATUSES = ("queued", "running", *FINISHED)
PAGE_SIZE, MAX_LIST = 200, 10_000
ALGORITHMS = ("logistic_regression", "gbt")


def add_commands(
    commands: Any, models: Any, command: Callable[..., argparse.ArgumentParser], parser_class: type
) -> None:
    """``features materialize`` and ``job show`` as commands of their own; ``train`` under ``model`` (``models``)."""
    features = commands.add_parser("features", help="materialize feature views with Spark")
    feature_commands = features.add_subparsers(
        dest="subcommand", metavar="SUBCOMMAND", required=True, parser_class=parser_class
    )
    materialize = command(
        feature_commands,
        "materialize",
        "start a Spark job that materializes a feature view into a new feature-set version",
        cmd_features_materialize,
    )
    materialize.add_argument("--view", type=int, required=True, metavar="ID", help="the feature view's id")
    materialize.add_argument(
        "--dataset-version", type=int, required=True, metavar="ID", help="a version id of the view's source dataset"
    )
    materialize.add_argument(
        "--spine-dataset-version", type=int, metavar="ID", help="rows (entity, time, labels) to compute features at"
    )
    job_options(materialize)

    train = command(
        models,
        "train",
        "start a Spark job that trains a model on a feature-set version and registers its ONNX as a version",
        cmd_model_train,
    )
    train.add_argument("--model", type=int, required=True, metavar="ID", help="the registered model's id")
    train.add_argument("--feature-set-version", type=int, required=True, metavar="ID")
    train.add_argument("--label", required=True, help="the label column (boolean, or integer 0/1)")
    train.add_argument("--algorithm", required=True, choices=ALGORITHMS)
    train.add_argument("--params", type=Path, help='JSON file of hyper-parameters: {"maxIter": 20, "search": {...}}')
    train.add_argument("--feature", dest="features", action="append", help="a feature to use (repeat; default all)")
    job_options(train)

    job = commands.add_parser("job", help="follow background jobs")
    job_commands = job.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True, parser_class=parser_class)
    listing = command(
        job_commands, "list", "jobs you requested or that belong to your teams, newest first", cmd_job_list
    )
    listing.add_argument("--status", action="append", choices=STATUSES, help="only jobs in this status (repeat)")
    listing.add_argument("--kind", help="only jobs of this kind, e.g. registry.train_model")
    listing.add_argument("--team", help="only jobs of this team (slug)")
    listing.add_argument("--limit", type=_positive, default=20, metavar="N", help="at most N jobs (default 20)")
    show = command(job_commands, "show", "a job: status, progress, result or error, and its log", cmd_job_show)
    show.add_argument("id", metavar="ID", help="the job's id (a UUID)")
    show.add_argument("--wait", action="store_true", help="follow it until it ends")


def job_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--idempotency-key", metavar="KEY", help="the same key again returns the first job")
    parser.add_argument("--wait", action="store_true", help="follow the job until it ends; exit 1 if it fails")


def cmd_features_materialize(client: Client, args: argparse.Namespace) -> int:
    payload: dict[str, Any] = {"dataset_version": args.dataset_version}
    if args.spine_dataset_version:
        payload["spine_dataset_version"] = args.spine_dataset_version
    return start_job(client, args, f"feature-views/{args.view}/materialize/", payload)


def cmd_model_train(client: Client, args: argparse.Namespace) -> int:
    payload: dict[str, Any] = {
        "feature_set_version": args.feature_set_version,
        "label": args.label,
        "algorithm": args.algorithm,
    }
    if args.params:
        try:
            payload["params"] = json.loads(args.params.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UsageError(f"--params: {args.params} is not a readable JSON file: {error}") from None
    if args.features:
        payload["features"] = args.features
    return start_job(client, args, f"models/{args.model}/train/", payload)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIST:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {MAX_LIST}, not {text!r}")
    return value


def cmd_job_list(client: Client, args: argparse.Namespace) -> int:
    query: dict[str, Any] = {"kind": args.kind, "team": args.team, "page_size": min(args.limit, PAGE_SIZE)}
    found: list[dict[str, Any]] = []
    page = 1
    while len(found) < args.limit:
        # status repeats in the query (?status=queued&status=running): the API takes several.
        answer = client.get("jobs/", [*query.items(), ("page", page), *(("status", s) for s in args.status or [])])
        found += answer.get("results", [])
        if not answer.get("next"):
            break
        page += 1
    found = found[: args.limit]
    emit(args, found, lambda: job_table(found))
    return OK


def job_table(items: list[dict[str, Any]]) -> str:
    if not items:
        return "No jobs."
    rows = [("ID", "KIND", "STATUS", "PROGRESS", "TEAM", "BY", "CREATED", "TARGET")]
    for job in items:
        rows.append(
            (
                str(job["id"]),
                str(job["kind"]),
                str(job["status"]),
                f"{job['progress']:.0%}",
                str(job.get("team") or "-"),
                str(job.get("requested_by") or "-"),
                str(job["created_at"])[:19].replace("T", " "),
                str(job.get("target_repr") or "-"),
            )
        )
    return table(rows)


def cmd_job_show(client: Client, args: argparse.Namespace) -> int:
    job = _follow(client, args.id) if args.wait else client.get(f"jobs/{args.id}/")
    emit(args, job, lambda: job_text(job))
    return OK if job["status"] != "failed" else REFUSED


def start_job(client: Client, args: argparse.Namespace, path: str, payload: dict[str, Any]) -> int:
    if args.idempotency_key:
        payload["idempotency_key"] = args.idempotency_key
    job = client.post(path, payload)
    if args.wait:
        print(
            f"Job {job['id']} ({job['kind']}) {job['status']}; following it (Ctrl-C stops following).", file=sys.stderr
        )
        job = _follow(client, job["id"])
    emit(args, job, lambda: job_text(job))
    return REFUSED if job["status"] == "failed" else OK


def _follow(client: Client, job_id: str, interval: float = 2.0) -> dict[str, Any]:
    last = ""
    while True:
        job: dict[str, Any] = client.get(f"jobs/{job_id}/")
        line = f"{job['progress']:.0%} {job['stage']}".strip()
        if line != last:
            print(line, file=sys.stderr)
            last = line
        if job["status"] in FINISHED:
            return job
        time.sleep(interval)


def job_text(job: dict[str, Any]) -> str:
    lines = [
        f"Job {job['id']}: {job['kind']} of {job['target_repr'] or '-'}",
        f"  status:    {job['status']} (attempt {job['attempts']})",
        f"  progress:  {job['progress']:.0%} {job['stage']}".rstrip(),
    ]
    if job.get("error"):
        lines.append(f"  error:     {job['error']}")
    for key, value in sorted((job.get("result") or {}).items()):
        lines.append(f"  {key + ':':<10} {json.dumps(value) if isinstance(value, dict | list) else value}")
    log = job.get("log") or []
    if log:
        lines.append("  log:")
        lines += [f"    {entry['at']} {entry['level']:<7} {entry['message']}" for entry in log[-20:]]
    return "\n".join(lines)
