"""Registry benchmark: Assay against an MLflow tracking server, same workload, same client, same run (issue #3).

    python -m bench.registry_vs_mlflow [--quick] [--sizes 2000,20000] [--only all|assay|mlflow]
                                       [--backend all|sqlite|postgresql] [--clients 8] [--requests 100]

Every server is a real process on 127.0.0.1 and a free port, on throwaway storage: Assay under gunicorn (4 workers)
with a fresh ASSAY_DATA_DIR, on SQLite and, when DATABASE_URL names a PostgreSQL server, on a database of its own
(``assay_bench_<random>``, dropped afterwards); MLflow (``mlflow server``, 4 workers, SQLite) from a virtual
environment of its own, created on first use under bench/.mlflow-venv and reused after. The user's data is never
touched. Both sides are driven by this interpreter over plain HTTP (http.client, a new connection per request,
since gunicorn's sync workers do not keep connections alive), as an engineer with a bearer token on Assay's side.

At each size: registrations through the API, one client after another and from ``--clients`` clients at once, until
the store holds exactly that many versions (the rest is seeded beforehand through each system's fastest legitimate
path: Assay's action functions, MLflow's Python client); then the p50/p95 latency of searching versions by model
name and by tag (first page of 50) and of fetching one version. Assay registers a real ONNX file per version (a
tiny, distinct graph, streamed, validated in a child process, stored content-addressed); MLflow's registry takes no
bytes and records a source URI.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import http.client
import json
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MLFLOW_VERSION = "3.17.2"  # the newest whose wheels (mlflow and mlflow-skinny) install on Python 3.11 here
MLFLOW_VENV = ROOT / "bench" / ".mlflow-venv"
# What a snapshot of the tree leaves out: environments, caches, local data.
SNAPSHOT_IGNORE = (".git", ".venv", ".mlflow-venv", "var", "test-artifacts", "__pycache__", "*.pyc", ".*_cache")
PAGE = 50
WARM_UP = 20
WARM_UP_REGISTRATIONS = 8
REGISTRATION_TARGET = 3.0  # Assay at least 3x MLflow's registration rate
SEARCH_TARGET = 1 / 3  # Assay at most a third of MLflow's search p95


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.registry_vs_mlflow", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: sizes 300,1000, fewer requests")
    parser.add_argument("--sizes", help="model versions to measure at (comma-separated; default 2000,20000)")
    parser.add_argument("--models", type=int, default=100, help="registered models the versions are spread over")
    parser.add_argument("--groups", type=int, default=10, help="tag groups the models are spread over")
    parser.add_argument("--sequential", type=int, help="registrations by one client per size (default 60)")
    parser.add_argument("--concurrent", type=int, help="registrations by --clients clients per size (default 120)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, help="requests per latency figure, after 10 warm-up (default 100)")
    parser.add_argument("--workers", type=int, default=4, help="server worker processes, both sides")
    parser.add_argument("--only", choices=("all", "assay", "mlflow"), default="all")
    parser.add_argument(
        "--backend",
        choices=("all", "sqlite", "postgresql"),
        default="all",
        help="Assay's database: 'all' is SQLite, and PostgreSQL when DATABASE_URL is set",
    )
    options = parser.parse_args(argv)
    quick = options.quick
    options.sizes = [int(s) for s in (options.sizes or ("300,1000" if quick else "2000,20000")).split(",")]
    options.sizes.sort()
    options.sequential = options.sequential if options.sequential is not None else (15 if quick else 60)
    options.concurrent = options.concurrent if options.concurrent is not None else (40 if quick else 120)
    options.requests = options.requests if options.requests is not None else (30 if quick else 100)
    if options.sizes[0] < 2 * options.sequential + options.concurrent + options.models:
        parser.error("the smallest size must exceed the registrations per size plus --models")
    return options


# --- Processes ----------------------------------------------------------------------------------------------------


class Processes:
    """Every server this run starts, each in a process group of its own, so that stopping one stops its workers.

    Stopped on the way out of the ``with`` block whatever happens: normal end, error, Ctrl-C or SIGTERM.
    """

    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        for name, process in reversed(self.running):
            self.stop(name, process)
        self.running.clear()

    def start(self, name: str, args: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            process = subprocess.Popen(
                args, cwd=SOURCE.path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.running.append((name, process))
        return process

    @staticmethod
    def stop(name: str, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            print(f"  {name} did not stop on SIGTERM; killing it", flush=True)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass
class Source:
    """The tree every process of the run imports from: a copy taken at the start, so that a run of a quarter of an
    hour measures one version of the code even while files are being edited."""

    path: Path = ROOT

    def snapshot(self, workdir: Path) -> None:
        self.path = workdir / "src"
        shutil.copytree(ROOT, self.path, ignore=shutil.ignore_patterns(*SNAPSHOT_IGNORE))


SOURCE = Source()


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _load() -> str:
    # Other work on the machine shows in the figures; the load average says how much there was.
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _last_json_line(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def _run(args: list[str], *, env: dict[str, str] | None = None, what: str) -> str:
    done = subprocess.run(args, cwd=SOURCE.path, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done.stdout


# --- HTTP ---------------------------------------------------------------------------------------------------------


@dataclass
class Http:
    port: int
    headers: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.request(method, path, body=body, headers={**self.headers, **(headers or {})})
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path} answered {response.status}: {payload[:500]!r}")
        if "json" not in (response.getheader("Content-Type") or ""):
            return payload
        return json.loads(payload)

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", f"{path}?{urllib.parse.urlencode(query)}" if query else path)

    def post_json(self, path: str, data: Any) -> Any:
        return self.request("POST", path, json.dumps(data).encode(), {"Content-Type": "application/json"})

    def wait_ready(self, path: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited ({process.returncode}); see {log}:\n{log.read_text()[-3000:]}")
            try:
                self.get(path)
                return
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not answer {path} in {seconds:.0f}s; see {log}") from None
                time.sleep(0.3)


def _multipart(fields: dict[str, str], file_field: str, filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def tiny_onnx(value: float) -> bytes:
    """y = x + w with w = [value]*3: a valid ONNX model of about 100 bytes whose digest differs with ``value``."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.full(3, value, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "add",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializer=[weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return bytes(model.SerializeToString())


