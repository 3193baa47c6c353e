"""Signing keys, releases and offline verification: ``assay key``, ``assay release`` and ``assay verify-release``.

These commands sign and verify, so they need ``assay_trust`` and, through it, the ``cryptography`` and ``rfc8785``
packages (``pip install assay`` brings them). The registration commands do not: ``assay_trust`` is imported only
when a command here runs, so that a CI machine that installed the CLI alone (``--no-deps``) still registers.

The private key of ``assay key generate`` never leaves this machine: ``release sign`` fetches the release's
manifest, recomputes its digest, builds the approval statement here, signs it here and sends only the envelope.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from assay_cli import render
from assay_cli.client import Client, Refused
from assay_cli.errors import OK, REFUSED, Rejected, UsageError
from assay_cli.render import emit

BOARD_ROLES = ["legal", "compliance", "risk", "privacy", "technical"]
DECISIONS = ["approve", "reject"]
PASSPHRASE_VARIABLE = "ASSAY_KEY_PASSPHRASE"  # noqa: S105  # the variable's name, not a passphrase
MAX_BUNDLE_BYTES = 256 * 1024 * 1024
MAX_KEY_FILE_BYTES = 64 * 1024


def trust() -> ModuleType:
    """``assay_trust``, or a usage error that says what to install."""
    try:
        import assay_trust.bundle
        import assay_trust.canonical
        import assay_trust.dsse
        import assay_trust.keys
        import assay_trust.statement
    except ImportError as error:
        raise UsageError(
            f"this command signs or verifies and needs the cryptography and rfc8785 packages ({error}); "
            "install the CLI with its dependencies: pip install <assay checkout or URL> (without --no-deps)."
        ) from None
    return assay_trust


# --- Arguments ----------------------------------------------------------------------------------------------------


def add_commands(commands: Any, command: Callable[..., argparse.ArgumentParser], parser_class: type) -> None:
    key = commands.add_parser("key", help="signing keys: generate locally, register the public half, revoke")
    keys = key.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True, parser_class=parser_class)
    generate = command(
        keys,
        "generate",
        "make an Ed25519 key pair here: the private key file (mode 0600) and PATH.pub; nothing is sent",
        cmd_key_generate,
    )
    generate.add_argument("--out", type=Path, required=True, metavar="PATH", help="private key file to create")
    generate.set_defaults(offline=True)
    register = command(keys, "register", "register a public key (PEM or ssh-ed25519 line) as yours", cmd_key_register)
    register.add_argument("--public-key", type=Path, required=True, metavar="PATH")
    register.add_argument("--name", default="", help="a label, e.g. the machine the private key lives on")
    command(keys, "list", "list your signing keys", cmd_key_list)
    revoke = command(keys, "revoke", "revoke a key: approvals made with it stop counting from now", cmd_key_revoke)
    revoke.add_argument("id", type=int, metavar="ID")
    revoke.add_argument("--reason", required=True)

    release = commands.add_parser("release", help="request, sign, deploy and export releases")
    releases = release.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True, parser_class=parser_class)
    request = command(releases, "request", "ask to release a model version to an environment", cmd_release_request)
    request.add_argument("--model-version", type=int, required=True, metavar="ID", help="the model version's id")
    request.add_argument("--environment", required=True, metavar="SLUG", help="e.g. staging, production")
    request.add_argument("--justification", help="why this release")
    show = command(releases, "show", "a release: its state, approvals and last gate evaluation", cmd_release_show)
    show.add_argument("id", type=int, metavar="ID")
    sign = command(
        releases,
        "sign",
        "sign an approval or rejection of a release with a local key (the key never leaves this machine)",
        cmd_release_sign,
    )
    sign.add_argument("id", type=int, metavar="ID")
    sign.add_argument(
        "--key",
        type=Path,
        required=True,
        metavar="PATH",
        help=f"private key file (encrypted: set {PASSPHRASE_VARIABLE})",
    )
    sign.add_argument("--role", required=True, choices=BOARD_ROLES, help="the board role you sign in")
    sign.add_argument("--decision", required=True, choices=DECISIONS)
    sign.add_argument("--comment", default="", help="up to 2000 characters, signed with the decision")
    deploy = command(
        releases, "deploy", "deploy through the gate; a refusal lists every failed check", cmd_release_deploy
    )
    deploy.add_argument("id", type=int, metavar="ID")
    deploy.add_argument(
        "--idempotency-key", metavar="K", help="repeat a deploy safely: the same key never deploys twice"
    )
    bundle = command(releases, "bundle", "export the release bundle for offline verification", cmd_release_bundle)
    bundle.add_argument("id", type=int, metavar="ID")
    bundle.add_argument("--out", type=Path, required=True, metavar="FILE")

    verify = command(
        commands,
        "verify-release",
        "verify an exported release bundle offline (no server): exit 0 all checks pass, 1 a check fails, "
        "2 unreadable or malformed bundle",
        cmd_verify_release,
    )
    verify.add_argument("bundle", type=Path, metavar="BUNDLE")
    verify.add_argument("--artifact", type=Path, metavar="FILE", help="the model file, re-hashed against the bundle")
    verify.add_argument(
        "--at", metavar="TIME", help="judge at this moment (RFC 3339 with offset; default: the bundle's exported_at)"
    )
    verify.set_defaults(offline=True)


# --- Keys ---------------------------------------------------------------------------------------------------------


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_VARIABLE)
    return value.encode("utf-8") if value else None


def _create_exclusive(path: Path, data: bytes, mode: int) -> None:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise UsageError(f"--out: {path} exists; a key file is never overwritten (choose another path).") from None
    except OSError as error:
        raise UsageError(f"--out: cannot create {path}: {error.strerror or error}") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _make_private_folders(folder: Path) -> None:
    """Create ``folder`` and any missing parent, each readable by its owner only (0700), as ``~/.assay`` on a fresh
    machine. Folders that exist are left as they are."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:  # made meanwhile by another process
            continue
        except OSError as error:
            raise UsageError(f"--out: cannot create the folder {path}: {error.strerror or error}") from None
        path.chmod(0o700)  # mkdir's mode is narrowed by the umask, never widened: make it exactly 0700
        print(f"assay: created the folder {path} (mode 0700)", file=sys.stderr)


