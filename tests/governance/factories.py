"""Governance objects for tests: an environment, a board with seated reviewers, a policy, a model version ready for
release (with a use case, a flagged dataset version and a tiny real ONNX artifact), keys, and signed envelopes.

Other helpers may add functions at the end of this file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from assay_trust import dsse, statement
from assay_trust import keys as trust_keys
from governance import actions
from governance.manifest import build_manifest, manifest_digest, subject_name
from tests.registry.factories import (
    chunks_of,
    make_dataset,
    make_dataset_version,
    make_model,
    make_use_case,
)

OPSET = 17


def write_onnx(path: Path) -> Path:
    """A tiny valid ONNX model (y = x + w), enough for the registry's validation and the artifact store."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.ones(3, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "add",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializer=[weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.save(model, str(path))
    return path


def make_environment(actor: Any, slug: str = "production", rank: int = 10) -> Any:
    return actions.do_create_environment(actor=actor, slug=slug, name=slug.title(), rank=rank)


def make_board(actor: Any, team: Any, members: dict[str, Any], slug: str = "release-board") -> Any:
    """A board of ``team`` (None: the organisation's) with ``members`` seated as {board_role: user}."""
    board = actions.do_create_board(actor=actor, team=team, slug=slug, name=slug.replace("-", " ").title())
    for role, user in members.items():
        actions.do_add_board_member(board, actor=actor, user=user, board_role=role)
    return board


def make_policy(actor: Any, team: Any, environment: Any, board: Any, **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "name": "High-risk production",
        "risk_tier": "high",
        "required_roles": {"legal": 1, "technical": 1},
        "min_total": 2,
        "approval_valid_days": 30,
        "required_checks": (),
    }
    fields.update(overrides)
    return actions.do_create_policy(actor=actor, team=team, environment=environment, board=board, **fields)


def make_ready_version(cast: Any, onnx_path: Path, *, risk_tier: str = "high") -> Any:
    """A model version of team A (by engineer_a) trained on a flagged dataset version, its model serving a use case
    of ``risk_tier``."""
    engineer = cast.engineer_a
    use_case = make_use_case(cast.team_a, engineer, name="Credit limit", risk_tier=risk_tier)
    dataset = make_dataset(cast.team_a, engineer, name="Loan applications")
    dataset_version = make_dataset_version(dataset, engineer)
    model = make_model(cast.team_a, engineer, name="Limit scorer", use_case=use_case)
    from registry import actions as registry_actions

    return registry_actions.do_register_model_version(
        model,
        actor=engineer,
        chunks=chunks_of(onnx_path),
        filename=onnx_path.name,
        metrics={"auc": 0.91},
        training_params={"C": 1.0},
        dataset_versions=[dataset_version.pk],
    )


@dataclass
class ReleaseWorld:
    """A release of team A's model version to production, judged by a team board that seats every reviewer of the
    cast in their role; the policy needs legal and technical, two people in all."""

    cast: Any
    environment: Any
    board: Any
    policy: Any
    version: Any
    release: Any
    keys: dict[str, tuple[Ed25519PrivateKey, Any]] = field(default_factory=dict)

    def key_of(self, user: Any) -> tuple[Ed25519PrivateKey, Any]:
        """The user's registered client key (made on first use)."""
        name = user.get_username()
        if name not in self.keys:
            self.keys[name] = make_client_key(user)
        return self.keys[name]


def make_release_world(cast: Any, onnx_path: Path) -> ReleaseWorld:
    environment = make_environment(cast.superuser)
    board = make_board(cast.compliance, cast.team_a, dict(cast.reviewers))
    policy = make_policy(cast.compliance, cast.team_a, environment, board)
    version = make_ready_version(cast, onnx_path)
    release = actions.do_request_release(version, actor=cast.engineer_a, environment=environment, justification="Q3")
    return ReleaseWorld(cast, environment, board, policy, version, release)


def make_client_key(user: Any, name: str = "laptop") -> tuple[Ed25519PrivateKey, Any]:
    """A key pair generated "on the reviewer's machine", its public half registered."""
    private = trust_keys.generate_private_key()
    key = actions.do_register_signing_key(
        actor=user, public_key=trust_keys.public_key_pem(private.public_key()), name=name
    )
    return private, key


def approval_statement(release: Any, user: Any, key_fingerprint: str, **overrides: Any) -> dict[str, Any]:
    """The statement ``user`` signs about ``release`` over its current manifest (read from the database, as a
    reviewer fetching it would); ``overrides`` replace fields."""
    from governance.models import Release

    release = Release.objects.get(pk=release.pk)
    fields: dict[str, Any] = {
        "subject_name": subject_name(release),
        "artifact_sha256": release.model_version.artifact_sha256,
        "release_id": str(release.uid),
        "manifest_digest": manifest_digest(build_manifest(release)),
        "decision": "approve",
        "board_role": "legal",
        "comment": "",
        "signer_username": user.get_username(),
        "signer_key": key_fingerprint,
    }
    fields.update(overrides)
    return statement.build_statement(**fields)


def sign(
    release: Any,
    user: Any,
    private: Ed25519PrivateKey,
    *,
    payload_type: str = dsse.APPROVAL_PAYLOAD_TYPE,
    **overrides: Any,
) -> dict[str, Any]:
    """A DSSE envelope of ``user``'s approval statement, signed with ``private`` (the CLI's way)."""
    body = approval_statement(release, user, trust_keys.fingerprint(private), **overrides)
    return dsse.sign_envelope(private, payload_type, statement.statement_bytes(body))


def set_reasons(model: Any, actor: Any, text: str, direction: str = "raises", **fields: Any) -> Any:
    """``actor`` sets ``model``'s reason catalogue to one sentence about its first feature; when no version of the
    model names its features (the world's ONNX input ``x`` does not), a version of the audits' credit scorer, which
    reads ``income`` and ``debt``, is registered first. Returns ``(catalogue, created)``."""
    from django.conf import settings

    from audits.actions import do_set_reason_catalogue
    from audits.reasons import model_features
    from tests.audits.onnx_models import write_scorer
    from tests.registry.factories import make_model_version

    if not model_features(model):
        folder = Path(settings.ARTIFACT_ROOT).parent / "scorers"
        folder.mkdir(parents=True, exist_ok=True)
        make_model_version(model, model.owner, write_scorer(folder / "scorer.onnx"))
    entry = {"feature": model_features(model)[0], "direction": direction, "text": text}
    defaults: dict[str, Any] = {"threshold": 0.5, "positive_decision": "Declined", "negative_decision": "Approved"}
    return do_set_reason_catalogue(model, actor=actor, entries=[entry], **{**defaults, **fields})
