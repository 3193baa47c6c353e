"""Serving benchmark (issue #15): Assay's inference service beside the floor and MLflow, same model, same client, one
run.

    python -m bench.serving [--requests 1000] [--clients 8] [--per-client 400] [--only all|floor|assay|mlflow]
    make bench-serving ARGS="--requests 200 --per-client 100"      # a quick run

The model: scikit-learn's GradientBoostingClassifier (100 trees of depth 3) on 20 synthetic features (seeded),
converted with skl2onnx (one ``X`` input of 20 floats, the features named in its metadata, no ZipMap). Three
servers of it, each a real process on 127.0.0.1 and a free port:

- **floor**: the least an HTTP server around ONNX Runtime can be (bench/serving_floor.py: the standard library's
  ThreadingHTTPServer, one session, the same rows form, no checks, no logging);
- **assay**: the inference service as the Procfile runs it (``gunicorn serving.inference.asgi:app`` with
  serving/inference/gunicorn_conf.py, INFERENCE_WORKERS processes), serving the model deployed through the gate in
  ``staging`` on a throwaway database (the demo's seeders, then this model registered as the demo model's next
  version, signed by the demo's technical reviewer and deployed), called with a service account's token scoped to
  it, prediction logging on. Skipped, with a message, where ``serving.inference.asgi`` is not importable;
- **mlflow**: ``mlflow models serve`` of the same ONNX (MLflow's onnx flavour, ``--env-manager local``, 1 worker),
  from the benchmark's own virtual environment (bench/.mlflow-venv, as bench.registry_vs_mlflow makes it, with
  onnx and onnxruntime added).

For each: after ``--warmup`` requests, ``--requests`` single-row requests from 1 client (p50/p95/p99 in ms), then
``--clients`` client processes sending ``--per-client`` single-row requests each (throughput in requests/s), each
client on one kept-alive HTTP/1.1 connection; the CPU each request cost the server (its process tree's user and
system time over the throughput phase, from /proc, divided by the requests). Assay's throughput again with 2 worker
processes. Printed last: Assay's p50 against the floor's (target within 1.2x), its throughput against MLflow's
(target at least 8x), and the prediction logs dropped (requests answered 200 minus PredictionLog rows, read after
the logbook flushed: target 0). The clients share the machine with the servers: on a small machine the figures are
those of both.
"""

from __future__ import annotations

import argparse
import http.client
import importlib
import importlib.util
import io
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._env import run_child
from bench._server import ROOT, free_port, load, percentile

FEATURES = [f"f{index:02d}" for index in range(20)]
SEED = 11
LATENCY_TARGET = 1.2  # Assay's p50 at most 1.2x the floor's
THROUGHPUT_TARGET = 8.0  # Assay's throughput at least 8x MLflow's
ENVIRONMENT = "staging"
INFERENCE_MODULE = "serving.inference.asgi"
INFERENCE_CONFIG = ROOT / "serving" / "inference" / "gunicorn_conf.py"
MLFLOW_EXTRAS = ("onnx==1.23.2", "onnxruntime==1.32.0")  # requirements/web.txt's pins
READY_TIMEOUT = 120


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="single-client requests per server")
    parser.add_argument("--clients", type=int, default=8, help="client processes of the throughput phase")
    parser.add_argument("--per-client", type=int, default=400, help="requests per client in the throughput phase")
    parser.add_argument("--warmup", type=int, default=50, help="requests before measuring")
    parser.add_argument("--only", choices=("all", "floor", "assay", "mlflow"), default="all")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _forwarded(options: argparse.Namespace) -> list[str]:
    return [
        f"--requests={options.requests}",
        f"--clients={options.clients}",
        f"--per-client={options.per_client}",
        f"--warmup={options.warmup}",
        f"--only={options.only}",
    ]


def _launch(options: argparse.Namespace) -> int:
    return run_child("bench.serving", _forwarded(options))


