"""The inference service as the Procfile runs it (gunicorn's ASGI worker, serving.inference.asgi:app), started once
per test module on the test database; each test (transactional: the service is another process) deploys the world's
model through the gate and scopes a service token, and the service picks them up as it would in production."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from django.conf import settings
from onnx import TensorProto, helper, numpy_helper

from registry import actions as registry
from serving.actions import do_deploy, do_set_inference_scope
from serving.models import Deployment, PredictionLog
from tests.governance.factories import ReleaseWorld, make_environment
from tests.registry.factories import chunks_of
from tests.serving.factories import approve, request, service_token
from tests.workers.conftest import database_url

REPO = Path(__file__).resolve().parents[3]
GUNICORN = Path(sys.executable).parent / "gunicorn"
# The service's limits in these tests: small, so that the limits are reached with small requests.
MAX_BODY_BYTES = 4096
MAX_ROWS = 5


FEATURES = ("age", "income", "debt")


def write_scorer(path: Path, tag: int = 1) -> Path:
    """A small classifier as converters export them: one float matrix input ``X`` [N, 3] whose columns the
    ``features`` metadata names (age, income, debt), outputs ``probabilities`` [N, 2] (softmax of X·W + b) and
    ``label`` [N]. ``tag`` changes the weights: versions of different tags answer differently."""
    weights = numpy_helper.from_array(np.array([[0.0, 0.01], [0.0, -0.001], [0.0, 0.002 * tag]], np.float32), "W")
    bias = numpy_helper.from_array(np.array([0.0, -0.1 * tag], np.float32), "b")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "W"], ["z0"]),
            helper.make_node("Add", ["z0", "b"], ["z"]),
            helper.make_node("Softmax", ["z"], ["probabilities"], axis=1),
            helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
        ],
        "scorer",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
        ],
        initializer=[weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], model_version=tag)
    entry = model.metadata_props.add()
    entry.key, entry.value = "features", ",".join(FEATURES)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def onnx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The world's model version is the scorer (overrides governance's y = x + w)."""
    return write_scorer(tmp_path_factory.mktemp("scorer") / "scorer-1.onnx", 1)


def release_of_new_version(rw: ReleaseWorld, folder: Path, tag: int, dataset_versions: list[int] | None = None) -> Any:
    """Another version of the world's model (the scorer with weights ``tag``, trained on the world's dataset version
    unless ``dataset_versions`` says otherwise), requested and approved."""
    path = write_scorer(folder / f"scorer-{tag}.onnx", tag)
    version = registry.do_register_model_version(
        rw.version.model,
        actor=rw.cast.engineer_a,
        chunks=chunks_of(path),
        filename=path.name,
        dataset_versions=dataset_versions or list(rw.version.dataset_versions.values_list("pk", flat=True)),
    )
    release = request(rw, version)
    approve(rw, release)
    return release


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class Service:
    """A running inference service and what it serves: ``rw``'s model (``Limit scorer``, y = x + 1 on three
    floats) deployed to production; ``token`` may score there, ``staging_token`` only in staging."""

    base: str
    process: subprocess.Popen[bytes]
    log_path: Path
    data_dir: Path
    rw: ReleaseWorld
    deployment: Deployment
    token: str
    staging_token: str
    folder: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        if token is None:
            token = self.token
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return Reply(response.status, _decode(response.read()), dict(response.headers))
        except urllib.error.HTTPError as error:
            return Reply(error.code, _decode(error.read()), dict(error.headers))

    def predict(self, rows: list[dict[str, Any]], *, token: str | None = None, **extra: Any) -> Reply:
        return self.call("POST", "/production/models/Limit%20scorer/predict", {"rows": rows, **extra}, token=token)

    def infer(self, body: Any, *, path: str = "/production/v2/models/Limit%20scorer/infer", **options: Any) -> Reply:
        return self.call("POST", path, body, **options)

    def serving_version(self, path: str = "/production/v2/models/Limit%20scorer") -> int | None:
        """The version number the service's primary serves now, None when nothing is."""
        reply = self.call("GET", path)
        return int(reply.body["parameters"]["version"]) if reply.status == 200 else None

    def log_tail(self) -> str:
        return self.log_path.read_text()[-4000:]