def cmd_key_generate(client: Client | None, args: argparse.Namespace) -> int:
    keys = trust().keys
    out: Path = args.out.expanduser()
    public_path = out.with_name(out.name + ".pub")
    if public_path.exists():
        raise UsageError(f"--out: {public_path} exists; a key file is never overwritten (choose another path).")
    _make_private_folders(out.parent)
    private = keys.generate_private_key()
    passphrase = _passphrase()
    _create_exclusive(out, keys.private_key_pem(private, passphrase), 0o600)
    public_pem = keys.public_key_pem(private.public_key())
    _create_exclusive(public_path, public_pem.encode(), 0o644)
    result = {
        "private_key_file": str(out),
        "public_key_file": str(public_path),
        "encrypted": passphrase is not None,
        "fingerprint": keys.fingerprint(private),
        "public_key": public_pem,
        "openssh": keys.public_key_openssh(private.public_key()),
    }
    emit(args, result, lambda: render.generated_key(result))
    return OK


def _read_small(path: Path, option: str) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as error:
        raise UsageError(f"{option}: cannot read {path}: {error.strerror or error}") from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise UsageError(f"{option}: {path} is too large for a key file")
    return data


def cmd_key_register(client: Client, args: argparse.Namespace) -> int:
    keys = trust().keys
    data = _read_small(args.public_key, "--public-key")
    # Checked here first, so that a private key given by mistake is never sent anywhere.
    if keys.contains_private_key(data):
        raise UsageError(
            f"--public-key: {args.public_key} holds a private key; nothing was sent. Give the .pub file "
            "(assay key generate writes it beside the private key)."
        )
    try:
        public = keys.load_public_key(data)
    except ValueError as error:
        raise UsageError(f"--public-key: {args.public_key}: {error}") from None
    registered = client.post("signing-keys/", {"public_key": keys.public_key_pem(public), "name": args.name})
    emit(args, registered, lambda: render.signing_key(registered, "Registered"))
    return OK


