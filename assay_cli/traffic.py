"""What serves where, from a terminal: ``assay deploy canary|shadow`` (a second approved release beside the primary),
``assay promote``, ``assay end-trial``, ``assay rollback`` (one command: the previous primary unless ``--to`` names
a release), ``assay retire`` and ``assay routes``. Standard library only. Every change goes through the server's
actions (the gate for anything deployed); the inference service picks it up within seconds through its poll.

MODEL is the registered model's id, or ``TEAM/NAME`` (the team's slug and the model's name).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from assay_cli import render
from assay_cli.client import Client, Refused
from assay_cli.errors import OK, UsageError
from assay_cli.render import emit
from assay_cli.signing import failed_checks

TRIALS = ["canary", "shadow"]


def add_commands(commands: Any, command: Callable[..., argparse.ArgumentParser], parser_class: type) -> None:
    deploy = commands.add_parser("deploy", help="deploy a release as a canary or a shadow beside the primary")
    kinds = deploy.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True, parser_class=parser_class)
    canary = command(
        kinds, "canary", "deploy RELEASE through the gate to answer --percent of the requests", cmd_deploy_canary
    )
    canary.add_argument("release", type=int, metavar="RELEASE", help="the release's id")
    canary.add_argument("--percent", type=int, required=True, metavar="N", help="share of traffic, 1 to 50")
    shadow = command(
        kinds, "shadow", "deploy RELEASE through the gate to score every request, never returned", cmd_deploy_shadow
    )
    shadow.add_argument("release", type=int, metavar="RELEASE", help="the release's id")
    for sub in (canary, shadow):
        sub.add_argument("--idempotency-key", metavar="K", help="repeat safely: the same key never deploys twice")

    promote = command(
        commands, "promote", "make the canary's (or shadow's) release the primary, through the gate", cmd_promote
    )
    _target(promote)
    promote.add_argument("--role", choices=TRIALS, help="which trial, when both a canary and a shadow run")
    promote.add_argument("--idempotency-key", metavar="K", help="repeat safely: the same key never deploys twice")

    end = command(commands, "end-trial", "stop the canary or the shadow; the primary takes every request", cmd_end)
    _target(end)
    end.add_argument("--role", choices=TRIALS, required=True)

    rollback = command(
        commands, "rollback", "return to the previous primary (or --to RELEASE), through the gate", cmd_rollback
    )
    _target(rollback)
    rollback.add_argument("--to", type=int, metavar="RELEASE", help="the earlier release (default: the previous)")
    rollback.add_argument("--idempotency-key", metavar="K", help="repeat safely: the same key never deploys twice")

    retire = command(commands, "retire", "stop serving the model in the environment", cmd_retire)
    _target(retire)
    retire.add_argument("--reason", required=True, help="why (recorded in the audit log)")

    routes = command(commands, "routes", "what serves where: primary, canary and shadow per model", cmd_routes)
    routes.add_argument("--env", metavar="ENV", help="only this environment (slug)")
    routes.add_argument("--model", metavar="MODEL", help="only this model (ID or TEAM/NAME)")


def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="the model's id, or TEAM/NAME")
    parser.add_argument("--env", required=True, metavar="ENV", help="the environment's slug")


def model_id(client: Client, text: str) -> int:
    """MODEL as an id, or ``TEAM/NAME`` looked up exactly among the team's models the token can see."""
    if text.isdigit():
        return int(text)
    team, _, name = text.partition("/")
    if not (team and name):
        raise UsageError(f"MODEL {text!r}: give the model's id or TEAM/NAME, e.g. team-a/Churn scorer.")
    found = [
        item
        for item in client.get_all("models/", {"team": team, "q": name})
        if item.get("team") == team and item.get("name") == name
    ]
    if len(found) != 1:
        raise Refused(404, f"No model named {name!r} in team {team!r} (or you cannot see it).")
    return int(found[0]["id"])


def _through_gate(send: Callable[[], Any]) -> Any:
    """Send a change that goes through the gate; a 409 lists every failed check under the refusal."""
    try:
        return send()
    except Refused as refused:
        if refused.status == 409:
            refused.hints.extend(f"FAIL {name}: {reason}" for name, reason in failed_checks(refused.body))
        raise


def _deploy(client: Client, args: argparse.Namespace, payload: dict[str, Any]) -> int:
    if args.idempotency_key:
        payload["idempotency_key"] = args.idempotency_key
    deployed = _through_gate(lambda: client.post(f"releases/{args.release}/deploy/", payload))
    emit(args, deployed, lambda: render.trial_deployed(deployed, args.release))
    return OK


def cmd_deploy_canary(client: Client, args: argparse.Namespace) -> int:
    if not 1 <= args.percent <= 50:
        raise UsageError(f"--percent {args.percent}: a canary takes between 1 and 50 percent of the traffic.")
    return _deploy(client, args, {"role": "canary", "traffic_percent": args.percent})


def cmd_deploy_shadow(client: Client, args: argparse.Namespace) -> int:
    return _deploy(client, args, {"role": "shadow"})


def _at(client: Client, args: argparse.Namespace, action: str) -> str:
    return f"models/{model_id(client, args.model)}/environments/{args.env}/{action}/"


def cmd_promote(client: Client, args: argparse.Namespace) -> int:
    path = _at(client, args, "promote")
    payload = {key: value for key, value in (("role", args.role), ("idempotency_key", args.idempotency_key)) if value}
    deployed = _through_gate(lambda: client.post(path, payload))
    emit(args, deployed, lambda: render.route_deployment("Promoted", deployed))
    return OK


def cmd_rollback(client: Client, args: argparse.Namespace) -> int:
    path = _at(client, args, "rollback")
    payload = {key: value for key, value in (("release", args.to), ("idempotency_key", args.idempotency_key)) if value}
    deployed = _through_gate(lambda: client.post(path, payload))
    emit(args, deployed, lambda: render.route_deployment("Rolled back", deployed))
    return OK


def cmd_end(client: Client, args: argparse.Namespace) -> int:
    route = client.post(_at(client, args, "end-trial"), {"role": args.role})
    emit(args, route, lambda: f"Ended the {args.role}.\n" + render.route_list([route]))
    return OK


def cmd_retire(client: Client, args: argparse.Namespace) -> int:
    route = client.post(_at(client, args, "retire"), {"reason": args.reason})
    emit(args, route, lambda: "Retired: nothing serves it there now.\n" + render.route_list([route]))
    return OK


def cmd_routes(client: Client, args: argparse.Namespace) -> int:
    query: dict[str, Any] = {}
    if args.env:
        query["environment"] = args.env
    if args.model:
        query["model"] = model_id(client, args.model)
    routes = client.get_all("routes/", query)
    emit(args, routes, lambda: render.route_list(routes))
    return OK