def _decode(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data.decode(errors="replace")


def wait_for(condition: Callable[[], Any], what: str, seconds: float = 30.0) -> Any:
    """Poll ``condition`` until it is truthy (not a timing assertion: a bound so that a broken service fails)."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"Gave up waiting for {what}.")
        time.sleep(0.05)


def start_service(tmp: Path, artifact_root: Path, **overrides: str) -> tuple[str, subprocess.Popen[bytes], Path]:
    port = free_port()
    log_path = tmp / f"inference-{port}.log"
    environment = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    environment.update(
        {
            "DATABASE_URL": database_url(),
            "ASSAY_DATA_DIR": str(tmp / "data"),
            "ARTIFACT_ROOT": str(artifact_root),
            "SECRET_KEY": settings.SECRET_KEY,
            "AUDIT_SIGNING_KEY": settings.AUDIT_SIGNING_KEY,
            "PYTHONUNBUFFERED": "1",
            "INFERENCE_REFRESH_SECONDS": "0.2",
            "INFERENCE_TOKEN_CACHE_SECONDS": "0.5",
            "INFERENCE_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
            "INFERENCE_MAX_ROWS": str(MAX_ROWS),
            "PREDICTION_LOG_FLUSH_SECONDS": "0.05",
        }
    )
    environment.update(overrides)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(GUNICORN),
                "serving.inference.asgi:app",
                "--config",
                "serving/inference/gunicorn_conf.py",
                "--bind",
                f"127.0.0.1:{port}",
            ],
            cwd=REPO,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"The inference service exited:\n{log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(base + "/v2/health/ready", timeout=5):  # noqa: S310
                return True
        except (OSError, urllib.error.HTTPError):
            return False

    wait_for(ready, "the inference service to be ready", 60)
    return base, process, log_path


def stop_service(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def service_process(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path, Path]]:
    """One service process per test module, on the test database; each test's world is its own (committed by the
    test, flushed after it): the service picks up its routes as it would a new deployment."""
    tmp = tmp_path_factory.mktemp("inference")
    artifact_root = tmp / "artifacts"
    base, process, log_path = start_service(tmp, artifact_root)
    try:
        yield base, process, log_path, tmp
    finally:
        stop_service(process)


@pytest.fixture
def artifact_root(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> Path:
    """The store the service process reads when the test uses the service (overrides governance's per-test store,
    which the in-process tests keep)."""
    if "service" in request.fixturenames:
        settings.ARTIFACT_ROOT = request.getfixturevalue("service_process")[3] / "artifacts"
    else:
        settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    return Path(settings.ARTIFACT_ROOT)


@pytest.fixture
def service(
    transactional_db: None, service_process: tuple[str, Any, Path, Path], rw: ReleaseWorld, artifact_root: Path
) -> Service:
    """``rw``'s release approved and deployed to production, a token scoped to production and one to staging, and
    the service answering for the model."""
    base, process, log_path, tmp = service_process
    cast = rw.cast
    approve(rw)
    deployment = do_deploy(rw.release, actor=cast.engineer_a)
    staging = make_environment(cast.superuser, "staging", rank=5)
    token_row, token = service_token(cast)
    # A rate no test reaches but the rate-limit test's own token.
    do_set_inference_scope(
        token_row, actor=cast.admin_a, environments=[rw.environment], models=[], requests_per_second=10000, burst=10000
    )
    staging_row, staging_token = service_token(cast, username="svc-staging")
    do_set_inference_scope(staging_row, actor=cast.admin_a, environments=[staging], models=[])
    served = Service(base, process, log_path, tmp / "data", rw, deployment, token, staging_token, folder=tmp)
    wait_for(lambda: served.serving_version() == rw.version.number, "the deployment to be served")
    return served


def deploy_version(rw: ReleaseWorld, folder: Path, tag: int, role: str = "primary", traffic: int | None = None) -> Any:
    """A new version of the world's model (weights ``tag``), approved and deployed in ``role`` through the gate."""
    release = release_of_new_version(rw, folder, tag)
    return do_deploy(release, actor=rw.cast.engineer_a, role=role, traffic_percent=traffic)


def logs_of(request_id: str) -> list[Any]:
    return list(PredictionLog.objects.filter(request_id=request_id).select_related("model_version").order_by("id"))
