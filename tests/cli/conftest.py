"""The CLI is tried as a CI job would run it: a separate process, talking HTTP to a real server (pytest-django's
``live_server``, a thread serving the test database), with a token made the way the UI makes one."""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.cache import cache
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression

from core import actions

ROOT = Path(__file__).resolve().parents[2]

SCHEMA: dict[str, Any] = {
    "columns": [
        {"name": "customer_id", "type": "int64", "nullable": False},
        {"name": "age", "type": "int32", "nullable": True, "personal_data": True, "protected_attribute": True},
        {"name": "churned", "type": "boolean", "nullable": False},
    ]
}


OWN_TOKEN = "the fixture's token"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Cli:
    url: str
    folder: Path
    token: str | None = None
    secrets: list[str] = field(default_factory=list)
    # The registration commands run on the standard library alone; the signing ones need cryptography.
    stdlib_only: bool = True

    def __call__(self, *args: str, token: str | None = OWN_TOKEN, url: str | None = None, env: Any = None) -> Result:
        code, out, err = self.run(*args, token=token, url=url, env=env)
        return Result(code, out.decode(), err)

    def run(
        self, *args: str, token: str | None = OWN_TOKEN, url: str | None = None, env: Any = None
    ) -> tuple[int, bytes, str]:
        """The exit code, standard output as bytes (a model written to ``-`` is binary) and standard error."""
        environment = {key: value for key, value in os.environ.items() if not key.startswith("ASSAY_")}
        # -S: no site-packages, so neither Django nor anything else installed is importable; the registration commands
        # must run on the standard library alone, as on a CI machine that installed only this package.
        environment["PYTHONPATH"] = str(ROOT)
        environment["ASSAY_URL"] = url or self.url
        chosen = self.token if token == OWN_TOKEN else token
        if chosen is not None:
            environment["ASSAY_TOKEN"] = chosen
        environment.update(env or {})
        completed = subprocess.run(
            [sys.executable, *(["-S"] if self.stdlib_only else []), "-m", "assay_cli", *args],
            capture_output=True,
            cwd=self.folder,
            env=environment,
            timeout=180,
            check=False,
        )
        err = completed.stderr.decode()
        for secret in [*self.secrets, *([chosen] if chosen else [])]:
            assert secret.encode() not in completed.stdout
            assert secret not in err
        return completed.returncode, completed.stdout, err

    def write(self, name: str, data: Any) -> Path:
        path = self.folder / name
        path.write_bytes(data) if isinstance(data, bytes) else path.write_text(json.dumps(data))
        return path


def token_for(user: Any) -> str:
    _, token = actions.do_create_token(actor=user, name="ci")
    return token


@pytest.fixture(autouse=True)
def _fresh_throttles() -> Any:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def cli(live_server: Any, cast: Any, settings: Any, tmp_path: Path) -> Cli:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    folder = tmp_path / "work"
    folder.mkdir()
    token = token_for(cast.engineer_a)
    return Cli(url=live_server.url, folder=folder, token=token, secrets=[token])


@pytest.fixture(scope="session")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(7)
    features = rng.normal(size=(200, 4)).astype(np.float32)
    labels = (features[:, 0] + features[:, 1] > 0).astype(np.int64)
    model = to_onnx(LogisticRegression().fit(features, labels), features[:1], options={"zipmap": False})
    path = tmp_path_factory.mktemp("cli-models") / "churn.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture(scope="session")
def pickle_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-hostile") / "model.onnx"
    path.write_bytes(pickle.dumps({"coef": [1.0, 2.0]}))  # written, never loaded
    return path


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
