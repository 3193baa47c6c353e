"""The approval statement: an in-toto Statement v1 (https://github.com/in-toto/attestation, ``spec/v1``) whose
subject is the model artifact and whose predicate is a reviewer's decision on one release.

::

    {
      "_type": "https://in-toto.io/Statement/v1",
      "subject": [{"name": "credit-risk/Churn scorer@v3", "digest": {"sha256": "<artifact sha256>"}}],
      "predicateType": "https://assay.dev/attestations/release-approval/v1",
      "predicate": {
        "release": "42",
        "manifest_digest": "<sha256 hex of the manifest's canonical JSON>",
        "decision": "approve",
        "board_role": "legal",
        "comment": "Checked the DPIA.",
        "signer": {"username": "lena-legal", "key": "sha256:<fingerprint>"},
        "signed_at": "2026-01-05T10:00:00Z"
      }
    }

The payload is the statement's RFC 8785 canonical JSON, and nothing else: ``parse_statement`` refuses a payload
that is valid JSON but not byte-for-byte canonical, so that one decision has exactly one encoding. ``signed_at`` is
optional, the client's claim, kept but never trusted: the server's receipt time decides validity.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass
from typing import Any

from assay_trust.canonical import canonical_bytes
from assay_trust.errors import StatementError, TrustError
from assay_trust.keys import is_fingerprint

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://assay.dev/attestations/release-approval/v1"
BOARD_ROLES = ("legal", "compliance", "risk", "privacy", "technical")
DECISIONS = ("approve", "reject")
MAX_COMMENT_CHARS = 2000
MAX_USERNAME_CHARS = 150
MAX_SUBJECT_NAME_CHARS = 512
MAX_RELEASE_ID_CHARS = 64
MAX_STATEMENT_BYTES = 16 * 1024

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_RELEASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_SUBJECT_NAME = re.compile(r"[^/\s]+/.+@v[1-9][0-9]*", re.DOTALL)
_SIGNED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
_STATEMENT_KEYS = {"_type", "subject", "predicateType", "predicate"}
_PREDICATE_KEYS = {"release", "manifest_digest", "decision", "board_role", "comment", "signer"}
_OPTIONAL_PREDICATE_KEYS = {"signed_at"}


@dataclass(frozen=True)
class ApprovalStatement:
    """A parsed approval: what a reviewer decided about one release, and with which key they say they signed."""

    subject_name: str  # "<team>/<model name>@v<number>"
    artifact_sha256: str
    release_id: str
    manifest_digest: str
    decision: str  # "approve" or "reject"
    board_role: str  # one of BOARD_ROLES
    comment: str
    signer_username: str
    signer_key: str  # the key's fingerprint
    signed_at: str | None = None  # the client's claim, never trusted

    def to_dict(self) -> dict[str, Any]:
        predicate: dict[str, Any] = {
            "release": self.release_id,
            "manifest_digest": self.manifest_digest,
            "decision": self.decision,
            "board_role": self.board_role,
            "comment": self.comment,
            "signer": {"username": self.signer_username, "key": self.signer_key},
        }
        if self.signed_at is not None:
            predicate["signed_at"] = self.signed_at
        return {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": self.subject_name, "digest": {"sha256": self.artifact_sha256}}],
            "predicateType": PREDICATE_TYPE,
            "predicate": predicate,
        }


def subject_name(team: str, model: str, version: int) -> str:
    """The statement subject's name for a model version: ``<team slug>/<model name>@v<number>``."""
    return f"{team}/{model}@v{version}"


