"""The release bundle (format v1): everything an auditor needs to check a release's approvals offline, without
the server or its database, and ``verify_bundle``, which checks it.

The format is described in docs/releases.md, "Release bundles". In short::

    {"bundle_version": 1, "kind": "assay.release-bundle", "exported_at": "<RFC 3339>",
     "release": {"id", "environment", "model": "<team>/<model name>", "version", "requested_by"},
     "manifest": {...}, "manifest_digest": "<sha256 hex of the manifest's RFC 8785 bytes>",
     "artifact": {"sha256", "size"},
     "policy": {"name", "version", "environment", "risk_tier",
                "requirements": {"roles": {...}, "min_total", "approval_valid_days", "checks": [...]}},
     "approvals": [{"envelope": {DSSE}, "received_at", "signer", "board_role", "key"}],
     "public_keys": [{"fingerprint", "owner", "public_key": "<PEM>", "created_at", "revoked_at",
                      "revocation_reason"}],
     "deployment": null | {...}}

Every object above has exactly these keys (``manifest`` and ``deployment`` are free-form); ``build_bundle`` makes
one from plain values and checks it the way ``verify_bundle`` will.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay_trust.canonical import canonical_digest
from assay_trust.dsse import APPROVAL_PAYLOAD_TYPE, Envelope, parse_envelope, verify_envelope
from assay_trust.errors import BundleFormatError, TrustError
from assay_trust.keys import fingerprint, is_fingerprint, load_public_key
from assay_trust.quorum import evaluate_quorum
from assay_trust.statement import BOARD_ROLES, ApprovalStatement, format_time, parse_statement, subject_name

BUNDLE_VERSION = 1
BUNDLE_KIND = "assay.release-bundle"
MAX_APPROVALS = 1000
MAX_PUBLIC_KEYS = 1000
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1024 * 1024

_TOP_KEYS = {
    "bundle_version",
    "kind",
    "exported_at",
    "release",
    "manifest",
    "manifest_digest",
    "artifact",
    "policy",
    "approvals",
    "public_keys",
    "deployment",
}
_RELEASE_KEYS = {"id", "environment", "model", "version", "requested_by"}
_ARTIFACT_KEYS = {"sha256", "size"}
_POLICY_KEYS = {"name", "version", "environment", "risk_tier", "requirements"}
_REQUIREMENT_KEYS = {"roles", "min_total", "approval_valid_days", "checks"}
_APPROVAL_KEYS = {"envelope", "received_at", "signer", "board_role", "key"}
_PUBLIC_KEY_KEYS = {"fingerprint", "owner", "public_key", "created_at", "revoked_at", "revocation_reason"}


@dataclass(frozen=True)
class Check:
    """One verdict of ``verify_bundle``: a stable ``name``, whether it ``passed``, and why (``detail``)."""

    name: str
    passed: bool
    detail: str


# --- Shape --------------------------------------------------------------------------------------------------------


def parse_time(value: object, field: str) -> datetime.datetime:
    """An RFC 3339 / ISO 8601 time with its offset (``Z`` or ``+01:00``), as an aware datetime."""
    if not isinstance(value, str):
        raise BundleFormatError(f"{field}: expected an RFC 3339 time string")
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise BundleFormatError(f"{field}: not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise BundleFormatError(f"{field}: the time must carry its offset (Z or +hh:mm)")
    return moment


def _object(value: object, field: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BundleFormatError(f"{field}: expected an object")
    missing, extra = keys - set(value), set(value) - keys
    if missing:
        raise BundleFormatError(f"{field}: missing {', '.join(sorted(missing))}")
    if extra:
        raise BundleFormatError(f"{field}: unexpected {', '.join(sorted(str(key)[:40] for key in extra))}")
    return value


def _string(value: object, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise BundleFormatError(f"{field}: expected a non-empty string")
    return value


def _whole(value: object, field: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BundleFormatError(f"{field}: expected a whole number, {minimum} or more")
    return value


def _sha256(value: object, field: str) -> str:
    if not isinstance(value, str) or not _SHA256_HEX.fullmatch(value):
        raise BundleFormatError(f"{field}: expected 64 lower-case hex digits")
    return value


def validate_bundle_shape(bundle: object) -> None:
    """Raise ``BundleFormatError`` (naming the field) unless ``bundle`` has the shape of format v1. Contents are
    not judged here (digests, signatures): ``verify_bundle`` does that."""
    top = _object(bundle, "bundle", _TOP_KEYS)
    if top["kind"] != BUNDLE_KIND:
        raise BundleFormatError(f"kind: expected {BUNDLE_KIND}")
    if top["bundle_version"] != BUNDLE_VERSION or isinstance(top["bundle_version"], bool):
        raise BundleFormatError(f"bundle_version: this verifier reads version {BUNDLE_VERSION} only")
    parse_time(top["exported_at"], "exported_at")
    release = _object(top["release"], "release", _RELEASE_KEYS)
    if isinstance(release["id"], bool) or not isinstance(release["id"], str | int) or release["id"] == "":
        raise BundleFormatError("release.id: expected a string or a whole number")
    for name in ("environment", "model", "requested_by"):
        _string(release[name], f"release.{name}")
    if "/" not in release["model"]:
        raise BundleFormatError("release.model: expected <team>/<model name>")
    _whole(release["version"], "release.version", 1)
    if not isinstance(top["manifest"], dict):
        raise BundleFormatError("manifest: expected an object")
    _sha256(top["manifest_digest"], "manifest_digest")
    artifact = _object(top["artifact"], "artifact", _ARTIFACT_KEYS)
    _sha256(artifact["sha256"], "artifact.sha256")
    _whole(artifact["size"], "artifact.size")
    policy = _object(top["policy"], "policy", _POLICY_KEYS)
    for name in ("name", "environment", "risk_tier"):
        _string(policy[name], f"policy.{name}")
    _whole(policy["version"], "policy.version", 1)
    requirements = _object(policy["requirements"], "policy.requirements", _REQUIREMENT_KEYS)
    if not isinstance(requirements["roles"], dict):
        raise BundleFormatError("policy.requirements.roles: expected an object of board role -> count")
    for role, count in requirements["roles"].items():
        if role not in BOARD_ROLES:
            raise BundleFormatError(f"policy.requirements.roles: {str(role)[:40]!r} is not a board role")
        _whole(count, f"policy.requirements.roles.{role}")
    _whole(requirements["min_total"], "policy.requirements.min_total", 1)
    _whole(requirements["approval_valid_days"], "policy.requirements.approval_valid_days", 1)
    checks = requirements["checks"]
    if not isinstance(checks, list) or not all(isinstance(item, str) for item in checks):
        raise BundleFormatError("policy.requirements.checks: expected a list of check names")
    approvals = top["approvals"]
    if not isinstance(approvals, list) or len(approvals) > MAX_APPROVALS:
        raise BundleFormatError(f"approvals: expected a list of at most {MAX_APPROVALS}")
    for index, item in enumerate(approvals):
        field = f"approvals[{index}]"
        approval = _object(item, field, _APPROVAL_KEYS)
        if not isinstance(approval["envelope"], dict):
            raise BundleFormatError(f"{field}.envelope: expected an object (a DSSE envelope)")
        parse_time(approval["received_at"], f"{field}.received_at")
        _string(approval["signer"], f"{field}.signer")
        if approval["board_role"] not in BOARD_ROLES:
            raise BundleFormatError(f"{field}.board_role: expected one of {', '.join(BOARD_ROLES)}")
        if not is_fingerprint(approval["key"]):
            raise BundleFormatError(f"{field}.key: expected a key fingerprint, sha256:<64 lower-case hex>")
    keys = top["public_keys"]
    if not isinstance(keys, list) or len(keys) > MAX_PUBLIC_KEYS:
        raise BundleFormatError(f"public_keys: expected a list of at most {MAX_PUBLIC_KEYS}")
    seen: set[str] = set()
    for index, item in enumerate(keys):
        field = f"public_keys[{index}]"
        key = _object(item, field, _PUBLIC_KEY_KEYS)
        if not is_fingerprint(key["fingerprint"]):
            raise BundleFormatError(f"{field}.fingerprint: expected sha256:<64 lower-case hex>")
        if key["fingerprint"] in seen:
            raise BundleFormatError(f"{field}.fingerprint: listed twice")
        seen.add(key["fingerprint"])
        _string(key["owner"], f"{field}.owner")
        _string(key["public_key"], f"{field}.public_key")
        parse_time(key["created_at"], f"{field}.created_at")
        if key["revoked_at"] is not None:
            parse_time(key["revoked_at"], f"{field}.revoked_at")
        if key["revocation_reason"] is not None and not isinstance(key["revocation_reason"], str):
            raise BundleFormatError(f"{field}.revocation_reason: expected a string or null")
    if top["deployment"] is not None and not isinstance(top["deployment"], dict):
        raise BundleFormatError("deployment: expected an object or null")


def _plain(value: object) -> Any:
    if isinstance(value, datetime.datetime):
        return format_time(value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def build_bundle(
    *,
    exported_at: datetime.datetime,
    release: Mapping[str, Any],
    manifest: Mapping[str, Any],
    artifact: Mapping[str, Any],
    policy: Mapping[str, Any],
    approvals: list[Mapping[str, Any]],
    public_keys: list[Mapping[str, Any]],
    deployment: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A bundle v1 from plain values (datetimes become RFC 3339 UTC strings); the manifest digest is computed here.
    Raises ``BundleFormatError`` if the result would not have the v1 shape."""
    bundle = _plain(
        {
            "bundle_version": BUNDLE_VERSION,
            "kind": BUNDLE_KIND,
            "exported_at": exported_at,
            "release": release,
            "manifest": manifest,
            "manifest_digest": canonical_digest(_plain(manifest)),
            "artifact": artifact,
            "policy": policy,
            "approvals": approvals,
            "public_keys": public_keys,
            "deployment": deployment,
        }
    )
    validate_bundle_shape(bundle)
    return dict(bundle)


