"""A valid, signed release bundle built from scratch (no server), and the keys that signed it: the starting point
of every bundle test, which then breaks one thing at a time. Shared by tests/trust and tests/cli."""

from __future__ import annotations

import copy
import datetime
import hashlib
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from assay_trust.bundle import build_bundle
from assay_trust.canonical import canonical_digest
from assay_trust.dsse import APPROVAL_PAYLOAD_TYPE, sign_envelope
from assay_trust.keys import fingerprint, public_key_pem
from assay_trust.statement import build_statement, statement_bytes

ARTIFACT = b"\x08\x07onnx model bytes" * 100
ARTIFACT_SHA256 = hashlib.sha256(ARTIFACT).hexdigest()
RELEASE_ID = "5b0c3c4e-2f43-4c39-9d59-51f0b3d0a7a1"
REQUESTED = datetime.datetime(2026, 3, 1, 9, 0, tzinfo=datetime.UTC)
EXPORTED = datetime.datetime(2026, 3, 3, 12, 0, tzinfo=datetime.UTC)


def manifest() -> dict[str, Any]:
    return {
        "artifact": {"sha256": ARTIFACT_SHA256, "size": len(ARTIFACT)},
        "model": {"team": "credit-risk", "name": "Churn scorer", "version": 3},
        "datasets": [{"id": 7, "version": 2, "fingerprint": "ab" * 32}],
        "nonce": "c0ffee" * 4,
        "requested_at": "2026-03-01T09:00:00Z",
    }


@dataclass
class Reviewer:
    username: str
    role: str
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    key_created: datetime.datetime = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)

    def public_entry(self, revoked_at: datetime.datetime | None = None, reason: str | None = None) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "owner": self.username,
            "public_key": public_key_pem(self.key.public_key()),
            "created_at": self.key_created,
            "revoked_at": revoked_at,
            "revocation_reason": reason,
        }


def statement_for(reviewer: Reviewer, decision: str = "approve", **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "subject_name": "credit-risk/Churn scorer@v3",
        "artifact_sha256": ARTIFACT_SHA256,
        "release_id": RELEASE_ID,
        "manifest_digest": canonical_digest(manifest()),
        "decision": decision,
        "board_role": reviewer.role,
        "comment": f"{reviewer.role} review done",
        "signer_username": reviewer.username,
        "signer_key": reviewer.fingerprint,
        "signed_at": "2026-03-02T10:00:00Z",
    }
    fields.update(overrides)
    return build_statement(**fields)


def approval_for(
    reviewer: Reviewer,
    decision: str = "approve",
    received_at: datetime.datetime = datetime.datetime(2026, 3, 2, 10, 0, 5, tzinfo=datetime.UTC),
    **overrides: Any,
) -> dict[str, Any]:
    payload = statement_bytes(statement_for(reviewer, decision, **overrides))
    return {
        "envelope": sign_envelope(reviewer.key, APPROVAL_PAYLOAD_TYPE, payload),
        "received_at": received_at,
        "signer": reviewer.username,
        "board_role": reviewer.role,
        "key": reviewer.fingerprint,
    }


@dataclass
class SignedRelease:
    legal: Reviewer = field(default_factory=lambda: Reviewer("lena-legal", "legal"))
    technical: Reviewer = field(default_factory=lambda: Reviewer("theo-technical", "technical"))

    def bundle(self, **changes: Any) -> dict[str, Any]:
        parts: dict[str, Any] = {
            "exported_at": EXPORTED,
            "release": {
                "id": RELEASE_ID,
                "environment": "production",
                "model": "credit-risk/Churn scorer",
                "version": 3,
                "requested_by": "erin-engineer",
            },
            "manifest": manifest(),
            "artifact": {"sha256": ARTIFACT_SHA256, "size": len(ARTIFACT)},
            "policy": {
                "name": "Production, high risk",
                "version": 2,
                "environment": "production",
                "risk_tier": "high",
                "requirements": {
                    "roles": {"legal": 1, "technical": 1},
                    "min_total": 2,
                    "approval_valid_days": 30,
                    "checks": ["quorum", "manifest"],
                },
            },
            "approvals": [approval_for(self.legal), approval_for(self.technical)],
            "public_keys": [self.legal.public_entry(), self.technical.public_entry()],
            "deployment": None,
        }
        parts.update(changes)
        return copy.deepcopy(build_bundle(**parts))