def cmd_key_list(client: Client, args: argparse.Namespace) -> int:
    listed = client.get_all("signing-keys/")
    emit(args, listed, lambda: render.signing_keys(listed))
    return OK


def cmd_key_revoke(client: Client, args: argparse.Namespace) -> int:
    if not args.reason.strip():
        raise UsageError("--reason: say why the key is revoked.")
    revoked = client.post(f"signing-keys/{args.id}/revoke/", {"reason": args.reason})
    emit(args, revoked, lambda: render.signing_key(revoked, "Revoked"))
    return OK


# --- Releases -----------------------------------------------------------------------------------------------------


def cmd_release_request(client: Client, args: argparse.Namespace) -> int:
    payload: dict[str, Any] = {"model_version": args.model_version, "environment": args.environment}
    if args.justification:
        payload["justification"] = args.justification
    created = client.post("releases/", payload)
    emit(args, created, lambda: render.release(created, "Requested"))
    return OK


def cmd_release_show(client: Client, args: argparse.Namespace) -> int:
    found = client.get(f"releases/{args.id}/")
    emit(args, found, lambda: render.release(found, ""))
    return OK


def _load_signing_key(path: Path) -> Any:
    keys = trust().keys
    data = _read_small(path, "--key")
    try:
        return keys.load_private_key(data, _passphrase())
    except ValueError as error:
        hint = f" (set {PASSPHRASE_VARIABLE})" if "encrypted" in str(error) else ""
        raise UsageError(f"--key: {path}: {error}{hint}") from None


def _checked_manifest(answer: Any, release_id: int) -> dict[str, Any]:
    """The manifest endpoint's answer, once its digest is recomputed here: what we sign is what we checked."""
    canonical = trust().canonical
    if not isinstance(answer, dict) or not all(
        key in answer for key in ("manifest", "manifest_digest", "artifact", "subject_name", "release")
    ):
        raise Rejected(f"The server's manifest of release {release_id} is incomplete; nothing was signed.")
    try:
        recomputed = canonical.canonical_digest(answer["manifest"])
    except ValueError as error:
        raise Rejected(f"The manifest cannot be canonicalised ({error}); nothing was signed.") from None
    if recomputed != answer["manifest_digest"]:
        raise Rejected(
            f"The manifest's digest does not match: the server says {answer['manifest_digest']}, the manifest it "
            f"sent hashes to {recomputed}. Nothing was signed."
        )
    covered = answer["manifest"].get("artifact") if isinstance(answer["manifest"], dict) else None
    artifact = answer["artifact"]
    if (
        not isinstance(artifact, dict)
        or not isinstance(covered, dict)
        or covered.get("sha256") != artifact.get("sha256")
    ):
        raise Rejected("The manifest does not cover the artifact the server names; nothing was signed.")
    return answer


def cmd_release_sign(client: Client, args: argparse.Namespace) -> int:
    assay_trust = trust()
    keys, dsse, statement = assay_trust.keys, assay_trust.dsse, assay_trust.statement
    private = _load_signing_key(args.key)
    if len(args.comment) > statement.MAX_COMMENT_CHARS:
        raise UsageError(f"--comment: at most {statement.MAX_COMMENT_CHARS} characters.")
    answer = _checked_manifest(client.get(f"releases/{args.id}/manifest/"), args.id)
    me = client.get("me/")
    try:
        approval = statement.build_statement(
            subject_name=answer["subject_name"],
            artifact_sha256=answer["artifact"]["sha256"],
            release_id=answer["release"],
            manifest_digest=answer["manifest_digest"],
            decision=args.decision,
            board_role=args.role,
            comment=args.comment,
            signer_username=me["username"],
            signer_key=keys.fingerprint(private),
            signed_at=datetime.datetime.now(datetime.UTC),
        )
    except ValueError as error:
        raise Rejected(f"Cannot build the approval statement: {error}. Nothing was signed.") from None
    envelope = dsse.sign_envelope(private, dsse.APPROVAL_PAYLOAD_TYPE, statement.statement_bytes(approval))
    stored = client.post(f"releases/{args.id}/approvals/", {"envelope": envelope})
    key = keys.fingerprint(private)
    result = {"approval": stored, "manifest_digest": answer["manifest_digest"], "key": key}
    emit(args, result, lambda: render.signed(stored, answer, args.id, args.decision, args.role, key))
    return OK