# --- Verification -------------------------------------------------------------------------------------------------


def _check(name: str, passed: bool, detail: str) -> Check:
    return Check(name=name, passed=passed, detail=detail)


def _short(digest: str) -> str:
    return digest[:19] if digest.startswith("sha256:") else digest[:12]


def _manifest_artifact(bundle: dict[str, Any]) -> Check:
    artifact = bundle["artifact"]
    named = bundle["manifest"].get("artifact")
    if not isinstance(named, dict) or "sha256" not in named:
        return _check("manifest artifact", False, "the manifest names no artifact (artifact.sha256)")
    if named["sha256"] != artifact["sha256"]:
        return _check("manifest artifact", False, "the manifest's artifact digest differs from the bundle's artifact")
    if "size" in named and named["size"] != artifact["size"]:
        return _check("manifest artifact", False, "the manifest's artifact size differs from the bundle's artifact")
    return _check("manifest artifact", True, f"the manifest covers artifact {_short(artifact['sha256'])}")


def _public_keys(bundle: dict[str, Any]) -> tuple[Check, dict[str, tuple[dict[str, Any], Any]]]:
    usable: dict[str, tuple[dict[str, Any], Any]] = {}
    problems: list[str] = []
    for entry in bundle["public_keys"]:
        try:
            key = load_public_key(entry["public_key"])
        except TrustError as error:
            problems.append(f"{_short(entry['fingerprint'])}: {error}")
            continue
        if fingerprint(key) != entry["fingerprint"]:
            problems.append(f"{_short(entry['fingerprint'])}: the key's fingerprint is {_short(fingerprint(key))}")
            continue
        usable[entry["fingerprint"]] = (entry, key)
    if problems:
        return _check("public keys", False, "; ".join(problems)), usable
    return _check("public keys", True, f"{len(usable)} Ed25519 keys, fingerprints recomputed"), usable