def format_time(moment: datetime.datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` (microseconds only when there are some): how times are written in statements
    and bundles."""
    if moment.tzinfo is None:
        raise TrustError("a time must carry its time zone")
    text = moment.astimezone(datetime.UTC).replace(tzinfo=None).isoformat()
    return text + "Z"


def _text(value: object, field: str, *, max_chars: int, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise StatementError(f"{field}: expected a string", path=field)
    if not value and not allow_empty:
        raise StatementError(f"{field}: must not be empty", path=field)
    if len(value) > max_chars:
        raise StatementError(f"{field}: longer than {max_chars} characters", path=field)
    return value


def _validated(statement: ApprovalStatement) -> ApprovalStatement:
    """Check every field's type and form; the same rules for building and for parsing."""
    name = _text(statement.subject_name, "subject[0].name", max_chars=MAX_SUBJECT_NAME_CHARS)
    if not _SUBJECT_NAME.fullmatch(name):
        raise StatementError("subject[0].name: expected <team>/<model name>@v<number>")
    if not isinstance(statement.artifact_sha256, str) or not _SHA256_HEX.fullmatch(statement.artifact_sha256):
        raise StatementError("subject[0].digest.sha256: expected 64 lower-case hex digits")
    release = _text(statement.release_id, "predicate.release", max_chars=MAX_RELEASE_ID_CHARS)
    if not _RELEASE_ID.fullmatch(release):
        raise StatementError("predicate.release: expected a release id (letters, digits, - and _)")
    if not isinstance(statement.manifest_digest, str) or not _SHA256_HEX.fullmatch(statement.manifest_digest):
        raise StatementError("predicate.manifest_digest: expected 64 lower-case hex digits")
    if statement.decision not in DECISIONS:
        raise StatementError("predicate.decision: expected approve or reject", path="predicate.decision")
    if statement.board_role not in BOARD_ROLES:
        raise StatementError(
            f"predicate.board_role: expected one of {', '.join(BOARD_ROLES)}", path="predicate.board_role"
        )
    _text(statement.comment, "predicate.comment", max_chars=MAX_COMMENT_CHARS, allow_empty=True)
    username = _text(statement.signer_username, "predicate.signer.username", max_chars=MAX_USERNAME_CHARS)
    if username != username.strip():
        raise StatementError("predicate.signer.username: no leading or trailing spaces")
    if not is_fingerprint(statement.signer_key):
        raise StatementError("predicate.signer.key: expected a key fingerprint, sha256:<64 lower-case hex>")
    if statement.signed_at is not None:
        if not isinstance(statement.signed_at, str) or not _SIGNED_AT.fullmatch(statement.signed_at):
            raise StatementError("predicate.signed_at: expected an RFC 3339 UTC time, e.g. 2026-01-05T10:00:00Z")
        try:
            datetime.datetime.fromisoformat(statement.signed_at)
        except ValueError:
            raise StatementError("predicate.signed_at: not a real date and time") from None
    return statement


def build_statement(
    *,
    subject_name: str,
    artifact_sha256: str,
    release_id: str | int,
    manifest_digest: str,
    decision: str,
    board_role: str,
    comment: str,
    signer_username: str,
    signer_key: str,
    signed_at: datetime.datetime | str | None = None,
) -> dict[str, Any]:
    """The approval statement as a JSON value, every field checked (``StatementError`` naming the field)."""
    if isinstance(signed_at, datetime.datetime):
        signed_at = format_time(signed_at)
    statement = ApprovalStatement(
        subject_name=subject_name,
        artifact_sha256=artifact_sha256,
        release_id=str(release_id),
        manifest_digest=manifest_digest,
        decision=decision,
        board_role=board_role,
        comment=comment,
        signer_username=signer_username,
        signer_key=signer_key,
        signed_at=signed_at,
    )
    return _validated(statement).to_dict()


def statement_bytes(statement: dict[str, Any] | ApprovalStatement) -> bytes:
    """The payload to sign: the statement's RFC 8785 canonical JSON."""
    value = statement.to_dict() if isinstance(statement, ApprovalStatement) else statement
    return canonical_bytes(value)


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise StatementError(f"duplicate key {key[:40]!r} in the statement")
        result[key] = value
    return result


def _exact(value: object, field: str, required: set[str], optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StatementError(f"{field}: expected an object")
    keys = set(value)
    missing = required - keys
    extra = keys - required - optional
    if missing:
        raise StatementError(f"{field}: missing {', '.join(sorted(missing))}")
    if extra:
        raise StatementError(f"{field}: unexpected {', '.join(sorted(key[:40] for key in extra))}")
    return value


def parse_statement(payload: bytes) -> ApprovalStatement:
    """The approval statement in a verified payload, checked strictly: exact keys and types, our statement and
    predicate types, one subject with only a sha256 digest, and canonical bytes. Raises ``StatementError``."""
    if not isinstance(payload, bytes):
        raise StatementError("payload: expected bytes")
    if len(payload) > MAX_STATEMENT_BYTES:
        raise StatementError(f"payload: larger than {MAX_STATEMENT_BYTES} bytes")
    try:
        text = payload.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise StatementError("payload: not UTF-8") from None
    except RecursionError:
        # 16 KiB of brackets nest 8,000 deep: the parser's recursion gives out first (a 500 at the API, before).
        raise StatementError("payload: nested too deeply") from None
    except StatementError:
        raise
    except ValueError:
        raise StatementError("payload: not JSON") from None
    statement = _exact(value, "statement", _STATEMENT_KEYS)
    if statement["_type"] != STATEMENT_TYPE:
        raise StatementError(f"_type: expected {STATEMENT_TYPE}")
    if statement["predicateType"] != PREDICATE_TYPE:
        raise StatementError(f"predicateType: expected {PREDICATE_TYPE}")
    subjects = statement["subject"]
    if not isinstance(subjects, list) or len(subjects) != 1:
        raise StatementError("subject: expected exactly one subject (the model artifact)")
    subject = _exact(subjects[0], "subject[0]", {"name", "digest"})
    digest = _exact(subject["digest"], "subject[0].digest", {"sha256"})
    predicate = _exact(statement["predicate"], "predicate", _PREDICATE_KEYS, frozenset(_OPTIONAL_PREDICATE_KEYS))
    signer = _exact(predicate["signer"], "predicate.signer", {"username", "key"})
    parsed = _validated(
        ApprovalStatement(
            subject_name=subject["name"],
            artifact_sha256=digest["sha256"],
            release_id=predicate["release"],
            manifest_digest=predicate["manifest_digest"],
            decision=predicate["decision"],
            board_role=predicate["board_role"],
            comment=predicate["comment"],
            signer_username=signer["username"],
            signer_key=signer["key"],
            signed_at=predicate.get("signed_at"),
        )
    )
    if statement_bytes(parsed) != payload:
        raise StatementError("payload is not canonical (RFC 8785): sign statement_bytes(statement), nothing else")
    return parsed


def _refuse_constant(name: str) -> Any:
    raise StatementError(f"payload: {name} is not JSON")
