"""The HTTP side of the CLI without a database: the streamed multipart body, and how a failing or redirecting
server maps to exit codes (a real HTTP server in a thread, answering what a broken proxy or a crashed app would)."""

from __future__ import annotations

import email.parser
import email.policy
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay_cli.client import CHUNK_BYTES, Client, LocalFileError, MultipartBody, Refused, Unreachable
from assay_cli.main import main


def parse(body: bytes, content_type: str) -> list[tuple[Any, Any, Any]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    return [
        (part.get_param("name", header="content-disposition"), part.get_filename(), part.get_payload(decode=True))
        for part in message.iter_parts()
    ]


def test_the_upload_body_is_streamed_in_chunks_of_known_total_length(tmp_path: Path) -> None:
    payload = bytes(range(256)) * (5 * CHUNK_BYTES // 256 + 7)
    path = tmp_path / 'we"ird\nname.onnx'
    path.write_bytes(payload)
    fields = [("metrics", '{"auc": 0.9}'), ("dataset_versions", "3"), ("dataset_versions", "4")]

    with path.open("rb") as handle:
        body = MultipartBody(fields, "file", path.name, handle)
        chunks = list(body)

    assert max(len(chunk) for chunk in chunks[1:-1]) <= CHUNK_BYTES  # never the whole file at once
    assert len(chunks) > 5
    joined = b"".join(chunks)
    assert len(joined) == body.length
    parts = parse(joined, body.content_type)
    assert [(name, filename) for name, filename, _ in parts] == [
        ("metrics", None),
        ("dataset_versions", None),
        ("dataset_versions", None),
        ("file", "we%22ird%0Aname.onnx"),
    ]
    assert [data for _, _, data in parts] == [b'{"auc": 0.9}', b"3", b"4", payload]


def test_a_file_that_changes_during_the_upload_stops_it(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"x" * 1000)
    with path.open("rb") as handle:
        body = MultipartBody([], "file", path.name, handle)
        path.write_bytes(b"x" * 5000)  # grows after its length was declared
        with pytest.raises(LocalFileError, match="changed size"):
            list(body)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/api/v1/me/") and self.server.mode == "redirect":  # type: ignore[attr-defined]
            self.send_response(302)
            self.send_header("Location", "http://elsewhere.example/steal")
            self.end_headers()
            return
        status, body = (500, b'{"error": {"code": "error", "message": "A server error occurred."}}')
        if self.server.mode == "html":  # type: ignore[attr-defined]
            status, body = 502, b"<html>Bad gateway</html>"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet: the tests read exit codes, not logs
        pass


@pytest.fixture
def broken_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    server.mode = "500"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: http.server.HTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.mark.parametrize("mode", ["500", "html"])
def test_a_failing_server_is_exit_code_3(
    broken_server: http.server.HTTPServer,
    mode: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken_server.mode = mode  # type: ignore[attr-defined]
    monkeypatch.setenv("ASSAY_TOKEN", "assay_abc_secret")

    code = main(["--url", _url(broken_server), "whoami", "--json"])

    assert code == 3
    captured = capsys.readouterr()
    assert "The server failed (50" in captured.err
    assert json.loads(captured.out)["error"]["exit_code"] == 3
    assert "assay_abc_secret" not in captured.out + captured.err


def test_a_redirect_is_not_followed_with_the_token(broken_server: http.server.HTTPServer) -> None:
    broken_server.mode = "redirect"  # type: ignore[attr-defined]
    client = Client(_url(broken_server), "assay_abc_secret", timeout=10)

    with pytest.raises(Unreachable, match="redirect"):
        client.get("me/")
    assert "secret" not in repr(client)


def test_a_4xx_without_the_apis_error_shape_still_reads_plainly() -> None:
    class NotFoundHandler(_Handler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"not found")

    server = http.server.HTTPServer(("127.0.0.1", 0), NotFoundHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(Refused, match=r"^Not Found$") as refused:
            Client(_url(server), "assay_abc_secret", timeout=10).get("me/")
    finally:
        server.shutdown()
        server.server_close()
    assert (refused.value.status, refused.value.message) == (404, "Not Found")