def _statement_problems(
    bundle: dict[str, Any], approval: dict[str, Any], envelope: Envelope, statement: ApprovalStatement
) -> list[str]:
    release, artifact = bundle["release"], bundle["artifact"]
    problems = []
    if statement.artifact_sha256 != artifact["sha256"]:
        problems.append("its subject digest is not the bundle's artifact")
    team, model = release["model"].split("/", 1)
    if statement.subject_name != subject_name(team, model, release["version"]):
        problems.append("its subject name is not the release's model version")
    if statement.release_id != str(release["id"]):
        problems.append("it is about another release")
    if statement.manifest_digest != bundle["manifest_digest"]:
        problems.append("it signed another manifest digest")
    if statement.signer_username != approval["signer"]:
        problems.append("its signer is not the approval's signer")
    if statement.board_role != approval["board_role"]:
        problems.append("its board role is not the approval's board role")
    if statement.signer_key != approval["key"] or statement.signer_key != envelope.keyid:
        problems.append("it names another key than the one that signed")
    return problems


def _approval_checks(
    bundle: dict[str, Any],
    number: int,
    approval: dict[str, Any],
    keys: dict[str, tuple[dict[str, Any], Any]],
    at: datetime.datetime,
) -> tuple[list[Check], ApprovalStatement | None]:
    label = f"approval {number} ({approval['signer']}, {approval['board_role']})"
    checks: list[Check] = []
    statement: ApprovalStatement | None = None
    key_entry = keys.get(approval["key"])
    # The signature: a strict envelope of our payload type, signed by the listed key of the listed signer.
    try:
        envelope = parse_envelope(approval["envelope"])
        if envelope.payload_type != APPROVAL_PAYLOAD_TYPE:
            raise TrustError(f"payload type is not {APPROVAL_PAYLOAD_TYPE}")
        if envelope.keyid != approval["key"]:
            raise TrustError("the envelope's keyid is not the approval's key")
        if key_entry is None:
            raise TrustError(f"key {_short(approval['key'])} is not among the bundle's usable public keys")
        if key_entry[0]["owner"] != approval["signer"]:
            raise TrustError(f"key {_short(approval['key'])} belongs to {key_entry[0]['owner']}, not the signer")
        payload = verify_envelope(envelope, key_entry[1])
        checks.append(_check(f"{label} signature", True, f"DSSE signature by {_short(approval['key'])} verifies"))
    except TrustError as error:
        checks.append(_check(f"{label} signature", False, str(error)))
        checks.append(_check(f"{label} statement", False, "not checked: the signature did not verify"))
        envelope, payload = None, None
    # The statement: what was signed binds this artifact, release, manifest, signer, role and key.
    if envelope is not None and payload is not None:
        try:
            parsed = parse_statement(payload)
        except TrustError as error:
            checks.append(_check(f"{label} statement", False, str(error)))
        else:
            problems = _statement_problems(bundle, approval, envelope, parsed)
            if problems:
                checks.append(_check(f"{label} statement", False, "; ".join(problems)))
            else:
                statement = parsed
                checks.append(
                    _check(
                        f"{label} statement",
                        True,
                        f"{parsed.decision} of release {parsed.release_id}, manifest {_short(parsed.manifest_digest)}",
                    )
                )
    # The key's status and the approval's age, at the moment of judgement.
    received = parse_time(approval["received_at"], "received_at")
    if key_entry is None:
        checks.append(_check(f"{label} key status", False, "the key is not in the bundle"))
    else:
        entry = key_entry[0]
        created = parse_time(entry["created_at"], "created_at")
        revoked = parse_time(entry["revoked_at"], "revoked_at") if entry["revoked_at"] is not None else None
        if created > received:
            checks.append(_check(f"{label} key status", False, "the key was registered after the approval"))
        elif revoked is not None and revoked <= at:
            reason = entry["revocation_reason"] or "no reason given"
            checks.append(
                _check(f"{label} key status", False, f"key revoked at {format_time(revoked)} ({reason[:200]})")
            )
        else:
            checks.append(_check(f"{label} key status", True, f"key not revoked at {format_time(at)}"))
    valid_days = bundle["policy"]["requirements"]["approval_valid_days"]
    age = at - received
    if age < datetime.timedelta(0):
        checks.append(
            _check(f"{label} validity", False, f"received at {format_time(received)}, after {format_time(at)}")
        )
    elif age > datetime.timedelta(days=valid_days):
        checks.append(
            _check(
                f"{label} validity",
                False,
                f"received at {format_time(received)}: expired after {valid_days} days, before {format_time(at)}",
            )
        )
    else:
        checks.append(
            _check(f"{label} validity", True, f"received {age.days} of {valid_days} days before {format_time(at)}")
        )
    counted = statement if all(check.passed for check in checks) else None
    return checks, counted


