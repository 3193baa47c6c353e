"""Helpers of the gate's and serving's tests, on top of governance's (tests/governance/factories.py): signatures
submitted through the real action with real Ed25519 keys in DSSE envelopes, more versions and releases of the same
model, and the tamperer's tools (an artifact overwritten in the store).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import onnx
from django.utils import timezone
from onnx import TensorProto, helper

from core import actions as core_actions
from core.canonical import canonical_digest
from core.choices import BoardRole
from governance import actions as governance
from governance.models import Approval, Release
from registry import actions as registry
from registry.artifacts import ArtifactStore
from registry.models import ModelVersion
from serving.actions import do_deploy
from serving.models import PredictionLog
from tests.governance.factories import ReleaseWorld, sign
from tests.registry.factories import chunks_of


def write_onnx(path: Path, tag: int) -> Path:
    """A small valid ONNX model (y = x + w) whose bytes differ with ``tag``: one distinct artifact per tag."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "add",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("w", TensorProto.FLOAT, ["batch", 3]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="assay-tests", model_version=tag
    )
    onnx.save_model(model, path)
    return path


def submit(rw: ReleaseWorld, user: Any, role: str, *, release: Release | None = None, **overrides: Any) -> Approval:
    """``user`` signs ``release`` (default: the world's) in ``role`` over its current manifest, with their client
    key, and submits the envelope as the CLI would."""
    release = release or rw.release
    private, _ = rw.key_of(user)
    envelope = sign(release, user, private, board_role=role, **overrides)
    approval: Approval = governance.do_submit_approval(release, actor=user, envelope=envelope)
    return approval


def approve(rw: ReleaseWorld, release: Release | None = None) -> list[Approval]:
    """The signatures the default policy asks for: the legal and the technical reviewer approve."""
    reviewers = rw.cast.reviewers
    return [
        submit(rw, reviewers[BoardRole.LEGAL], BoardRole.LEGAL, release=release),
        submit(rw, reviewers[BoardRole.TECHNICAL], BoardRole.TECHNICAL, release=release),
    ]


def new_version(rw: ReleaseWorld, folder: Path, tag: int) -> ModelVersion:
    """Another version of the world's model, on the same dataset version, with its own artifact."""
    path = write_onnx(folder / f"model-{tag}.onnx", tag)
    version: ModelVersion = registry.do_register_model_version(
        rw.version.model,
        actor=rw.cast.engineer_a,
        chunks=chunks_of(path),
        filename=path.name,
        dataset_versions=list(rw.version.dataset_versions.values_list("pk", flat=True)),
    )
    return version


def request(rw: ReleaseWorld, version: ModelVersion) -> Release:
    release: Release = governance.do_request_release(
        version, actor=rw.cast.engineer_a, environment=rw.environment, justification="Next one."
    )
    return release


def overwrite_artifact(version: ModelVersion, data: bytes | None = None) -> Path:
    """Replace the stored bytes of ``version``'s artifact behind the store's back, as an intruder on the disk
    would: same path, same size unless ``data`` says otherwise."""
    path = ArtifactStore.default().path_for(version.artifact_sha256)
    original = path.read_bytes()
    replacement = data if data is not None else bytes(b ^ 0xFF for b in original[:16]) + original[16:]
    os.chmod(path, 0o644)
    path.write_bytes(replacement)
    os.chmod(path, 0o444)
    return path


def deploy(rw: ReleaseWorld) -> Any:
    """The world's release approved and deployed (the primary of its model in the world's environment)."""
    approve(rw)
    return do_deploy(rw.release, actor=rw.cast.engineer_a)


def make_prediction(deployment: Any, **fields: Any) -> Any:
    """A prediction log row of ``deployment``, written directly as the inference service's logbook would (the
    inputs' digest is computed from ``inputs``); ``fields`` override any column."""
    inputs = fields.pop("inputs", [{"x": [1.0, 2.0, 3.0], "w": [0.5, 0.5, 0.5]}])
    values: dict[str, Any] = {
        "request_id": uuid.uuid4(),
        "logged_at": timezone.now(),
        "environment_id": deployment.environment_id,
        "model_id": deployment.model_id,
        "deployment": deployment,
        "model_version_id": deployment.model_version_id,
        "role": deployment.role,
        "returned": deployment.role != "shadow",
        "caller": "svc-scoring",
        "rows": len(inputs) if isinstance(inputs, list) else 1,
        "inputs": inputs,
        "inputs_sha256": canonical_digest(inputs),
        "outputs": [{"y": [1.5, 2.5, 3.5]}],
        "scores": [],
        "latency_us": 850,
        "quality": {},
    }
    values.update(fields)
    return PredictionLog.objects.create(**values)


def service_token(cast: Any, *, username: str = "svc-scoring", team: Any = None) -> tuple[Any, str]:
    """A service account of team A (or ``team``) and a token of it: the row and the plaintext the client holds."""
    team = team or cast.team_a
    account = core_actions.do_create_service_account(team, actor=cast.superuser, username=username)
    token, plaintext = core_actions.do_create_token(actor=cast.superuser, name="scoring", owner=account.user)
    return token, plaintext
