"""The serving benchmark's harness (bench/serving.py), its parts that need no server of ours: the CPU read from /proc,
the kept-alive client and the load against the floor's handler (bench/serving_floor.py) on a fake session."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from bench import serving
from bench.serving_floor import make_handler


class FakeSession:
    """What the floor's handler asks of an ONNX Runtime session: one input, two outputs, and a run."""

    class Value:
        def __init__(self, name: str) -> None:
            self.name = name

    def __init__(self) -> None:
        self.fed: list[np.ndarray] = []

    def get_inputs(self) -> list[Value]:
        return [self.Value("X")]

    def get_outputs(self) -> list[Value]:
        return [self.Value("label"), self.Value("probabilities")]

    def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.fed.append(feeds["X"])
        rows = len(feeds["X"])
        return [np.ones(rows, dtype=np.int64), np.full((rows, 2), 0.5, dtype=np.float32)]


@pytest.fixture
def floor() -> Iterator[tuple[serving.Target, FakeSession]]:
    session = FakeSession()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(session, ["b", "a"]))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    body = serving.rows_body({"a": 1.0, "b": 2.0})
    yield serving.Target(server.server_address[1], "/predict", body), session
    server.shutdown()
    server.server_close()


def test_the_cpu_of_a_process_tree_counts_its_children() -> None:
    # GIVEN a child process that burns CPU for a moment
    burn = "import sys, time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\nsys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.PIPE)
    try:
        while serving.cpu_seconds(child.pid) < 0.25:
            assert child.poll() is None
        # THEN this process's tree holds it, and its CPU is counted in ours
        assert child.pid in serving.process_tree(serving.os.getpid())
        assert serving.cpu_seconds(serving.os.getpid()) >= serving.cpu_seconds(child.pid)
    finally:
        child.communicate(b"")


def test_the_clients_keep_their_connection_and_the_floor_feeds_rows_in_the_features_order(floor: Any) -> None:
    target, session = floor
    # WHEN one client sends ten requests, then four clients five each
    times, ok = serving.timed_requests(target, 10)
    measured = serving.throughput(target, clients=4, per_client=5, server_pid=serving.os.getpid())
    # THEN every request was answered, timed and counted
    assert (len(times), ok) == (10, 10)
    assert (measured.requests, measured.ok) == (20, 20)
    assert measured.per_second > 0
    assert measured.cpu_ms_per_request >= 0
    # AND the floor stacked each row in the order of its features (b, then a)
    np.testing.assert_array_equal(session.fed[0], np.array([[2.0, 1.0]], dtype=np.float32))
    connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=10)
    connection.request("POST", target.path, body=target.body, headers={"Content-Type": "application/json"})
    assert json.loads(connection.getresponse().read()) == {"label": [1], "probabilities": [[0.5, 0.5]]}
    connection.close()


def test_verdicts_and_figures() -> None:
    assert serving.verdict(1.1, serving.LATENCY_TARGET, at_most=True) == "met"
    assert serving.verdict(1.3, serving.LATENCY_TARGET, at_most=True) == "NOT met"
    assert serving.verdict(9.0, serving.THROUGHPUT_TARGET, at_most=False) == "met"
    assert serving.figures([1.0, 2.0, 3.0]).startswith("p50   2.00")
    empty = serving.Throughput(requests=5, ok=0, seconds=0.0, cpu_seconds=0.0)
    assert empty.per_second == 0.0
