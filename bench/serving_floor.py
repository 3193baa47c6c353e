"""The serving benchmark's floor: the least an HTTP server around ONNX Runtime can be (bench/serving.py).

    python -m bench.serving_floor --model model.onnx --features f00,f01,... --port 8123

Python's standard library HTTP server (``ThreadingHTTPServer``, HTTP/1.1 keep-alive, a thread per connection) and one
ONNX Runtime session (one intra-op thread, as Assay's). It takes the rows form Assay's inference service takes
(``POST /predict`` with ``{"rows": [{feature: value}]}``), stacks the rows in the features' order, runs the session
and answers every output as JSON. No authentication, no input checks, no logging: whatever a real service adds is
what the benchmark measures against this.
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import onnxruntime


def make_handler(session: Any, features: list[str]) -> type[BaseHTTPRequestHandler]:
    input_name = session.get_inputs()[0].name
    outputs = [output.name for output in session.get_outputs()]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The answer leaves in one write with Nagle off: headers and body written apart would wait for the
        # client's delayed ACK (40 ms) on a kept-alive connection.
        disable_nagle_algorithm = True
        wbufsize = -1

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            rows = json.loads(self.rfile.read(length))["rows"]
            matrix = np.array([[row[name] for name in features] for row in rows], dtype=np.float32)
            results = session.run(outputs, {input_name: matrix})
            body = json.dumps({name: np.asarray(value).tolist() for name, value in zip(outputs, results, strict=True)})
            payload = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serving_floor")
    parser.add_argument("--model", required=True)
    parser.add_argument("--features", required=True, help="the input's columns, comma-separated, in order")
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args(sys.argv[1:] if argv is None else argv)
    session_options = onnxruntime.SessionOptions()
    session_options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(options.model, session_options, providers=["CPUExecutionProvider"])
    server = ThreadingHTTPServer(("127.0.0.1", options.port), make_handler(session, options.features.split(",")))
    server.daemon_threads = True
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