# --- Measuring (pure: no Django, no server of its own) --------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of ``pid`` and every process below it, now (from /proc; 0 for a process gone)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for process in process_tree(pid):
        try:
            stat = Path(f"/proc/{process}/stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces: the fields counted from after its closing parenthesis.
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (through /proc/<pid>/task/*/children)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                queue.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return found


@dataclass(frozen=True)
class Target:
    """Where and how one server is asked for a single-row prediction."""

    port: int
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Client:
    """One kept-alive HTTP/1.1 connection, opened again if the server closed it."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.connection: http.client.HTTPConnection | None = None

    def post(self) -> int:
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.target.port, timeout=60)
            try:
                headers = {"Content-Type": "application/json", **self.target.headers}
                self.connection.request("POST", self.target.path, body=self.target.body, headers=headers)
                response = self.connection.getresponse()
                response.read()
                return response.status
            except (http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def timed_requests(target: Target, count: int) -> tuple[list[float], int]:
    """Milliseconds of each of ``count`` sequential requests on one connection, and how many answered 200."""
    client = Client(target)
    times, ok = [], 0
    try:
        for _ in range(count):
            started = time.perf_counter()
            status = client.post()
            times.append((time.perf_counter() - started) * 1000)
            ok += status == 200
    finally:
        client.close()
    return times, ok


def _client_run(job: tuple[Target, int]) -> tuple[float, float, int, int]:
    target, count = job
    started = time.perf_counter()
    _, ok = timed_requests(target, count)
    return started, time.perf_counter(), ok, count - ok


@dataclass(frozen=True)
class Throughput:
    requests: int
    ok: int
    seconds: float
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds / self.ok * 1000 if self.ok else float("nan")


def throughput(target: Target, *, clients: int, per_client: int, server_pid: int) -> Throughput:
    """``clients`` processes (forked: no interpreter start inside the timing) each sending ``per_client`` requests;
    the wall time from the first client's start to the last one's end, and the server's CPU over it."""
    context = multiprocessing.get_context("fork")
    cpu_before = cpu_seconds(server_pid)
    with context.Pool(clients) as pool:
        results = pool.map(_client_run, [(target, per_client)] * clients)
    cpu_after = cpu_seconds(server_pid)
    seconds = max(end for _, end, _, _ in results) - min(start for start, _, _, _ in results)
    ok = sum(result[2] for result in results)
    return Throughput(clients * per_client, ok, seconds, cpu_after - cpu_before)


def figures(ms: list[float]) -> str:
    return f"p50 {percentile(ms, 0.5):6.2f}  p95 {percentile(ms, 0.95):6.2f}  p99 {percentile(ms, 0.99):6.2f} ms"


def verdict(value: float, target: float, *, at_most: bool) -> str:
    met = value <= target if at_most else value >= target
    return "met" if met else "NOT met"


# --- The servers ----------------------------------------------------------------------------------------------------


@dataclass
class Running:
    """A server process started for the benchmark (its own process group) and how to ask it."""

    name: str
    process: subprocess.Popen[bytes]
    target: Target
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()


def start(name: str, args: list[str], target: Target, log: Path, env: dict[str, str] | None = None) -> Running:
    with log.open("ab") as out:
        process = subprocess.Popen(
            args, cwd=ROOT, env=env or dict(os.environ), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    running = Running(name, process, target, log)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}: {log.read_text()[-3000:]}")
        try:
            if Client(target).post() == 200:
                return running
        except OSError:
            pass
        time.sleep(0.3)
    running.stop()
    raise RuntimeError(f"{name} did not answer within {READY_TIMEOUT} s: {log.read_text()[-3000:]}")


@contextmanager
def serving(running: Running) -> Iterator[Running]:
    try:
        yield running
    finally:
        running.stop()


def rows_body(row: dict[str, float]) -> bytes:
    return json.dumps({"rows": [row]}).encode()


def mlflow_python() -> Path:
    """The benchmark's MLflow environment (bench.registry_vs_mlflow's), with ONNX Runtime for the onnx flavour."""
    from bench.registry_vs_mlflow import ensure_mlflow_venv

    python = ensure_mlflow_venv()
    probe = subprocess.run([str(python), "-c", "import onnx, onnxruntime"], capture_output=True, check=False)
    if probe.returncode != 0:
        print(f"  installing {', '.join(MLFLOW_EXTRAS)} into {python.parent.parent}", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *MLFLOW_EXTRAS], check=True)
    return python


MLFLOW_SAVE = """
import sys, numpy as np, onnx, mlflow.onnx
from mlflow.models import infer_signature
model = onnx.load(sys.argv[1])
example = np.zeros((1, int(sys.argv[3])), dtype=np.float32)
signature = infer_signature(example, np.zeros((1,), dtype=np.int64))
mlflow.onnx.save_model(model, sys.argv[2], signature=signature)
"""


def start_mlflow(onnx_path: Path, work: Path, row: dict[str, float]) -> Running:
    python = mlflow_python()
    model_dir = work / "mlflow-model"
    subprocess.run([str(python), "-c", MLFLOW_SAVE, str(onnx_path), str(model_dir), str(len(FEATURES))], check=True)
    port = free_port()
    body = json.dumps({"inputs": [[row[name] for name in FEATURES]]}).encode()
    # MLflow runs its scoring server as ``uvicorn`` found on PATH: its own environment's.
    path = f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "MLFLOW_TRACKING_URI": f"file://{work / 'mlruns'}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    mlflow = str(python.parent / "mlflow")
    args = [mlflow, "models", "serve", "-m", str(model_dir), "--env-manager", "local", "-h", "127.0.0.1"]
    args += ["-p", str(port), "-w", "1"]
    return start("mlflow", args, Target(port, "/invocations", body), work / "mlflow.log", env)


def start_floor(onnx_path: Path, work: Path, row: dict[str, float]) -> Running:
    port = free_port()
    args = [sys.executable, "-m", "bench.serving_floor", f"--model={onnx_path}", f"--features={','.join(FEATURES)}"]
    args.append(f"--port={port}")
    return start("floor", args, Target(port, "/predict", rows_body(row)), work / "floor.log")


def start_assay(target: Target, work: Path, workers: int) -> Running:
    port = free_port()
    env = {**os.environ, "INFERENCE_WORKERS": str(workers), "INFERENCE_PORT": str(port)}
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    args = [gunicorn, f"{INFERENCE_MODULE}:app", f"--config={INFERENCE_CONFIG}", f"--bind=127.0.0.1:{port}"]
    moved = Target(port, target.path, target.body, target.headers)
    return start(f"assay ({workers} worker{'s' if workers > 1 else ''})", args, moved, work / "inference.log", env)


# --- The model, and its deployment through the gate -----------------------------------------------------------------


def train(rows: int = 3000) -> tuple[bytes, list[dict[str, float]]]:
    """The 20-feature GradientBoostingClassifier as ONNX, and some rows to send."""
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(rows, len(FEATURES))).astype(np.float32)
    logit = 0.9 * x[:, 0] - 0.7 * x[:, 1] + 0.5 * x[:, 2] * x[:, 4] - 0.4 * (x[:, 5] > 1) - 0.3
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=SEED).fit(x, y)
    exported = to_onnx(model, x[:1], options={"zipmap": False})
    entry = exported.metadata_props.add()
    entry.key, entry.value = "features", ",".join(FEATURES)
    sample = [{name: float(value) for name, value in zip(FEATURES, row, strict=True)} for row in x[:100]]
    return bytes(exported.SerializeToString()), sample


def deploy_through_gate(onnx_bytes: bytes) -> tuple[Any, str, str]:
    """The demo's world (seeders), this model as the demo model's next version, released to staging, signed by the
    demo's technical reviewer, deployed; a service account's token scoped to it. Returns (deployment, URL path of
    the rows form, token)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from core import actions as core_actions
    from core.choices import BoardRole
    from core.management.commands.seed_demo import ADMIN, SERVICE_ACCOUNT
    from governance import actions as governance
    from governance.choices import Decision
    from governance.models import Environment
    from registry import actions as registry
    from registry.management.commands.seed_registry_demo import ENGINEER, MODEL, TEAM
    from registry.models import ModelVersion
    from serving import actions as serving
    from serving.management.commands.seed_release_demo import DEMO_SIGNING_PASSPHRASE

    for command in ("migrate", "seed_demo", "seed_registry_demo", "seed_release_demo"):
        options = {"interactive": False} if command == "migrate" else {}
        call_command(command, verbosity=0, stdout=io.StringIO(), **options)
    users = get_user_model().objects
    engineer, admin, theo = (users.get(username=name) for name in (ENGINEER, ADMIN, "theo-technical"))
    demo = ModelVersion.objects.filter(model__team__slug=TEAM, model__name=MODEL).order_by("-number").first()
    assert demo is not None
    version = registry.do_register_model_version(
        demo.model,
        actor=engineer,
        chunks=iter([onnx_bytes]),
        filename="gbt-20.onnx",
        dataset_versions=list(demo.dataset_versions.values_list("pk", flat=True)),
        description="The serving benchmark's 20-feature GradientBoostingClassifier.",
    )
    staging = Environment.objects.get(slug=ENVIRONMENT)
    release = governance.do_request_release(
        version, actor=engineer, environment=staging, justification="Serving benchmark."
    )
    governance.do_sign_release_web(
        release,
        actor=theo,
        board_role=BoardRole.TECHNICAL,
        decision=Decision.APPROVE,
        comment="Benchmark.",
        passphrase=DEMO_SIGNING_PASSPHRASE,
    )
    deployment = serving.do_deploy(release, actor=engineer)
    account = users.get(username=SERVICE_ACCOUNT)
    token_row, token = core_actions.do_create_token(actor=admin, owner=account, name="serving bench")
    # Looked up at run time: the scope's action comes with the inference service (this part runs only where it is).
    serving_actions: Any = importlib.import_module("serving.actions")
    serving_actions.do_set_inference_scope(
        token_row, actor=admin, environments=[staging], models=[demo.model], requests_per_second=10**6, burst=10**6
    )
    path = f"/{ENVIRONMENT}/models/{urllib.parse.quote(MODEL)}/predict"
    return deployment, path, token


def logged(deployment: Any, expected: int, wait_seconds: float = 30) -> int:
    """PredictionLog rows of ``deployment``, waiting (up to ``wait_seconds``) for the logbook's last batches."""
    from serving.models import PredictionLog

    deadline = time.monotonic() + wait_seconds
    count = 0
    while time.monotonic() < deadline:
        count = PredictionLog.objects.filter(deployment=deployment, returned=True).count()
        if count >= expected:
            break
        time.sleep(0.5)
    return count


# --- The run --------------------------------------------------------------------------------------------------------


@dataclass
class Measured:
    name: str
    latency: list[float]
    throughput: Throughput
    sent: int


def measure(running: Running, options: argparse.Namespace) -> Measured:
    target = running.target
    _, warm_ok = timed_requests(target, options.warmup)
    latency, ok = timed_requests(target, options.requests)
    if ok != options.requests or warm_ok != options.warmup:
        raise RuntimeError(f"{running.name}: {options.requests - ok} request(s) not answered 200; see {running.log}")
    load_figures = throughput(
        target, clients=options.clients, per_client=options.per_client, server_pid=running.process.pid
    )
    measured = Measured(running.name, latency, load_figures, options.warmup + options.requests + load_figures.ok)
    print(
        f"  {running.name:<18} 1 client {figures(latency)}   {options.clients} clients "
        f"{load_figures.per_second:8.0f} req/s ({load_figures.requests - load_figures.ok} errors)   "
        f"CPU {load_figures.cpu_ms_per_request:6.3f} ms/request",
        flush=True,
    )
    return measured


def inference_available() -> bool:
    try:
        return importlib.util.find_spec(INFERENCE_MODULE) is not None
    except ModuleNotFoundError:
        return False


def _child(options: argparse.Namespace) -> int:
    import django

    django.setup()
    import onnxruntime

    work = Path(os.environ["ASSAY_DATA_DIR"])
    print(
        f"\n== Serving benchmark ({platform.python_implementation()} {platform.python_version()}, onnxruntime "
        f"{onnxruntime.__version__}, {os.cpu_count()} CPUs, load {load()}) ==\n"
        f"GradientBoostingClassifier (100 trees, depth 3) on {len(FEATURES)} features, single-row requests; "
        f"{options.requests} from 1 client, {options.clients} clients x {options.per_client} for throughput"
    )
    onnx_bytes, sample = train()
    onnx_path = work / "model.onnx"
    onnx_path.write_bytes(onnx_bytes)
    row = sample[0]
    results: dict[str, Measured] = {}
    want = {options.only} if options.only != "all" else {"floor", "assay", "mlflow"}
    if "floor" in want:
        with serving(start_floor(onnx_path, work, row)) as running:
            results["floor"] = measure(running, options)
    if "assay" in want:
        if not inference_available():
            print(f"  assay              skipped: {INFERENCE_MODULE} is not importable here (no inference service)")
        else:
            deployment, path, token = deploy_through_gate(onnx_bytes)
            target = Target(0, path, rows_body(row), {"Authorization": f"Bearer {token}"})
            sent = 0
            for workers in (1, 2):
                with serving(start_assay(target, work, workers)) as running:
                    measured = measure(running, options)
                    results[f"assay-{workers}"] = measured
                    sent += measured.sent + 1  # and the readiness probe's request
            stored = logged(deployment, sent)
            print(f"  prediction logs: {sent} requests answered, {stored} logged, {sent - stored} dropped (target 0)")
    if "mlflow" in want:
        with serving(start_mlflow(onnx_path, work, row)) as running:
            results["mlflow"] = measure(running, options)
    summary(results)
    return 0


def summary(results: dict[str, Measured]) -> None:
    print("\n-- Ratios --")
    assay, floor, mlflow, two = (results.get(key) for key in ("assay-1", "floor", "mlflow", "assay-2"))
    if assay is not None and floor is not None:
        ratio = percentile(assay.latency, 0.5) / percentile(floor.latency, 0.5)
        print(f"  Assay p50 / floor p50            {ratio:6.2f}x  (target <= {LATENCY_TARGET}x: "
              f"{verdict(ratio, LATENCY_TARGET, at_most=True)})")  # fmt: skip
    if assay is not None and mlflow is not None:
        ratio = assay.throughput.per_second / mlflow.throughput.per_second
        print(f"  Assay throughput / MLflow's      {ratio:6.2f}x  (target >= {THROUGHPUT_TARGET}x: "
              f"{verdict(ratio, THROUGHPUT_TARGET, at_most=False)})")  # fmt: skip
    if assay is not None and two is not None:
        ratio = two.throughput.per_second / assay.throughput.per_second
        print(f"  Assay 2 workers / 1 worker       {ratio:6.2f}x  ({two.throughput.per_second:.0f} against "
              f"{assay.throughput.per_second:.0f} req/s)")  # fmt: skip
    if floor is not None and mlflow is not None:
        ratio = floor.throughput.per_second / mlflow.throughput.per_second
        print(f"  floor throughput / MLflow's      {ratio:6.2f}x")


def main(argv: list[str] | None = None) -> int:
    options = _options(sys.argv[1:] if argv is None else argv)
    return _child(options) if options.child else _launch(options)


if __name__ == "__main__":
    sys.exit(main())
