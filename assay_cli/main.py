"""The ``assay`` command: register datasets, dataset versions, models and ONNX model versions over the REST API;
sign and deploy releases and verify release bundles offline (signing.py).

Exit codes: 0 done; 1 refused by the server (4xx), no token, or a check failed; 2 usage error (bad arguments,
unreadable local file, malformed bundle); 3 the server cannot be reached or failed (5xx). docs/cli.md has the
details and a CI example.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from assay_cli import __version__, batch, explain, jobs, render, signing, traffic
from assay_cli.client import CHUNK_BYTES, Client, LocalFileError, Refused, Unreachable
from assay_cli.errors import OK, REFUSED, UNREACHABLE, USAGE, NoToken, Rejected, UsageError
from assay_cli.render import emit

DEFAULT_URL = "http://127.0.0.1:8000"
STORAGE_FORMATS = ["parquet", "avro", "orc", "csv", "delta"]
CLASSIFICATIONS = ["public", "internal", "confidential", "restricted"]
LEGAL_BASES = [
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
    "not_applicable",
]
# approved and deployed come from the release path (assay release), never from a status change.
STATUSES = ["registered", "in_review", "deprecated", "retired"]

DESCRIPTION = """\
Register datasets and ONNX model versions in Assay, request and sign releases, deploy them, and verify exported
release bundles offline, from a terminal or a CI pipeline.

