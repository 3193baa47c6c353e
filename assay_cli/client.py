"""A small HTTP client for Assay's REST API, on urllib alone.

Every failure becomes one of two exceptions the command line turns into an exit code: ``Refused`` (the server
answered 4xx: the request was wrong and retrying will not help) and ``Unreachable`` (no answer, or a 5xx: retrying
later may).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from assay_cli import __version__

CHUNK_BYTES = 64 * 1024
USER_AGENT = f"assay-cli/{__version__}"
Query = Mapping[str, Any] | Sequence[tuple[str, Any]]


class Refused(Exception):
    """The server refused the request (4xx). ``message`` and ``fields`` come from its error body."""

    def __init__(self, status: int, message: str, fields: Mapping[str, Any] | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = dict(fields or {})
        self.body = body
        self.hints: list[str] = []  # what the user can do about it, added by the command that knows


class Unreachable(Exception):
    """No usable answer: connection refused, timeout, TLS failure, a redirect, or a 5xx."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LocalFileError(Exception):
    """A local file could not be read as needed (it changed while it was being uploaded, say)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would follow a redirect with the Authorization header still attached, possibly to another host; and a
    # redirected POST silently becomes a GET. Neither is what a CI job wants, so a redirect is reported instead.
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        raise Unreachable(f"The server answered with a redirect ({code}) to {newurl}; check --url / ASSAY_URL.", code)


class Client:
    def __init__(self, base_url: str, token: str, *, timeout: float = 600.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirects())

    def __repr__(self) -> str:  # the token must never show, not even in a traceback's locals
        return f"Client({self.base_url!r})"

    def url(self, path: str, query: Query | None = None) -> str:
        """The API URL of ``path``; ``query`` a mapping, or pairs when a name repeats. None values are left out."""
        url = f"{self.base_url}/api/v1/{path.lstrip('/')}"
        pairs = list(query.items() if isinstance(query, Mapping) else query or [])
        if pairs:
            url += "?" + urllib.parse.urlencode([(key, value) for key, value in pairs if value is not None])
        return url

    def get(self, path: str, query: Query | None = None) -> Any:
        return self._send("GET", self.url(path, query))

    def post(self, path: str, payload: Mapping[str, Any]) -> Any:
        body = json.dumps(payload).encode()
        return self._send("POST", self.url(path), body, {"Content-Type": "application/json"})

    def post_to_file(self, path: str, payload: Mapping[str, Any], handle: IO[bytes], query: Query | None = None) -> int:
        """POST JSON and write the answer (a document: HTML or PDF) into ``handle``; returns its size."""
        size = 0

        def receive(response: Any) -> None:
            nonlocal size
            while chunk := response.read(CHUNK_BYTES):
                size += len(chunk)
                try:
                    handle.write(chunk)
                except OSError as error:
                    raise LocalFileError(f"cannot write {handle.name}: {error.strerror or error}") from None

        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        self._send("POST", self.url(path, query), body, headers, accept="*/*", reader=receive)
        return size

    def get_all(self, path: str, query: Mapping[str, Any] | None = None) -> list[Any]:
        """Every item of a paginated list, following the pages."""
        items: list[Any] = []
        page = 1
        while True:
            answer = self.get(path, {**(query or {}), "page": page, "page_size": 200})
            items.extend(answer.get("results", []))
            if not answer.get("next"):
                return items
            page += 1

    def upload(self, path: str, fields: Sequence[tuple[str, str]], file_field: str, file_path: Path) -> Any:
        """POST ``multipart/form-data`` with the file streamed from disk: the body is never held in memory."""
        with file_path.open("rb") as handle:
            body = MultipartBody(fields, file_field, file_path.name, handle)
            headers = {"Content-Type": body.content_type, "Content-Length": str(body.length)}
            return self._send("POST", self.url(path), body, headers)

    def download(self, path: str, handle: IO[bytes]) -> tuple[str, int]:
        """GET a file into ``handle`` block by block; returns its SHA-256 and size as received."""
        digest, size = hashlib.sha256(), 0

        def receive(response: Any) -> None:
            nonlocal size
            while chunk := response.read(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
                try:
                    handle.write(chunk)
                except OSError as error:  # a full disk is the local side's problem, not the server's
                    raise LocalFileError(f"cannot write {handle.name}: {error.strerror or error}") from None

        # JSON listed too: the server negotiates with its JSON renderer (its errors are JSON), and an Accept of only
        # application/octet-stream is a 406 there.
        self._send("GET", self.url(path), accept="application/octet-stream, application/json", reader=receive)
        return digest.hexdigest(), size

    def _send(
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        accept: str = "application/json",
        reader: Callable[[Any], None] | None = None,
    ) -> Any:
        request = urllib.request.Request(url, data=body, method=method)  # noqa: S310  # the scheme is checked in main
        request.add_header("Accept", accept)
        request.add_header("User-Agent", USER_AGENT)
        request.add_header("Authorization", f"Bearer {self._token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                if reader is not None:
                    return reader(response)
                return _decode(response.read())
        except urllib.error.HTTPError as error:
            raise _failure(error) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise Unreachable(
                f"Cannot reach {self.base_url}: {reason}\n  Is the server running there? Point the CLI at it with "
                "ASSAY_URL (or --url), e.g. export ASSAY_URL=http://127.0.0.1:8100 for `make run PORT=8100`."
            ) from None


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise Unreachable("The server's answer is not JSON; is --url / ASSAY_URL an Assay server?") from None


def _failure(error: urllib.error.HTTPError) -> Exception:
    try:
        raw = error.read()
    except OSError:
        raw = b""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    detail: dict[str, Any] = {}
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        detail = body["error"]
    message = str(detail.get("message") or error.reason or f"HTTP {error.code}")
    if error.code >= 500:
        return Unreachable(f"The server failed ({error.code}): {message}", error.code)
    if error.code == 401 and not body:
        message = "Not authenticated."
    return Refused(error.code, message, detail.get("fields"), body)


class MultipartBody:
    """A ``multipart/form-data`` body produced piece by piece, with its exact length known in advance.

    http.client sends an iterable body chunk by chunk when the Content-Length is given, so the file is read in
    ``CHUNK_BYTES`` blocks as the socket takes them, and never chunk-encoded (WSGI servers may not accept that).
    """

    def __init__(self, fields: Sequence[tuple[str, str]], file_field: str, filename: str, handle: IO[bytes]) -> None:
        self.boundary = "assay-" + secrets.token_hex(16)
        self.handle = handle
        self.file_size = os.fstat(handle.fileno()).st_size
        head = b"".join(self._field(name, value) for name, value in fields)
        head += self._part_header(file_field, filename)
        self.head = head
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.length = len(self.head) + self.file_size + len(self.tail)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _field(self, name: str, value: str) -> bytes:
        return (
            f"--{self.boundary}\r\nContent-Disposition: form-data; name={_quote(name)}\r\n\r\n".encode()
            + value.encode()
            + b"\r\n"
        )

    def _part_header(self, name: str, filename: str) -> bytes:
        return (
            f"--{self.boundary}\r\n"
            f"Content-Disposition: form-data; name={_quote(name)}; filename={_quote(filename)}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        sent = 0
        while chunk := self.handle.read(CHUNK_BYTES):
            sent += len(chunk)
            if sent > self.file_size:
                break
            yield chunk
        if sent != self.file_size:
            # The declared Content-Length would be wrong: stop rather than send a body the server would misread.
            raise LocalFileError(
                f"{self.handle.name} changed size while it was being uploaded; nothing was registered."
            )
        yield self.tail


def _quote(value: str) -> str:
    # RFC 7578 section 4.2: a quoted string, with the quote and line breaks percent-encoded, as browsers do.
    return '"' + value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A") + '"'