def _artifact_file(bundle: dict[str, Any], path: Path) -> Check:
    digest, size = hashlib.sha256(), 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except OSError as error:
        return _check("artifact file", False, f"cannot read {path}: {error.strerror or error}")
    artifact = bundle["artifact"]
    if digest.hexdigest() != artifact["sha256"] or size != artifact["size"]:
        return _check(
            "artifact file",
            False,
            f"{path.name} is {size} bytes with sha256 {digest.hexdigest()[:12]}..., "
            f"not the approved {artifact['size']} bytes with {artifact['sha256'][:12]}...",
        )
    return _check("artifact file", True, f"{path.name}: {size} bytes, sha256 re-hashed and equal")


def verify_bundle(
    bundle: Any, artifact_path: str | os.PathLike[str] | None = None, at: datetime.datetime | None = None
) -> list[Check]:
    """Check a release bundle offline and return every verdict, in order:

    ``bundle shape``; ``manifest digest`` (recomputed from the manifest's RFC 8785 bytes); ``manifest artifact``
    (the manifest covers the bundle's artifact); ``policy``; ``public keys`` (each parses as Ed25519 and has its
    listed fingerprint); per approval N: ``signature`` (strict DSSE, our payload type, the listed key of the
    listed signer), ``statement`` (strict, canonical, binding the artifact, model version, release, manifest
    digest, signer, role and key), ``key status`` (registered before the approval, not revoked at ``at``),
    ``validity`` (received no later than ``at`` and within the policy's ``approval_valid_days``); ``quorum``
    (``evaluate_quorum`` over the approvals that passed all their checks); and ``artifact file`` when
    ``artifact_path`` is given (re-hashed).

    ``at`` (an aware datetime) is the moment judged, by default the bundle's ``exported_at``. A bundle without the
    v1 shape yields the single failed check ``bundle shape``.
    """
    try:
        validate_bundle_shape(bundle)
    except BundleFormatError as error:
        return [_check("bundle shape", False, str(error))]
    if at is None:
        at = parse_time(bundle["exported_at"], "exported_at")
    elif at.tzinfo is None:
        raise TrustError("at: the time must carry its time zone")
    checks = [
        _check(
            "bundle shape",
            True,
            f"bundle v{BUNDLE_VERSION} of release {bundle['release']['id']} ({bundle['release']['model']} "
            f"v{bundle['release']['version']} to {bundle['release']['environment']}), judged at {format_time(at)}",
        )
    ]
    try:
        recomputed = canonical_digest(bundle["manifest"])
    except TrustError as error:
        checks.append(_check("manifest digest", False, str(error)))
    else:
        if recomputed == bundle["manifest_digest"]:
            checks.append(_check("manifest digest", True, f"{_short(recomputed)}... recomputed from the manifest"))
        else:
            checks.append(
                _check(
                    "manifest digest",
                    False,
                    f"the manifest hashes to {_short(recomputed)}..., not {_short(bundle['manifest_digest'])}...",
                )
            )
    checks.append(_manifest_artifact(bundle))
    policy, release = bundle["policy"], bundle["release"]
    requirements = policy["requirements"]
    if policy["environment"] != release["environment"]:
        checks.append(_check("policy", False, "the policy is for another environment than the release"))
    else:
        roles = ", ".join(f"{role} {count}" for role, count in sorted(requirements["roles"].items())) or "none"
        checks.append(
            _check(
                "policy",
                True,
                f"{policy['name']} v{policy['version']} ({policy['environment']}, {policy['risk_tier']}): roles "
                f"{roles}; at least {requirements['min_total']} approvers; valid "
                f"{requirements['approval_valid_days']} days",
            )
        )
    key_check, keys = _public_keys(bundle)
    checks.append(key_check)
    votes = []
    for number, approval in enumerate(bundle["approvals"], start=1):
        approval_checks, statement = _approval_checks(bundle, number, approval, keys, at)
        checks += approval_checks
        if statement is not None:
            votes.append((statement.signer_username, statement.board_role, statement.decision))
    quorum = evaluate_quorum(requirements, votes)
    checks.append(_check("quorum", quorum.met, f"{quorum.detail} (counting {len(votes)} valid approvals)"))
    if artifact_path is not None:
        checks.append(_artifact_file(bundle, Path(artifact_path)))
    return checks
