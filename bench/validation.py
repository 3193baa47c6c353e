"""What one ONNX validation costs: wall-clock latency and CPU, through the fork server and a fresh interpreter.

    python -m bench.validation [--count 100]

Runs ``registry.onnx_validation.validate_onnx`` on the same file ``--count`` times per way (after two untimed calls
that start the server and warm the caches), for two models: the ~100-byte graph the registry benchmark uploads and a
4 MB one (a 1000 x 1000 MatMul). CPU is everything the validation costs the machine: this process, the fresh
interpreters (our children), or the fork server and its forks (the server's own time plus its reaped children's,
read from /proc). Needs no database.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.validation", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="validations per model and way")
    return parser.parse_args(argv)


def _models(folder: Path) -> dict[str, Path]:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper, save_model

    from bench.registry_vs_mlflow import tiny_onnx

    tiny = folder / "tiny.onnx"
    tiny.write_bytes(tiny_onnx(0.5))
    weights = numpy_helper.from_array(np.ones((1000, 1000), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1000])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1000])],
        initializer=[weights],
    )
    matmul = folder / "matmul-4mb.onnx"
    save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), matmul)
    return {f"{tiny.stat().st_size:,} B graph": tiny, f"{matmul.stat().st_size / 1e6:.0f} MB MatMul": matmul}


def _server_cpu(pid: int) -> float:
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime, stime, cutime, cstime: fields 14 to 17 of stat(5), 11 to 14 once the name is cut off.
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def measure(path: Path, count: int, fork_server: bool) -> tuple[float, float, float]:
    """(p50 latency, p95 latency, CPU per validation), all in ms."""
    from django.conf import settings

    from registry import onnx_validation

    settings.ARTIFACT_VALIDATION_FORK_SERVER = fork_server
    for _ in range(2):
        onnx_validation.validate_onnx(path)
    server = onnx_validation.SERVER.pid if fork_server else 0
    before = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN) + _server_cpu(server)
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        onnx_validation.validate_onnx(path)
        timings.append((time.perf_counter() - started) * 1000)
    after = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN) + _server_cpu(server)
    quantiles = statistics.quantiles(timings, n=20)
    return statistics.median(timings), quantiles[18], (after - before) * 1000 / count


def main(argv: list[str]) -> int:
    options = _options(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assay.settings")
    os.environ.setdefault("ASSAY_DATA_DIR", tempfile.mkdtemp(prefix="assay-bench-validation-"))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\n== ONNX validation, {options.count} per model and way; {os.cpu_count()} CPUs, load {load} ==")
    print(f"{'model':<16} {'way':<18} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for label, path in _models(Path(folder)).items():
            for fork_server, way in ((True, "fork server"), (False, "fresh interpreter")):
                p50, p95, cpu = measure(path, options.count, fork_server)
                print(f"{label:<16} {way:<18} {p50:>8.1f} {p95:>8.1f} {cpu:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