def cmd_release_deploy(client: Client, args: argparse.Namespace) -> int:
    payload = {"idempotency_key": args.idempotency_key} if args.idempotency_key else {}
    try:
        deployed = client.post(f"releases/{args.id}/deploy/", payload)
    except Refused as refused:
        if refused.status == 409:
            refused.hints.extend(f"FAIL {name}: {reason}" for name, reason in failed_checks(refused.body))
        raise
    emit(args, deployed, lambda: render.deployed(deployed, args.id))
    return OK


def failed_checks(body: Any) -> list[tuple[str, str]]:
    """(name, reason) of each failed gate check of a 409 (``{"error": {"checks": [...]}}``)."""
    error = body.get("error") if isinstance(body, dict) else None
    checks = error.get("checks") if isinstance(error, dict) else None
    return [
        (str(check.get("name", "?")), str(check.get("reason") or ""))
        for check in (checks if isinstance(checks, list) else [])
        if isinstance(check, dict) and not check.get("passed", False)
    ]


def cmd_release_bundle(client: Client, args: argparse.Namespace) -> int:
    bundle_module = trust().bundle
    exported = client.get(f"releases/{args.id}/bundle/")
    try:
        bundle_module.validate_bundle_shape(exported)
    except ValueError as error:
        raise Rejected(f"The server's bundle is malformed ({error}); nothing was written.") from None
    out: Path = args.out
    partial = out.with_name(out.name + ".part")
    try:
        partial.write_text(json.dumps(exported, indent=2, sort_keys=True, ensure_ascii=False) + "\n", "utf-8")
        partial.replace(out)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise UsageError(f"--out: cannot write {out}: {error.strerror or error}") from None
    result = {"path": str(out), "release": exported["release"], "approvals": len(exported["approvals"])}
    emit(args, result, lambda: render.bundle_written(exported, args.id, out))
    return OK


# --- Offline verification -----------------------------------------------------------------------------------------


def _read_bundle(path: Path) -> Any:
    try:
        size = path.stat().st_size
        if size > MAX_BUNDLE_BYTES:
            raise UsageError(f"{path}: larger than {MAX_BUNDLE_BYTES // (1024 * 1024)} MiB; not a release bundle.")
        return json.loads(path.read_bytes())
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise UsageError(f"{path} is not JSON: {error}") from None


def _parse_at(text: str | None) -> datetime.datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--at: {text!r} is not an RFC 3339 time, e.g. 2026-03-01T12:00:00Z.") from None
    if moment.tzinfo is None:
        raise UsageError("--at: give the offset too (Z or +hh:mm), e.g. 2026-03-01T12:00:00Z.")
    return moment


def cmd_verify_release(client: Client | None, args: argparse.Namespace) -> int:
    bundle_module = trust().bundle
    at = _parse_at(args.at)
    data = _read_bundle(args.bundle)
    try:
        bundle_module.validate_bundle_shape(data)
    except ValueError as error:
        raise UsageError(f"{args.bundle} is not a release bundle (format v1): {error}") from None
    checks = bundle_module.verify_bundle(data, artifact_path=args.artifact, at=at)
    passed = all(check.passed for check in checks)
    if getattr(args, "json", False):
        print(json.dumps({"passed": passed, "checks": [vars(check) for check in checks]}, indent=2))
    else:
        print(render.checks(checks, passed))
    return OK if passed else REFUSED
