"""The database goes down under a running inference service (PostgreSQL, reached through a TCP relay this test
cuts): the service keeps answering with the models and tokens it has, its logs wait on disk, and every one of them is
in the table once the database is back."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings

from serving.models import PredictionLog
from tests.serving.inference.conftest import Service, start_service, stop_service, wait_for

ROW = {"age": 41, "income": 52000.0, "debt": 1200.5}


class Relay:
    """A TCP relay to the database server. ``cut()`` severs every connection and refuses new ones (each accepted
    and closed at once, as a server that is going down does); ``restore()`` relays again."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            server = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self.sockets.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def relay() -> Iterator[Relay]:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip(
            "Needs PostgreSQL: an SQLite file has no server to lose (the logbook's spool is tested in process)."
        )
    db = settings.DATABASES["default"]
    relay = Relay(db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432))
    yield relay
    relay.close()


def test_with_the_database_down_the_service_answers_and_no_log_is_lost(
    service: Service, relay: Relay, tmp_path: Any
) -> None:
    """GIVEN a service reaching the database through the relay, serving version 1 to a token it has verified
    WHEN the database goes away and 20 requests come
    THEN all are answered by version 1, their logs wait in the spool on disk; WHEN it is back THEN every request of
    the run is in the prediction log, once, and the spool is empty."""
    db = settings.DATABASES["default"]
    credentials = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    url = f"postgres://{credentials}@127.0.0.1:{relay.port}/{db['NAME']}"
    base, process, log_path = start_service(tmp_path, service.folder / "artifacts", DATABASE_URL=url)
    other = dataclasses.replace(service, base=base, process=process, log_path=log_path, data_dir=tmp_path / "data")
    try:
        wait_for(lambda: other.serving_version() == 1, "the relayed service to serve")
        before = [other.predict([ROW]).body["request_id"] for _ in range(5)]
        wait_for(lambda: PredictionLog.objects.filter(request_id__in=before).count() == 5, "the first logs")

        relay.cut()
        during = []
        for n in range(20):
            reply = other.predict([ROW], key=f"k{n}")
            assert (reply.status, reply.body["version"]) == (200, 1), reply.body
            during.append(reply.body["request_id"])
        spool = tmp_path / "data" / "prediction-spool"
        wait_for(lambda: sum(1 for _ in spool.glob("*.jsonl")) > 0, "logs spooled to disk")
        assert PredictionLog.objects.filter(request_id__in=during).count() == 0
        assert other.call("GET", "/v2/health/live", token="").status == 200

        relay.restore()
        wait_for(lambda: PredictionLog.objects.filter(request_id__in=during).count() == 20, "the spooled logs", 60)
        assert not list(spool.glob("*.jsonl"))
        assert PredictionLog.objects.filter(request_id__in=before + during).count() == 25
        metrics = other.call("GET", "/metrics", token="").body
        assert "assay_inference_logs_dropped_total 0\n" in metrics
    finally:
        stop_service(process)