Configuration:
  server  --url or ASSAY_URL (default http://127.0.0.1:8000; `make run PORT=8100` serves on port 8100)
  token   ASSAY_TOKEN, or --token-file PATH (a file holding the token)

There is deliberately no --token option: a token on the command line shows in process lists (ps) and in CI
logs. Create a token in the web UI (/tokens/) or with POST /api/v1/tokens/, and keep it in a CI secret.
"""

EPILOG = """\
exit codes: 0 done, 1 refused (by the server, no token, a failed check), 2 usage error, 3 server unreachable or 5xx

examples:
  export ASSAY_URL=https://assay.example.com ASSAY_TOKEN=assay_...
  assay whoami
  assay dataset register --team team-a --name Customers --format parquet --location s3://lake/customers/ \\
      --classification confidential --legal-basis contract --residency eu-west-1
  assay dataset version --team team-a --name Customers --schema schema.json --data-file customers.parquet
  assay model register --team team-a --name "Churn scorer" --tag churn
  assay model version --team team-a --name "Churn scorer" --onnx model.onnx --metrics metrics.json \\
      --dataset-version 7:1
  assay model status --team team-a --name "Churn scorer" --version 1 --to in_review --reason "Ready for review"
  assay model download --team team-a --name "Churn scorer" --version 1 -o model.onnx
  assay key generate --out ~/.assay/signing-key.pem && assay key register --public-key ~/.assay/signing-key.pem.pub
  assay release request --model-version 12 --environment production
  assay release sign 7 --key ~/.assay/signing-key.pem --role legal --decision approve --comment "DPIA checked"
  assay release deploy 7 --idempotency-key "$CI_PIPELINE_ID"
  assay deploy canary 8 --percent 10 && assay routes --env production
  assay promote team-a/"Churn scorer" --env production
  assay rollback team-a/"Churn scorer" --env production
  assay release bundle 7 --out release-7.json && assay verify-release release-7.json --artifact model.onnx
  assay job list --status running --status queued && assay job show JOB_ID --wait
  assay explain 12 --row '{"income": 2.1, "debt": 1.4}' --top 3
  assay statement 12 --row '{"income": 2.1, "debt": 1.4}' --reference "application 123" --pdf statement.pdf
"""


# Anything shaped like an Assay token (assay_<8-character key id>_<secret>), wherever it appears in an error message.
TOKEN_SHAPE = re.compile(r"assay_[A-Za-z0-9_-]{8}_[A-Za-z0-9_-]+")


def redact(text: str) -> str:
    text = TOKEN_SHAPE.sub("assay_<redacted>", text)
    token = os.environ.get("ASSAY_TOKEN", "").strip()
    return text.replace(token, "<redacted>") if len(token) >= 8 else text


class Parser(argparse.ArgumentParser):
    """argparse quotes the offending argument in its errors (``unrecognized arguments: assay_…``), which would put a
    mistyped token into a CI log: every message is redacted first. Abbreviations are off, so that ``--token`` is
    never taken for ``--token-file``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {redact(message)}\n")


class _RefuseTokenArgument(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        parser.error(
            "there is no --token option: a token on the command line shows in process lists and CI logs. "
            "Set ASSAY_TOKEN, or pass --token-file PATH."
        )


# --- Arguments ----------------------------------------------------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    """Options every command takes, before or after the command name (``assay --json whoami`` or
    ``assay whoami --json``). SUPPRESS keeps a subcommand's unset option from hiding the main parser's value."""
    common = Parser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS, help=f"server URL (ASSAY_URL; default {DEFAULT_URL})")
    common.add_argument(
        "--token-file",
        type=Path,
        default=argparse.SUPPRESS,
        help="read the API token from this file instead of ASSAY_TOKEN (there is no --token: see above)",
    )
    common.add_argument("--token", action=_RefuseTokenArgument, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for machines")
    common.add_argument(
        "--timeout", type=float, default=argparse.SUPPRESS, help="seconds to wait for the server (default 600)"
    )
    return common


def _model_ref(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("which model (--model, or --team and --name)")
    group.add_argument("--model", type=int, metavar="ID", help="the registered model's id")
    group.add_argument("--team", help="team slug")
    group.add_argument("--name", help="model name within the team")


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = Parser(
        prog="assay",
        description=DESCRIPTION,
        epilog=EPILOG,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"assay {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)

    def command(group: Any, name: str, help_text: str, handler: Callable[..., int]) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = group.add_parser(
            name, help=help_text, description=help_text, parents=[common], epilog=EPILOG.splitlines()[0]
        )
        sub.set_defaults(handler=handler)
        return sub

    command(commands, "whoami", "show who the token belongs to and their teams", cmd_whoami)

    dataset = commands.add_parser("dataset", help="register datasets and dataset versions")
    datasets = dataset.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True, parser_class=Parser)

    register = command(
        datasets, "register", "create a dataset, or reuse the team's dataset of that name", cmd_dataset_register
    )
    register.add_argument("--team", required=True, help="team slug")
    register.add_argument("--name", required=True)
    register.add_argument("--format", dest="storage_format", required=True, choices=STORAGE_FORMATS)
    register.add_argument("--location", required=True, help="where the data lives, e.g. s3://lake/customers/")
    register.add_argument("--classification", required=True, choices=CLASSIFICATIONS)
    register.add_argument("--legal-basis", required=True, choices=LEGAL_BASES, help="GDPR art. 6 basis")
    register.add_argument("--residency", dest="residency_region", help="residency region, e.g. eu-west-1")
    register.add_argument("--partition", dest="partitioning", action="append", help="a partition column (repeat)")
    register.add_argument("--owner", help="owner's username (default: you)")
    register.add_argument("--description")

    version = command(
        datasets,
        "version",
        "register the next version of a dataset from its schema; prints the schema-evolution report",
        cmd_dataset_version,
    )
    group = version.add_argument_group("which dataset (--dataset, or --team and --name)")
    group.add_argument("--dataset", type=int, metavar="ID", help="the dataset's id")
    group.add_argument("--team", help="team slug")
    group.add_argument("--name", help="dataset name within the team")
    version.add_argument("--schema", type=Path, required=True, help='JSON file: {"columns": [...]} (docs/cli.md)')
    fingerprint = version.add_mutually_exclusive_group(required=True)
    fingerprint.add_argument("--fingerprint", metavar="SHA256", help="the data's SHA-256, computed by you")
    fingerprint.add_argument("--data-file", type=Path, help="a local copy of the data: its SHA-256 is computed here")
    version.add_argument("--row-count", type=int)
    version.add_argument("--description")
    version.add_argument(
        "--allow-breaking-change",
        action="store_true",
        help="register even if the schema breaks readers of the previous version (recorded as such)",
    )

    model = commands.add_parser("model", help="register models and ONNX model versions")
    models = model.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True, parser_class=Parser)

    register = command(models, "register", "create a model, or reuse the team's model of that name", cmd_model_register)
    register.add_argument("--team", required=True, help="team slug")
    register.add_argument("--name", required=True)
    register.add_argument("--use-case", type=int, metavar="ID", help="the use case the model serves")
    register.add_argument("--tag", dest="tags", action="append", help="a lower-case label (repeat)")
    register.add_argument("--owner", help="owner's username (default: you)")
    register.add_argument("--on-call", help="who answers when it misbehaves")
    register.add_argument("--description")
    register.add_argument("--intended-use")
    register.add_argument("--limitations")

    version = command(
        models, "version", "upload an ONNX file as the model's next version; prints its contract", cmd_model_version
    )
    _model_ref(version)
    version.add_argument("--onnx", type=Path, required=True, help="the ONNX file (streamed, never held in memory)")
    version.add_argument("--params", type=Path, help="JSON file of training parameters")
    version.add_argument("--metrics", type=Path, help='JSON file of metrics: {"auc": 0.91, "test": {"f1": 0.8}}')
    version.add_argument(
        "--dataset-version",
        dest="dataset_versions",
        action="append",
        metavar="DATASET:NUMBER",
        help="a dataset version it was trained on: dataset id or name (in the model's team), and version (repeat)",
    )
    version.add_argument("--feature-set-version", dest="feature_set_versions", action="append", type=int, metavar="ID")
    version.add_argument("--author", dest="authors", action="append", help="an author's username (default: you)")
    version.add_argument("--description")

    download = command(models, "download", "download a version's ONNX file, checking its SHA-256", cmd_model_download)
    _model_ref(download)
    download.add_argument("--version", dest="number", type=int, required=True, metavar="N")
    download.add_argument(
        "--output", "-o", type=Path, required=True, help="where to write the file; - for standard output"
    )

    listing = command(models, "versions", "list a model's versions, newest first", cmd_model_versions)
    _model_ref(listing)

    status = command(models, "status", "move a model version along its lifecycle", cmd_model_status)
    _model_ref(status)
    status.add_argument("--version", dest="number", type=int, required=True, metavar="N")
    status.add_argument("--to", dest="to_status", required=True, choices=STATUSES)
    status.add_argument("--reason", required=True)

    signing.add_commands(commands, command, Parser)
    jobs.add_commands(commands, models, command, Parser)
    explain.add_commands(commands, command)
    traffic.add_commands(commands, command, Parser)
    batch.add_commands(commands, command)
    return parser


# --- Commands -----------------------------------------------------------------------------------------------------


def cmd_whoami(client: Client, args: argparse.Namespace) -> int:
    me = client.get("me/")
    emit(args, me, lambda: render.whoami(me, client.base_url))
    return OK


def cmd_dataset_register(client: Client, args: argparse.Namespace) -> int:
    wanted = {
        "storage_format": args.storage_format,
        "location": args.location,
        "classification": args.classification,
        "legal_basis": args.legal_basis,
        "residency_region": args.residency_region,
        "partitioning": args.partitioning,
        "owner": args.owner,
        "description": args.description,
    }
    existing = _find_by_name(client, "datasets/", args.team, args.name)
    if existing is not None:
        _warn_differences("dataset", existing, wanted)
        emit(args, {"created": False, "dataset": existing}, lambda: render.dataset(existing, created=False))
        return OK
    payload = {"team": args.team, "name": args.name, **{key: value for key, value in wanted.items() if value}}
    payload.setdefault("owner", client.get("me/")["username"])
    found, created = _create_or_reuse(client, "datasets/", payload)
    emit(args, {"created": created, "dataset": found}, lambda: render.dataset(found, created=created))
    return OK


def cmd_dataset_version(client: Client, args: argparse.Namespace) -> int:
    schema = _read_json(args.schema, "--schema")
    if isinstance(schema, list):
        schema = {"columns": schema}
    fingerprint = args.fingerprint or _sha256_of(args.data_file)
    dataset = _resolve(client, "datasets/", "--dataset", args.dataset, args.team, args.name)
    payload: dict[str, Any] = {"schema": schema, "content_fingerprint": fingerprint}
    if args.row_count is not None:
        payload["row_count"] = args.row_count
    if args.description:
        payload["description"] = args.description
    if args.allow_breaking_change:
        payload["allow_breaking_change"] = True
    try:
        version = client.post(f"datasets/{dataset['id']}/versions/", payload)
    except Refused as refused:
        if "breaking schema change" in str(refused.fields.get("schema", "")):
            refused.hints.append("To register it anyway, pass --allow-breaking-change: it is recorded as breaking.")
        raise
    emit(args, version, lambda: render.dataset_version(version, dataset))
    return OK


def cmd_model_register(client: Client, args: argparse.Namespace) -> int:
    wanted = {
        "use_case": args.use_case,
        "tags": args.tags,
        "owner": args.owner,
        "on_call": args.on_call,
        "description": args.description,
        "intended_use": args.intended_use,
        "limitations": args.limitations,
    }
    existing = _find_by_name(client, "models/", args.team, args.name)
    if existing is not None:
        _warn_differences("model", existing, wanted)
        emit(args, {"created": False, "model": existing}, lambda: render.model(existing, created=False))
        return OK
    payload = {"team": args.team, "name": args.name, **{key: value for key, value in wanted.items() if value}}
    payload.setdefault("owner", client.get("me/")["username"])
    found, created = _create_or_reuse(client, "models/", payload)
    emit(args, {"created": created, "model": found}, lambda: render.model(found, created=created))
    return OK


def cmd_model_version(client: Client, args: argparse.Namespace) -> int:
    if not args.onnx.is_file():
        raise UsageError(f"--onnx: {args.onnx} is not a readable file.")
    fields: list[tuple[str, str]] = []
    if args.params:
        fields.append(("training_params", json.dumps(_read_json(args.params, "--params"))))
    if args.metrics:
        fields.append(("metrics", json.dumps(_read_json(args.metrics, "--metrics"))))
    references = [_dataset_version_ref(text) for text in args.dataset_versions or []]
    model = _resolve(client, "models/", "--model", args.model, args.team, args.name)
    model_id = model["id"]
    # The API answers with dataset version ids; the names they were given by are what a reader recognises.
    dataset_labels: dict[int, str] = {}
    for dataset, number in references:
        version_id, label = _dataset_version_id(client, model["team"], dataset, number)
        dataset_labels[version_id] = label
        fields.append(("dataset_versions", str(version_id)))
    fields += [("feature_set_versions", str(item)) for item in args.feature_set_versions or []]
    fields += [("authors", author) for author in args.authors or []]
    if args.description:
        fields.append(("description", args.description))
    version = client.upload(f"models/{model_id}/versions/", fields, "file", args.onnx)
    emit(args, version, lambda: render.model_version(version, dataset_labels))
    return OK


def cmd_model_download(client: Client, args: argparse.Namespace) -> int:
    model_id = _resolve(client, "models/", "--model", args.model, args.team, args.name)["id"]
    version = client.get(f"models/{model_id}/versions/{args.number}/")
    path = f"models/{model_id}/versions/{args.number}/artifact/"
    output: Path = args.output
    if str(output) == "-":
        return _download_to_stdout(client, args, version, path)
    partial = output.with_name(output.name + ".part")
    try:
        with partial.open("wb") as handle:
            digest, size = client.download(path, handle)
    except OSError as error:  # opening the file: a folder that does not exist, no permission
        partial.unlink(missing_ok=True)
        raise UsageError(f"--output: cannot write {output}: {error.strerror or error}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if (digest, size) != (version["artifact_sha256"], version["artifact_size"]):
        partial.unlink(missing_ok=True)
        raise _mismatch(version, digest, size)
    partial.replace(output)  # only a complete, checked file ever appears under the asked name
    result = {**version, "path": str(output)}
    emit(args, result, lambda: render.download(version, output))
    return OK


def _download_to_stdout(client: Client, args: argparse.Namespace, version: dict[str, Any], path: str) -> int:
    """``-o -``: the bytes go to standard output only once checked (spooled to a temporary file first, so a
    mismatch writes nothing there); the summary goes to standard error, where it does not mix with the model."""
    with tempfile.TemporaryFile() as spool:
        digest, size = client.download(path, spool)
        if (digest, size) != (version["artifact_sha256"], version["artifact_size"]):
            raise _mismatch(version, digest, size)
        spool.seek(0)
        sys.stdout.flush()
        shutil.copyfileobj(spool, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    result = {**version, "path": "-"}
    as_json = getattr(args, "json", False)
    summary = json.dumps(result, indent=2, sort_keys=True) if as_json else render.download(version, "standard output")
    print(summary, file=sys.stderr)
    return OK


def _mismatch(version: dict[str, Any], digest: str, size: int) -> Unreachable:
    return Unreachable(
        f"The download does not match the registered digest ({digest}, {size} bytes; registered "
        f"{version['artifact_sha256']}, {version['artifact_size']} bytes); nothing was written."
    )


def cmd_model_versions(client: Client, args: argparse.Namespace) -> int:
    model_id = _resolve(client, "models/", "--model", args.model, args.team, args.name)["id"]
    versions = client.get_all(f"models/{model_id}/versions/")
    emit(args, versions, lambda: render.version_list(versions))
    return OK


def cmd_model_status(client: Client, args: argparse.Namespace) -> int:
    model_id = _resolve(client, "models/", "--model", args.model, args.team, args.name)["id"]
    payload = {"to_status": args.to_status, "reason": args.reason}
    version = client.post(f"models/{model_id}/versions/{args.number}/transitions/", payload)
    emit(args, version, lambda: render.status_change(version))
    return OK


# --- Helpers ------------------------------------------------------------------------------------------------------


def _create_or_reuse(client: Client, path: str, payload: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """POST the new object, or reuse the one another client created under that name in the meantime (two pipelines
    racing). Any other refusal is the caller's to report."""
    try:
        return client.post(path, payload), True
    except Refused as refused:
        found = _find_by_name(client, path, payload["team"], payload["name"]) if "name" in refused.fields else None
        if refused.status == 400 and found is not None:
            return found, False
        raise


def _find_by_name(client: Client, path: str, team: str, name: str) -> dict[str, Any] | None:
    """The team's object called ``name``. The server decides uniqueness on a normalised name (case, Unicode,
    confusables); an exact match is preferred, then a case-insensitive one, and a lookalike is left for the create
    to refuse with the server's own explanation."""
    candidates = [item for item in client.get_all(path, {"team": team, "q": name}) if item.get("team") == team]
    for match in (lambda item: item["name"] == name, lambda item: item["name"].casefold() == name.casefold()):
        found = [item for item in candidates if match(item)]
        if len(found) == 1:
            return found[0]
    return None


def _resolve(
    client: Client, path: str, option: str, given: int | None, team: str | None, name: str | None
) -> dict[str, Any]:
    kind = path.rstrip("/")[:-1]  # "datasets/" -> "dataset"
    if given is not None:
        if team or name:
            raise UsageError(f"give either {option} or --team and --name, not both.")
        found: dict[str, Any] = client.get(f"{path}{given}/")
        return found
    if not (team and name):
        raise UsageError(f"say which {kind}: {option} ID, or --team and --name.")
    by_name = _find_by_name(client, path, team, name)
    if by_name is None:
        raise Refused(404, f"No {kind} named {name!r} in team {team!r} (or you cannot see it).")
    return by_name


def _warn_differences(kind: str, existing: dict[str, Any], wanted: dict[str, Any]) -> None:
    for key, value in wanted.items():
        if value is None or existing.get(key) == value:
            continue
        if isinstance(value, list) and sorted(value) == sorted(existing.get(key) or []):
            continue
        print(
            f"assay: note: the existing {kind} has {key}={existing.get(key)!r}, not {value!r}; "
            f"it was reused unchanged (change it with Edit on its page in the web UI, /{kind}s/{existing.get('id')}/, "
            f"or with PATCH /api/v1/{kind}s/{existing.get('id')}/).",
            file=sys.stderr,
        )


def _dataset_version_ref(text: str) -> tuple[str, int]:
    """``7:2`` (dataset id 7, version 2) or ``customers:2`` (the model's team's dataset called customers)."""
    dataset, _, number = text.rpartition(":")
    if not (dataset and number.isdigit()):
        raise UsageError(f"--dataset-version {text!r}: expected DATASET:NUMBER (an id or a name), e.g. 7:2.")
    return dataset, int(number)


def _dataset_version_id(client: Client, team: str, dataset: str, number: int) -> tuple[int, str]:
    """The id of the dataset version ``dataset:number``, and its label (``customers v1``)."""
    dataset_id: Any = dataset
    name = dataset
    if not dataset.isdigit():
        by_name = _find_by_name(client, "datasets/", team, dataset)
        if by_name is None:
            raise Refused(404, f"--dataset-version {dataset}:{number}: no dataset named {dataset!r} in team {team}.")
        dataset_id, name = by_name["id"], by_name["name"]
    try:
        found = client.get(f"datasets/{dataset_id}/versions/{number}/")
        if dataset.isdigit():
            name = client.get(f"datasets/{dataset_id}/")["name"]
    except Refused as refused:
        if refused.status != 404:
            raise
        raise Refused(404, f"--dataset-version {dataset}:{number}: no such dataset version.") from None
    return int(found["id"]), f"{name} v{number}"


def _read_json(path: Path, option: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"{option}: cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise UsageError(f"{option}: {path} is not valid JSON: {error}") from None


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
    except OSError as error:
        raise UsageError(f"--data-file: cannot read {path}: {error.strerror or error}") from None
    return digest.hexdigest()


def _token(args: argparse.Namespace) -> str:
    token_file: Path | None = getattr(args, "token_file", None)
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"--token-file: cannot read {token_file}: {error}") from None
        if not token:
            raise NoToken(f"the token file {token_file} is empty.")
        return token
    token = os.environ.get("ASSAY_TOKEN", "").strip()
    if not token:
        raise NoToken("no API token. Set ASSAY_TOKEN, or pass --token-file PATH.")
    return token


def _base_url(args: argparse.Namespace) -> str:
    url = getattr(args, "url", None) or os.environ.get("ASSAY_URL") or DEFAULT_URL
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UsageError(f"--url / ASSAY_URL must be an http:// or https:// URL, not {url!r}.")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UsageError("--url / ASSAY_URL: give the server's address only (no user, query or fragment).")
    if parts.scheme == "http" and parts.hostname not in {"localhost", "127.0.0.1", "::1"}:
        print(f"assay: warning: the token is sent unencrypted to {parts.hostname}; use https.", file=sys.stderr)
    return url


def _fail(args: argparse.Namespace, code: int, message: str, extra: dict[str, Any] | None = None) -> int:
    message = redact(message)
    print(f"assay: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"error": {"exit_code": code, "message": message, **(extra or {})}}, indent=2))
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    def usage(message: str) -> NoReturn:
        parser.exit(USAGE, f"{parser.prog}: error: {redact(message)}\n")

    try:
        handler: Callable[[Client | None, argparse.Namespace], int] = args.handler
        if getattr(args, "offline", False):  # key generate, verify-release: no server, no token
            return handler(None, args)
        client = Client(_base_url(args), _token(args), timeout=getattr(args, "timeout", 600.0))
        return handler(client, args)
    except UsageError as error:
        usage(str(error))
    except NoToken as error:
        return _fail(args, REFUSED, str(error))
    except LocalFileError as error:
        return _fail(args, USAGE, str(error))
    except Refused as refused:
        lines = [*render.refusal(refused.status, refused.message, refused.fields), *refused.hints]
        if refused.status == 401:
            lines.append("Check ASSAY_TOKEN / --token-file: the token may be wrong, revoked or expired.")
        extra = {"status": refused.status, "fields": refused.fields}
        return _fail(args, REFUSED, "\n  ".join(lines), extra)
    except Rejected as rejected:
        return _fail(args, REFUSED, "\n  ".join([str(rejected), *rejected.lines]))
    except Unreachable as error:
        return _fail(args, UNREACHABLE, str(error), {"status": error.status})
    except KeyboardInterrupt:
        return _fail(args, 130, "interrupted; a registration in flight is all or nothing on the server.")