def model_name(index: int) -> str:
    return f"bench-model-{index:04d}"


def group_tag(index: int, groups: int) -> str:
    return f"group-{index % groups:02d}"


# --- The two systems ----------------------------------------------------------------------------------------------


class System:
    """One server under test. ``versions`` counts what it holds; the measured calls go through ``self.http``."""

    label = ""
    http: Http

    def __init__(self, options: argparse.Namespace, workdir: Path, processes: Processes) -> None:
        self.options = options
        self.workdir = workdir
        self.processes = processes
        self.versions = 0
        self.seed_seconds = 0.0

    def start(self) -> None:
        raise NotImplementedError

    def seed_commands(self, count: int) -> list[tuple[list[str], dict[str, str] | None]]:
        """The seeding processes that together add ``count`` versions, to be run side by side."""
        raise NotImplementedError

    def after_seeding(self) -> None:
        """What an operator does after a bulk load, before the measured calls."""

    def register(self, index: int, serial: int) -> None:
        raise NotImplementedError

    def search_by_name(self, index: int) -> int:
        raise NotImplementedError

    def search_by_tag(self, index: int) -> int:
        raise NotImplementedError

    def get_one(self, index: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release what ``start`` made besides processes (a database)."""


class Assay(System):
    def __init__(self, *args: Any, database_url: str | None, backend: str) -> None:
        super().__init__(*args)
        self.server_url = database_url
        self.backend = backend
        self.label = f"Assay {backend}"
        self.data_dir = Path(tempfile.mkdtemp(prefix="assay-bench-registry-"))
        self.database_url: str | None = None
        self.admin_url = ""
        self.models: list[dict[str, Any]] = []
        self.seed_file = self.workdir / "seed.onnx"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_BROKER_URL", "ASSAY_"))}
        env.update(
            ASSAY_ENV="development",
            ASSAY_DATA_DIR=str(self.data_dir),
            CELERY_BROKER_URL="filesystem://",
            DJANGO_SETTINGS_MODULE="assay.settings",
            API_THROTTLE_USER="1000000/min",
            LOG_LEVEL="warning",
            # Room for a real model's upload, not only the tiny one measured here.
            MAX_REQUEST_BODY_BYTES=str(256 * 1024**2),
            MAX_ARTIFACT_BYTES=str(256 * 1024**2),
            # A deployment keeps its database connections; the default (0) reconnects on every request.
            DATABASE_CONN_MAX_AGE="60",
            # Every client's registration validated at once (the default slots would answer the extra ones 503).
            ARTIFACT_VALIDATION_CONCURRENCY=str(self.options.clients),
            WEB_THREADS=str(self.options.clients + 1),
        )
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        return env

    def start(self) -> None:
        if self.server_url:
            import psycopg

            parts = urllib.parse.urlsplit(self.server_url)
            name = f"assay_bench_{secrets.token_hex(4)}"
            self.admin_url = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            self.database_url = urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
        self.seed_file.write_bytes(tiny_onnx(0.5))
        setup = _last_json_line(
            _run(
                [
                    sys.executable,
                    "-m",
                    "bench._assay_side",
                    "setup",
                    f"--models={self.options.models}",
                    f"--groups={self.options.groups}",
                    f"--onnx={self.seed_file}",
                ],
                env=self.env(),
                what=f"{self.label} setup",
            )
        )
        self.models = setup["models"]
        port = _free_port()
        log = self.workdir / f"assay-{self.backend}.log"
        process = self.processes.start(
            f"{self.label} (gunicorn)",
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "assay.wsgi",
                f"--bind=127.0.0.1:{port}",
                f"--workers={self.options.workers}",
                "--graceful-timeout=5",
                "--timeout=300",
            ],
            env=self.env(),
            log=log,
        )
        self.http = Http(port, {"Authorization": f"Bearer {setup['token']}", "Accept": "application/json"})
        self.http.wait_ready("/api/v1/me/", process, log)

    def seed_commands(self, count: int) -> list[tuple[list[str], dict[str, str] | None]]:
        # SQLite has one writer at a time; PostgreSQL waits on round trips (about a dozen statements a version),
        # which a second seeder overlaps.
        parts = 2 if self.database_url else 1
        return [
            (
                [
                    sys.executable,
                    "-m",
                    "bench._assay_side",
                    "seed",
                    f"--count={count // parts + (part < count % parts)}",
                    f"--models={self.options.models}",
                    f"--onnx={self.seed_file}",
                    f"--part={part}",
                    f"--parts={parts}",
                ],
                self.env(),
            )
            for part in range(parts)
        ]

    def after_seeding(self) -> None:
        # PostgreSQL plans from table statistics, which autovacuum gathers a while after a bulk load (its docs advise
        # ANALYZE after one); without them the tag search reads every version of the team. SQLite plans without.
        if self.database_url:
            import psycopg

            with psycopg.connect(self.database_url, autocommit=True) as conn:
                conn.execute("ANALYZE")

    def register(self, index: int, serial: int) -> None:
        model = self.models[index % len(self.models)]
        body, content_type = _multipart(
            {"metrics": json.dumps({"auc": 0.8}), "training_params": json.dumps({"serial": serial})},
            "file",
            f"model-{serial}.onnx",
            tiny_onnx(1.0 + serial),
        )
        created = self.http.request(
            "POST", f"/api/v1/models/{model['id']}/versions/", body, {"Content-Type": content_type}
        )
        if created["model"] != model["id"] or created["number"] < 1:
            raise RuntimeError(f"unexpected registration answer: {created}")

    def search_by_name(self, index: int) -> int:
        name = self.models[index % len(self.models)]["name"]
        # The exact name filter, as MLflow's name='...' is exact: Assay compares it as names are registered (case and
        # look-alike letters folded) on the model's indexed name key.
        page = self.http.get("/api/v1/model-versions/", name=name, page_size=PAGE)
        if not page["results"] or any(row["model_name"] != name for row in page["results"]):
            raise RuntimeError(f"search by name {name!r} returned other models' versions or none")
        return len(page["results"])

    def search_by_tag(self, index: int) -> int:
        tag = group_tag(index, self.options.groups)
        wanted = {m["name"] for m in self.models if m["tag"] == tag}
        page = self.http.get("/api/v1/model-versions/", tag=tag, page_size=PAGE)
        if not page["results"] or any(row["model_name"] not in wanted for row in page["results"]):
            raise RuntimeError(f"search by tag {tag!r} returned versions of untagged models or none")
        return len(page["results"])

    def get_one(self, index: int) -> None:
        model = self.models[index % len(self.models)]
        version = self.http.get(f"/api/v1/models/{model['id']}/versions/1/")
        if version["number"] != 1 or version["model"] != model["id"]:
            raise RuntimeError(f"unexpected version: {version}")

    def close(self) -> None:
        if self.database_url:
            import psycopg

            name = urllib.parse.urlsplit(self.database_url).path.lstrip("/")
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(self.data_dir, ignore_errors=True)


def ensure_mlflow_venv() -> Path:
    """bench/.mlflow-venv with mlflow==MLFLOW_VERSION, created on first use and reused while it has that version."""
    python = MLFLOW_VENV / "bin" / "python"
    if python.exists():
        probe = subprocess.run(
            [str(python), "-c", "import mlflow; print(mlflow.__version__)"], capture_output=True, text=True
        )
        if probe.returncode == 0 and probe.stdout.strip() == MLFLOW_VERSION:
            return python
    print(f"  installing mlflow=={MLFLOW_VERSION} into {MLFLOW_VENV} (once; about a minute)", flush=True)
    _run([shutil.which("python3") or "python3", "-m", "venv", str(MLFLOW_VENV)], what="python3 -m venv")
    _run([str(python), "-m", "pip", "install", "--quiet", f"mlflow=={MLFLOW_VERSION}"], what="pip install mlflow")
    return python


class Mlflow(System):
    label = "MLflow sqlite"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.python = ensure_mlflow_venv()
        self.db_uri = f"sqlite:///{self.workdir / 'mlflow.db'}"
        self.names = [model_name(i) for i in range(self.options.models)]

    def start(self) -> None:
        port = _free_port()
        log = self.workdir / "mlflow.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        process = self.processes.start(
            "MLflow server",
            [
                str(self.python.parent / "mlflow"),
                "server",
                f"--backend-store-uri={self.db_uri}",
                f"--default-artifact-root={self.workdir / 'mlartifacts'}",
                "--host=127.0.0.1",
                f"--port={port}",
                f"--workers={self.options.workers}",
            ],
            env=env,
            log=log,
        )
        self.http = Http(port, {"Accept": "application/json"})
        self.http.wait_ready("/health", process, log, seconds=180)
        for index, name in enumerate(self.names):
            self.http.post_json(
                "/api/2.0/mlflow/registered-models/create",
                {"name": name, "tags": [{"key": "group", "value": group_tag(index, self.options.groups)}]},
            )

    def seed_commands(self, count: int) -> list[tuple[list[str], dict[str, str] | None]]:
        args = [
            str(self.python),
            str(SOURCE.path / "bench" / "_mlflow_side.py"),
            "seed",
            f"--db={self.db_uri}",
            f"--count={count}",
            f"--start={self.versions}",
            f"--models={self.options.models}",
            f"--groups={self.options.groups}",
        ]
        return [(args, {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")})]

    def register(self, index: int, serial: int) -> None:
        name = self.names[index % len(self.names)]
        created = self.http.post_json(
            "/api/2.0/mlflow/model-versions/create",
            {
                "name": name,
                "source": f"s3://bench-artifacts/{name}/measured-{serial}",
                "tags": [{"key": "group", "value": group_tag(index % len(self.names), self.options.groups)}],
            },
        )
        if created["model_version"]["name"] != name:
            raise RuntimeError(f"unexpected registration answer: {created}")

    def _search(self, expression: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.http.get(
            "/api/2.0/mlflow/model-versions/search", filter=expression, max_results=PAGE
        ).get("model_versions", [])
        return found

    def search_by_name(self, index: int) -> int:
        name = self.names[index % len(self.names)]
        rows = self._search(f"name='{name}'")
        if not rows or any(row["name"] != name for row in rows):
            raise RuntimeError(f"search by name {name!r} returned other models' versions or none")
        return len(rows)

    def search_by_tag(self, index: int) -> int:
        tag = group_tag(index, self.options.groups)
        rows = self._search(f"tags.group='{tag}'")
        wanted = {n for i, n in enumerate(self.names) if group_tag(i, self.options.groups) == tag}
        if not rows or any(row["name"] not in wanted for row in rows):
            raise RuntimeError(f"search by tag {tag!r} returned versions of untagged models or none")
        return len(rows)

    def get_one(self, index: int) -> None:
        name = self.names[index % len(self.names)]
        version = self.http.get("/api/2.0/mlflow/model-versions/get", name=name, version=1)["model_version"]
        if version["name"] != name or str(version["version"]) != "1":
            raise RuntimeError(f"unexpected version: {version}")


# --- Measurements -------------------------------------------------------------------------------------------------


@dataclass
class Figures:
    sequential: float = 0.0  # registrations per second
    concurrent: float = 0.0
    latency: dict[str, tuple[float, float]] = field(default_factory=dict)  # operation -> (p50, p95) in ms
    rows: dict[str, int] = field(default_factory=dict)  # operation -> rows on the first page


def _registrations(system: System, count: int, clients: int, serial: Iterator[int]) -> float:
    if count == 0:
        return math.nan
    jobs = [(i, next(serial)) for i in range(count)]
    started = time.perf_counter()
    if clients == 1:
        for index, number in jobs:
            system.register(index, number)
    else:
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            for future in [pool.submit(system.register, index, number) for index, number in jobs]:
                future.result()
    rate = count / (time.perf_counter() - started)
    system.versions += count
    return rate


def _latency(call: Callable[[int], Any], requests: int) -> tuple[tuple[float, float], Any]:
    timings = []
    answer = None
    for i in range(requests + WARM_UP):
        started = time.perf_counter()
        answer = call(i)
        elapsed = time.perf_counter() - started
        if i >= WARM_UP:
            timings.append(elapsed * 1000)
    quantiles = statistics.quantiles(timings, n=100)
    return (quantiles[49], quantiles[94]), answer


def measure(system: System, options: argparse.Namespace, serial: Iterator[int]) -> Figures:
    figures = Figures()
    # Untimed: the first uploads of a worker import the upload stack and open its database connection.
    _registrations(system, min(options.sequential, WARM_UP_REGISTRATIONS), options.clients, serial)
    figures.sequential = _registrations(system, options.sequential, 1, serial)
    figures.concurrent = _registrations(system, options.concurrent, options.clients, serial)
    for operation, call in (
        ("search by name", system.search_by_name),
        ("search by tag", system.search_by_tag),
        ("get one version", system.get_one),
    ):
        figures.latency[operation], rows = _latency(call, options.requests)
        if isinstance(rows, int):
            figures.rows[operation] = rows
    return figures


def registrations_per_size(options: argparse.Namespace) -> int:
    return min(options.sequential, WARM_UP_REGISTRATIONS) + options.sequential + options.concurrent


def seed(systems: list[System], size: int, options: argparse.Namespace) -> None:
    """Bring every system to ``size`` minus the registrations about to be measured, all seeders at once."""
    pending: list[tuple[System, subprocess.Popen[bytes], Path]] = []
    counts: dict[str, int] = {}
    try:
        for system in systems:
            counts[system.label] = count = size - registrations_per_size(options) - system.versions
            if count <= 0:
                continue
            for n, (args, env) in enumerate(system.seed_commands(count)):
                log = system.workdir / f"seed-{system.label.replace(' ', '-')}-{n}.log"
                with log.open("ab") as out:
                    child = subprocess.Popen(args, cwd=SOURCE.path, env=env, stdout=out, stderr=subprocess.STDOUT)
                pending.append((system, child, log))
        seconds: dict[str, float] = {}
        for system, child, log in pending:
            if child.wait() != 0:
                raise RuntimeError(f"seeding {system.label} failed; see {log}:\n{log.read_text()[-3000:]}")
            took = _last_json_line(log.read_text())["seconds"]
            seconds[system.label] = max(seconds.get(system.label, 0.0), took)
        for system in systems:
            if counts[system.label] > 0:
                system.versions += counts[system.label]
                system.seed_seconds += seconds[system.label]
            system.after_seeding()
    finally:
        for _, child, _ in pending:
            if child.poll() is None:
                child.kill()
                child.wait()


# --- Report -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    title: str
    value: Callable[[Figures], float]
    target: float | None  # None: reported, no target
    higher_is_better: bool


def _rows(options: argparse.Namespace) -> list[Row]:
    rows = [
        Row("register, 1 client (versions/s)", lambda f: f.sequential, REGISTRATION_TARGET, True),
        Row(f"register, {options.clients} clients (versions/s)", lambda f: f.concurrent, REGISTRATION_TARGET, True),
    ]
    for operation in ("search by name", "search by tag", "get one version"):
        target = SEARCH_TARGET if operation.startswith("search") else None
        rows.append(Row(f"{operation} p50 (ms)", partial(_p, operation, 0), None, False))
        rows.append(Row(f"{operation} p95 (ms)", partial(_p, operation, 1), target, False))
    return rows


def _p(operation: str, which: int, figures: Figures) -> float:
    return figures.latency[operation][which]


def _figure(figures: Figures | None, row: Row) -> float | None:
    if figures is None:
        return None
    value = row.value(figures)
    return None if math.isnan(value) else value


def _verdict(ratio: float | None, row: Row) -> str:
    if ratio is None or row.target is None:
        return "-"
    return "yes" if (ratio >= row.target if row.higher_is_better else ratio <= row.target) else "NO"


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report(results: dict[int, dict[str, Figures]], systems: list[System], options: argparse.Namespace) -> int:
    assay_labels: list[str | None] = [s.label for s in systems if isinstance(s, Assay)] or [None]
    has_mlflow = any(isinstance(s, Mlflow) for s in systems)
    header = (
        f"{'operation':<34} {'versions':>8}  {'Assay backend':<14} {'Assay':>10} {'MLflow':>10} {'ratio':>7}  "
        "target met"
    )
    print("\n" + header)
    print("-" * len(header))
    missed = 0
    for size, by_system in results.items():
        mlflow = by_system.get(Mlflow.label)
        for row in _rows(options):
            for label in assay_labels:
                a = _figure(by_system.get(label) if label else None, row)
                m = _figure(mlflow, row)
                ratio = a / m if a is not None and m else None
                verdict = _verdict(ratio, row)
                missed += verdict == "NO"
                backend = label.removeprefix("Assay ") if label else "-"
                print(
                    f"{row.title:<34} {size:>8,}  {backend:<14} {_cell(a, ',.1f'):>10} {_cell(m, ',.1f'):>10} "
                    f"{_cell(ratio, '.2f'):>7}  {verdict}"
                )
        print()
    print(
        f"ratio = Assay / MLflow. Targets (issue #3): registration ratio >= {REGISTRATION_TARGET:g}, "
        f"search p95 ratio <= {SEARCH_TARGET:.2f}; 'get one version' has no target."
    )
    print(
        f"Registrations: {options.sequential} by one client, then {options.concurrent} by {options.clients} clients, "
        f"at each size, spread over {options.models} models. Latency: {options.requests} requests after "
        f"{WARM_UP} warm-up, first page of {PAGE}, a different model or tag group on each request."
    )
    if assay_labels and has_mlflow:
        print(
            "Not the same work: each Assay registration uploads a real ONNX file (~100 B, distinct per version) that "
            "is streamed to disk, fsynced, validated by onnx.checker and an ONNX Runtime session in a child process "
            "(a fresh fork per upload), "
            "stored by SHA-256, and audited in the hash-chained log; MLflow's registry takes no bytes and records a "
            "source URI string. Assay tags are on the registered model, MLflow's searched tags on each version."
        )
    for system in systems:
        print(f"  seeding {system.label}: {system.seed_seconds:.0f}s in total (not measured)")
    return missed


def main(argv: list[str]) -> int:
    options = _options(argv)
    # Ctrl-C even when started in the background by a shell that ignores SIGINT for its children.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    signal.signal(signal.SIGHUP, _raise_on_sigterm)
    server_url = os.environ.get("DATABASE_URL", "")
    is_postgres = server_url.startswith(("postgres://", "postgresql://"))
    if options.backend == "postgresql" and not is_postgres and options.only != "mlflow":
        print("--backend postgresql needs DATABASE_URL=postgres://user@host:port/db (a server to create a database on)")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    SOURCE.snapshot(workdir)
    systems: list[System] = []
    started = time.monotonic()
    print(
        f"\n== Registry benchmark: Assay vs MLflow {MLFLOW_VERSION}; sizes {', '.join(f'{s:,}' for s in options.sizes)}"
        f"; Python {platform.python_version()}, {os.cpu_count()} CPUs, load {_load()} ==",
        flush=True,
    )
    try:
        with Processes() as processes:
            if options.only in ("all", "mlflow"):
                systems.append(Mlflow(options, workdir, processes))
            if options.only in ("all", "assay"):
                if options.backend in ("all", "sqlite"):
                    systems.append(Assay(options, workdir, processes, database_url=None, backend="sqlite"))
                if options.backend in ("all", "postgresql") and is_postgres:
                    systems.append(Assay(options, workdir, processes, database_url=server_url, backend="postgresql"))
                elif options.backend == "all":
                    print("  (Assay on PostgreSQL skipped: set DATABASE_URL=postgres://... to measure it too.)")
            for system in systems:
                system.start()
                print(f"  {system.label}: up on 127.0.0.1:{system.http.port}", flush=True)
            results: dict[int, dict[str, Figures]] = {}
            serial = iter(range(1, 10**9))
            for size in options.sizes:
                seed(systems, size, options)
                print(f"  seeded to {size - registrations_per_size(options):,} versions", flush=True)
                results[size] = {}
                for system in systems:
                    results[size][system.label] = measure(system, options, serial)
                    print(f"  measured {system.label} at {system.versions:,} versions", flush=True)
        missed = report(results, systems, options)
        print(f"\n(total {time.monotonic() - started:.0f}s; load average now {_load()}; targets missed: {missed})")
        return 0
    finally:
        for system in systems:
            system.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped, throwaway data removed", file=sys.stderr)
        sys.exit(130)
