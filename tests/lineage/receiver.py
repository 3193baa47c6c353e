"""A second OpenLineage HTTP receiver for the forwarding tests: a real HTTP server on a port of its own, in a thread,
that validates each posted event against the spec as Assay's own endpoint does (lineage.events) and keeps it."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lineage.events import EventInvalid, validate_event


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    path: str
    authorization: str
    event: dict[str, Any]


@dataclass
class Receiver:
    """Receives on ``port`` once started; ``received`` lists what arrived, in order."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Receiver:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    event = json.loads(body)
                    validate_event(event)
                except (ValueError, EventInvalid) as error:
                    self.send_response(400)
                    self.end_headers()
                    self.wfile.write(str(error).encode())
                    return
                received.append(Received(self.path, self.headers.get("Authorization", ""), event))
                self.send_response(201)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
