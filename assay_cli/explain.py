"""Local explanations from a terminal: ``assay explain`` (a model version's score, decision and principal reasons for
rows of features) and ``assay statement`` (the statement of reasons for one decision, as PDF or HTML).

Standard library only. Rows are JSON objects of feature: value (null is a missing value), given inline with --row or
as a file holding a list of them with --rows. docs/audits.md, "Local explanations and the statement of reasons".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assay_cli.client import Client
from assay_cli.errors import OK, UsageError
from assay_cli.render import emit


def add_commands(commands: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    explain = command(
        commands,
        "explain",
        "a model version's score, decision and principal reasons (SHAP) for rows of features",
        cmd_explain,
    )
    explain.add_argument("version", type=int, metavar="VERSION_ID", help="the model version's id")
    rows = explain.add_mutually_exclusive_group(required=True)
    rows.add_argument("--row", metavar="JSON", help='one row: \'{"income": 2.1, "debt": 1.4}\'')
    rows.add_argument("--rows", type=Path, metavar="FILE", help="a JSON file holding a list of rows")
    explain.add_argument("--top", type=int, default=4, metavar="N", help="principal reasons per row (default 4)")

    statement = command(
        commands, "statement", "the statement of reasons for one decision, as a PDF or HTML file", cmd_statement
    )
    statement.add_argument("version", type=int, metavar="VERSION_ID", help="the model version's id")
    statement.add_argument("--row", required=True, metavar="JSON", help="the decision's row of features")
    statement.add_argument("--reference", default="", help="printed on the statement (an application number)")
    out = statement.add_mutually_exclusive_group(required=True)
    out.add_argument("--pdf", type=Path, metavar="OUT", help="write the PDF here")
    out.add_argument("--html", type=Path, metavar="OUT", help="write the HTML here")


def parse_row(text: str) -> Any:
    try:
        row = json.loads(text)
    except ValueError as error:
        raise UsageError(f"--row is not JSON: {error}") from None
    if not isinstance(row, dict):
        raise UsageError("--row must be a JSON object of feature: value, e.g. '{\"income\": 2.1}'.")
    return row


def read_rows(path: Path) -> Any:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(f"--rows: {path} is not a readable JSON file: {error}") from None
    if not isinstance(rows, list):
        raise UsageError(f"--rows: {path} must hold a JSON list of rows.")
    return rows


def cmd_explain(client: Client, args: argparse.Namespace) -> int:
    rows = [parse_row(args.row)] if args.row is not None else read_rows(args.rows)
    answer = client.post(f"model-versions/{args.version}/explain/", {"rows": rows, "top": args.top})
    emit(args, answer, lambda: explanation_text(answer))
    return OK


def explanation_text(answer: dict[str, Any]) -> str:
    version, explainer, catalogue = answer["model_version"], answer["explainer"], answer["catalogue"]
    lines = [
        f"Model version {version['id']}: {version['team']} / {version['model']}, version {version['number']}",
        f"  explainer: {explainer['method']} from explanation report {explainer['report']['id']} "
        f"(background {explainer['background']['rows']} rows, seed {explainer['background']['seed']})",
        f"  catalogue: version {catalogue['number']}" if catalogue["number"] else f"  catalogue: {catalogue['note']}",
    ]
    for result in answer["results"]:
        lines += [
            "",
            f"Row {result['row']}: score {result['score']:.4f} -> {result['decision']} "
            f"(threshold {catalogue['threshold']:g})",
            f"  base {result['base_value']:.4f} + sum of SHAP = {result['output']:.4f} ({result['output_space']}); "
            f"additivity error {result['additivity_error']:.2g} (tolerance {result['tolerance']:g})",
        ]
        lines.append("  reasons:" if result["reasons"] else "  reasons: none pushed the score toward this decision")
        for n, reason in enumerate(result["reasons"], 1):
            value = "missing" if reason["value"] is None else f"{reason['value']:g}"
            text = reason["text"] or f"({reason['note']})"
            lines.append(f"    {n}. {reason['feature']} = {value}  SHAP {reason['shap']:+.4f}  {text}")
        for withheld in result["withheld"]:
            lines.append(f"  withheld: {withheld['feature']} ({withheld['why']})")
    return "\n".join(lines)


def cmd_statement(client: Client, args: argparse.Namespace) -> int:
    payload = {"row": parse_row(args.row), "reference": args.reference}
    target: Path = args.pdf or args.html
    query = {"format": "pdf" if args.pdf else "html"}
    try:
        handle = target.open("wb")
    except OSError as error:
        raise UsageError(f"cannot write {target}: {error.strerror or error}") from None
    try:
        with handle:
            size = client.post_to_file(f"model-versions/{args.version}/statement/", payload, handle, query)
    except BaseException:
        target.unlink(missing_ok=True)  # a refused statement leaves no empty file behind
        raise
    print(f"Wrote the statement of reasons to {target} ({size} bytes).", file=sys.stderr)
    emit(args, {"path": str(target), "bytes": size}, lambda: str(target))
    return OK
