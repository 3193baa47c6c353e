"""Validation of uploaded ONNX models before the store accepts them.

Two stages. First a cheap sniff in this process that reads only the first bytes and refuses what is plainly not
ONNX (pickles, archives, compressed files, other frameworks' formats) with a message saying what it looks like.
Then a child process, one per upload and never the web or worker process itself with its threads and database
connections, parses the model, checks its external-data references, runs the ONNX checker, opens an ONNX Runtime
session and runs the model once on a synthetic input built from its contract, under an address-space limit, a CPU
limit and a wall-clock timeout. The child answers in JSON; nothing from it is ever unpickled.

At most ``ARTIFACT_VALIDATION_CONCURRENCY`` validations run at once on a host (``ValidationSlots``: lock files under
the data folder); beyond that ``ValidatorBusy`` is raised at once, or after ``wait_for_slot_seconds``. The time limit
is set with the web server's timeout (``WEB_TIMEOUT_SECONDS``, gunicorn.conf.py): docs/artifacts.md, "Availability".

Where the child comes from: by default each process that validates keeps a small fork server of its own
(``python -m registry.validation_child --serve``, started on first use in a clean environment), which has onnx and
ONNX Runtime imported and forks one fresh child per upload, so an upload no longer pays for the imports of a new
interpreter (about 140 ms of CPU) but for a fork (under 10 ms for a small model). When the server cannot be used
(``ARTIFACT_VALIDATION_FORK_SERVER`` off, not Linux, or it failed to start or died twice in a row) each upload gets a
fresh interpreter instead, as before: same limits, same answers.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from django.conf import settings

from core.refusals import Busy
from registry.validation_child import is_plain_file_name

DEFAULT_MEMORY_LIMIT_BYTES = 2 * 1024**3
DEFAULT_TIME_LIMIT_SECONDS = 30.0
DEFAULT_CONCURRENCY = 2
# How long a fork server may take to import and warm up before it is given up on (fresh interpreters then); never
# longer than what is left of the validation's own time limit.
SERVER_START_SECONDS = 60.0
# How long past a validation's time limit to wait for the server's word on it before the server is taken as stuck:
# this, but never more than half the time limit (so a validation ends within 1.5 times its limit, whatever happens),
# nor less than half a second (a loaded host may take that long to report a child it killed).
SERVER_GRACE_SECONDS = 10.0
# How long a background caller (a training job registering its model) waits for a free validation slot; a web
# request does not wait (it is answered 503 with Retry-After at once).
JOB_SLOT_WAIT_SECONDS = 600.0
MAX_REPLY_BYTES = 16 * 1024**2
MIN_MODEL_BYTES = 16
CHILD_MODULE = "registry.validation_child"
_MODEL_NAME = "model.onnx"
_PROJECT_ROOT = Path(__file__).resolve().parent.parent

logger = logging.getLogger(__name__)


class Refusal(StrEnum):
    NOT_ONNX = "not_onnx"
    PICKLE = "pickle"
    ZIP_ARCHIVE = "zip_archive"
    TRUNCATED = "truncated"
    EXTERNAL_DATA_REFUSED = "external_data_refused"
    CHECKER_FAILED = "checker_failed"
    RUNTIME_FAILED = "runtime_failed"
    INFERENCE_FAILED = "inference_failed"
    MEMORY_LIMIT = "memory_limit"
    TIMEOUT = "timeout"


class ValidatorBusy(Busy):
    """Every validation slot of this host is taken. Not a verdict on the file: the caller may try again after
    ``retry_after`` seconds (the API answers 503 with ``Retry-After``)."""

    code = "validators_busy"

    def __init__(self, slots: int, retry_after: int) -> None:
        super().__init__(
            f"All {slots} model validation slots of this server are busy; try again in {retry_after} seconds.",
            retry_after=retry_after,
        )
        self.slots = slots


class ValidationSlots:
    """A host-wide bound on concurrent validations: ``count`` lock files in ``folder``, each held with a
    non-blocking ``flock`` for the length of one validation.

    ``flock`` locks belong to an open file description, so two threads of one process (gunicorn's gthread workers)
    exclude each other as two processes do, and a process that dies releases its slot with its descriptors: nothing
    to clean up, the same on SQLite and PostgreSQL deployments. The folder must be local to the host (the data
    folder), since the point is to bound what this host's CPU and memory carry.
    """

    def __init__(self, folder: Path, count: int) -> None:
        self.folder = Path(folder)
        self.count = max(1, int(count))

    @contextlib.contextmanager
    def hold(self, *, wait_seconds: float = 0.0, retry_after: int = 1) -> Iterator[int]:
        """Hold a free slot (its index) for the block; ``ValidatorBusy`` when none frees up within ``wait_seconds``."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        deadline = time.monotonic() + wait_seconds
        while True:
            for index in range(self.count):
                fd = os.open(self.folder / f"slot-{index}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                try:
                    yield index
                finally:
                    os.close(fd)  # releases the lock
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ValidatorBusy(self.count, retry_after)
            time.sleep(min(0.2, remaining))


def validation_slots() -> ValidationSlots:
    """This host's slots: ``ARTIFACT_VALIDATION_CONCURRENCY`` lock files under ``DATA_DIR/validation-slots``."""
    count = int(getattr(settings, "ARTIFACT_VALIDATION_CONCURRENCY", DEFAULT_CONCURRENCY))
    return ValidationSlots(Path(settings.DATA_DIR) / "validation-slots", count)


@dataclass(frozen=True)
class _Budget:
    """A validation's time limit (what messages name) and the moment it runs out, retries included."""

    limit: float
    deadline: float

    @classmethod
    def of(cls, limit: float) -> _Budget:
        return cls(limit, time.monotonic() + limit)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    @property
    def grace(self) -> float:
        return min(SERVER_GRACE_SECONDS, max(self.limit / 2, 0.5))


class OnnxValidationError(Exception):
    def __init__(self, code: Refusal | str, message: str) -> None:
        super().__init__(message)
        self.code = Refusal(code)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class OnnxReport:
    """What validation learnt about a model; ``as_dict()`` is the JSON stored with a model version.

    ``inputs``/``outputs`` hold one dict per graph input/output: ``name``, ``kind`` (tensor, sparse_tensor,
    sequence, map, optional), ``elem_type`` ("float32", "int64", "string"... or the full type for non-tensors) and
    ``shape`` (a list of ints, symbolic names and None for unnamed dims; None when the rank is unknown).
    Opset domain "ai.onnx" is the default domain (empty in the file).
    """

    ir_version: int
    producer_name: str
    producer_version: str
    domain: str
    model_version: int
    graph_name: str
    opset_imports: list[dict[str, Any]]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    metadata_props: dict[str, str]
    graph_metadata_props: dict[str, str]
    external_data_files: list[str]
    warnings: list[str]
    validated_with: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _zip_member_hint(head: bytes) -> str:
    # The first local header names the first member (offset 26: name length, 30: name) — no unzipping needed.
    if len(head) < 30:
        return ""
    length = int.from_bytes(head[26:28], "little")
    first = head[30 : 30 + length].decode("utf-8", "replace")
    if first.endswith("data.pkl") or "/data/" in first or first.endswith("/version"):
        return "a PyTorch checkpoint (.pt/.pth files are ZIP archives of pickles)"
    if first.endswith(".npy"):
        return "a NumPy .npz archive"
    if first in {"metadata.json", "config.json", "model.weights.h5"}:
        return "a Keras .keras archive"
    return "a ZIP archive"


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(char.isprintable() or char in "\r\n\t" for char in text)


def sniff(head: bytes, size: int) -> OnnxValidationError | None:
    """What the first bytes of a file say it is, if that is plainly not ONNX; None when it may be ONNX."""
    if size == 0:
        return OnnxValidationError(Refusal.NOT_ONNX, "The file is empty.")
    if head[:1] == b"\x80" and head[1:2] in {b"\x02", b"\x03", b"\x04", b"\x05"}:
        return OnnxValidationError(
            Refusal.PICKLE,
            f"This is a Python pickle (protocol {head[1]}), not ONNX: a joblib, pickle or scikit-learn dump. Pickles "
            "are never loaded here; convert the model to ONNX (skl2onnx, torch.onnx.export, tf2onnx) and upload that.",
        )
    if head.startswith((b"(dp", b"(lp", b"(tp", b"}q", b"]q", b"ccopy_reg", b"c__builtin__", b"cnumpy", b"csklearn")):
        return OnnxValidationError(Refusal.PICKLE, "This looks like a Python pickle (an old protocol), not ONNX.")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return OnnxValidationError(
            Refusal.ZIP_ARCHIVE,
            f"This is {_zip_member_hint(head)}, not ONNX. Export the model to ONNX and upload that.",
        )
    magics = [
        (b"\x1f\x8b", "a gzip-compressed file (a compressed joblib dump or a tarball?)"),
        (b"BZh", "a bzip2-compressed file"),
        (b"\xfd7zXZ\x00", "an xz-compressed file"),
        (b"\x04\x22\x4d\x18", "an LZ4-compressed file"),
        (b"\x28\xb5\x2f\xfd", "a Zstandard-compressed file"),
        (b"\x89HDF\r\n\x1a\n", "an HDF5 file (a Keras .h5 model?)"),
        (b"\x93NUMPY", "a NumPy .npy array"),
        (b"\x7fELF", "an executable (ELF)"),
    ]
    for magic, what in magics:
        if head.startswith(magic):
            return OnnxValidationError(Refusal.NOT_ONNX, f"This is {what}, not ONNX.")
    if head[:1] == b"\x78" and head[1:2] in {b"\x01", b"\x5e", b"\x9c", b"\xda"}:
        return OnnxValidationError(
            Refusal.NOT_ONNX, "This is zlib-compressed data (a compressed joblib dump?), not ONNX."
        )
    if head[4:8] == b"TFL3":
        return OnnxValidationError(Refusal.NOT_ONNX, "This is a TensorFlow Lite model, not ONNX.")
    if head[4:8] == b"ORTM":
        return OnnxValidationError(Refusal.NOT_ONNX, "This is an ONNX Runtime (.ort) model; upload the .onnx file.")
    if head[8:10] == b'{"':
        return OnnxValidationError(Refusal.NOT_ONNX, "This is a safetensors file (weights only), not ONNX.")
    if _looks_like_text(head):
        return OnnxValidationError(Refusal.NOT_ONNX, "This is a text file (JSON, YAML, a script...), not ONNX.")
    if size < MIN_MODEL_BYTES:
        code = Refusal.TRUNCATED if head[:1] == b"\x08" else Refusal.NOT_ONNX
        return OnnxValidationError(code, f"The file is only {size} bytes: too small to be an ONNX model.")
    return None


def _check_extra_files(extra_files: dict[str, Path]) -> None:
    for name, path in extra_files.items():
        if not is_plain_file_name(name) or name == _MODEL_NAME:
            raise OnnxValidationError(
                Refusal.EXTERNAL_DATA_REFUSED, f"External data file name {name!r} is not a plain file name."
            )
        info = Path(path).lstat()
        if not stat.S_ISREG(info.st_mode):
            raise OnnxValidationError(
                Refusal.EXTERNAL_DATA_REFUSED, f"External data file {name!r} is not a regular file (a symlink?)."
            )


def _place(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _child_environment() -> dict[str, str]:
    # Nothing of the parent's environment (secrets, DATABASE_URL) reaches the child; one thread per library.
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        # Each malloc arena reserves address space, which counts against the child's RLIMIT_AS.
        "MALLOC_ARENA_MAX": "2",
        # ONNX Runtime (1.2x+) otherwise starts a telemetry thread at import, which would upload usage events and
        # would make the fork server a multi-threaded process (unsafe to fork).
        "ORT_DISABLE_TELEMETRY": "1",
    }


def _classify_crash(
    returncode: int, stderr: str, *, memory_limit_bytes: int | None = None, time_limit_seconds: float | None = None
) -> OnnxValidationError:
    lowered = stderr.lower()
    if returncode == -signal.SIGXCPU:
        limit = f" of {_seconds(time_limit_seconds)}" if time_limit_seconds is not None else ""
        return OnnxValidationError(Refusal.TIMEOUT, f"Validation used up its CPU time limit{limit} and was stopped.")
    memory = f" of {memory_limit_bytes} bytes" if memory_limit_bytes is not None else ""
    if any(hint in lowered for hint in ("memoryerror", "bad_alloc", "cannot allocate memory", "out of memory")):
        return OnnxValidationError(Refusal.MEMORY_LIMIT, f"Validation ran out of memory under its limit{memory}.")
    if returncode == -signal.SIGKILL:
        return OnnxValidationError(
            Refusal.MEMORY_LIMIT, f"The validator was killed by the system (out of memory; its limit{memory})."
        )
    tail = stderr.strip().splitlines()[-1:] or [""]
    how = f"signal {-returncode}" if returncode < 0 else f"exit status {returncode}"
    return OnnxValidationError(Refusal.RUNTIME_FAILED, f"The validator crashed ({how}). {tail[0][:300]}".strip())


def _run_fresh_interpreter(request: dict[str, Any], budget: _Budget) -> dict[str, Any]:
    if budget.remaining() <= 0:
        raise _timeout(budget.limit)
    with tempfile.TemporaryFile() as stderr_file:
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell, no client input
            [sys.executable, "-E", "-s", "-B", "-m", CHILD_MODULE],
            cwd=_PROJECT_ROOT,
            env=_child_environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            start_new_session=True,  # its own process group, so a kill reaches anything it started
            close_fds=True,
        )
        try:
            stdout, _ = child.communicate(json.dumps(request).encode(), timeout=max(0.0, budget.remaining()))
        except subprocess.TimeoutExpired:
            raise _timeout(budget.limit) from None
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.communicate()
        stderr_file.seek(0)
        stderr = stderr_file.read(65536).decode("utf-8", "replace")
    return _parse_reply(stdout, child.returncode, stderr, request, budget)


def _seconds(value: float) -> str:
    return f"{value:g} second{'' if value == 1 else 's'}"


def _timeout(time_limit_seconds: float) -> OnnxValidationError:
    return OnnxValidationError(
        Refusal.TIMEOUT,
        f"Validation (parsing, checking, building an ONNX Runtime session and one run on a synthetic input) took "
        f"longer than its limit of {_seconds(time_limit_seconds)} and was stopped.",
    )


def _parse_reply(
    stdout: bytes, returncode: int, stderr: str, request: dict[str, Any], budget: _Budget
) -> dict[str, Any]:
    try:
        reply: dict[str, Any] = json.loads(stdout)
    except ValueError:
        raise _classify_crash(
            returncode, stderr, memory_limit_bytes=int(request["memory_limit_bytes"]), time_limit_seconds=budget.limit
        ) from None
    return reply


class _ServerGone(Exception):
    """The fork server died, refused to start, or could not take the request: try another one, or no server."""


class ValidatorServer:
    """This process's fork server (registry.validation_child.serve), started on first use and shared by its threads.

    It belongs to the process that started it: after ``os.fork`` (a Celery prefork worker, gunicorn with
    ``--preload``) the child forgets it and starts its own on first use, so that two processes never share one.
    The server exits when its socket is closed, that is when this process exits or is killed, and its children die
    with it.
    """

    def __init__(self, *, command: list[str] | None = None, environment: dict[str, str] | None = None) -> None:
        self.command = command or [sys.executable, "-E", "-s", "-B", "-m", CHILD_MODULE, "--serve"]
        self.environment = environment
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._failures = 0
        self.pid = 0

    @property
    def usable(self) -> bool:
        return self._failures < 2

    def _connection(self, start_seconds: float = SERVER_START_SECONDS) -> socket.socket:
        with self._lock:
            if self._control is None or self._process is None or self._process.poll() is not None:
                self._stop_locked()
                self._start_locked(start_seconds)
            assert self._control is not None
            return self._control

    def _start_locked(self, start_seconds: float = SERVER_START_SECONDS) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell, no client input
                self.command,
                cwd=_PROJECT_ROOT,
                env=self.environment if self.environment is not None else _child_environment(),
                stdin=theirs.fileno(),
                stdout=subprocess.DEVNULL,
                close_fds=True,
            )
        finally:
            theirs.close()
        try:
            ours.settimeout(max(0.1, min(SERVER_START_SECONDS, start_seconds)))
            hello = json.loads(ours.recv(65536) or b"{}")
        except (OSError, ValueError):
            hello = {}
        if not hello.get("ready"):
            process.kill()
            process.wait()
            ours.close()
            raise _ServerGone(hello.get("error") or f"it exited with status {process.returncode}")
        # Sends are small and the server reads them at once; a server that stops reading is a dead one.
        ours.settimeout(SERVER_GRACE_SECONDS)
        self._process, self._control, self.pid = process, ours, int(hello["pid"])

    def _stop_locked(self) -> None:
        if self._control is not None:
            self._control.close()
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
        self._process, self._control, self.pid = None, None, 0

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()

    def _forget_after_fork(self) -> None:
        # In a forked child: the server is the parent's. Our copy of its socket is closed (the parent's stays open),
        # and the Popen object is kept out of the garbage collector, which would otherwise try to reap another
        # process's child.
        self._lock = threading.Lock()
        if self._control is not None:
            self._control.close()
        if self._process is not None:
            _ABANDONED.append(self._process)
        self._process, self._control, self.pid = None, None, 0

    def validate(self, request: dict[str, Any], budget: _Budget | float) -> dict[str, Any] | None:
        """The child's answer, or None when no server could do it (the caller then uses a fresh interpreter).

        A retry (the server died under the validation) gets what is left of the same time budget, not a new one.
        """
        if not isinstance(budget, _Budget):
            budget = _Budget.of(budget)
        while self.usable:
            if budget.remaining() <= 0:
                raise _timeout(budget.limit)
            control = None
            try:
                control = self._connection(budget.remaining() + budget.grace)
                reply = self._exchange(control, request, budget)
            except _ServerGone as error:
                with self._lock:
                    # One death seen by several threads at once counts once: only the first stops that server.
                    if control is None or control is self._control:
                        self._failures += 1
                        self._stop_locked()
                logger.warning(
                    "ONNX validator fork server unavailable (%s); %s",
                    error,
                    "retrying" if self.usable else "using a fresh interpreter per upload from now on",
                )
                continue
            self._failures = 0
            return reply
        return None

    def _exchange(self, control: socket.socket, request: dict[str, Any], budget: _Budget) -> dict[str, Any]:
        reply_ours, reply_theirs = socket.socketpair()
        status_ours, status_theirs = socket.socketpair()
        with reply_ours, status_ours, tempfile.TemporaryFile() as stderr_file:
            try:
                envelope = json.dumps({"request": request, "seconds": max(0.0, budget.remaining())}).encode()
                socket.send_fds(
                    control, [envelope], [reply_theirs.fileno(), status_theirs.fileno(), stderr_file.fileno()]
                )
            except OSError as error:
                raise _ServerGone(f"it did not take the request: {error}") from None
            finally:
                # The server holds them now; the child will hold the reply socket, the server the status socket.
                reply_theirs.close()
                status_theirs.close()
            stdout, status_bytes = self._collect(reply_ours, status_ours, budget)
            stderr_file.seek(0)
            stderr = stderr_file.read(65536).decode("utf-8", "replace")
        try:
            status = json.loads(status_bytes)
        except ValueError:
            raise _ServerGone("it ended before reporting on the validation") from None
        if status.get("error"):
            raise _ServerGone(f"it could not start a validation: {status['error']}")
        if status["timed_out"]:
            raise _timeout(budget.limit)
        return _parse_reply(stdout, int(status["returncode"]), stderr, request, budget)

    def _collect(self, reply: socket.socket, status: socket.socket, budget: _Budget) -> tuple[bytes, bytes]:
        """Read the child's answer and the server's report until both are closed (the child is then reaped)."""
        deadline = budget.deadline + budget.grace
        buffers = {reply.fileno(): bytearray(), status.fileno(): bytearray()}
        poller = select.poll()
        for fd in buffers:
            poller.register(fd, select.POLLIN)
        open_fds = set(buffers)
        while open_fds:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                # The server enforces the time limit itself; not hearing from it well past it means it is stuck.
                logger.error("ONNX validator fork server stuck past a validation's deadline; killing it")
                self.stop()
                raise _timeout(budget.limit)
            for fd, _ in poller.poll(int(remaining * 1000) + 1):
                chunk = os.read(fd, 65536)
                buffers[fd] += chunk
                if not chunk or (fd == reply.fileno() and len(buffers[fd]) > MAX_REPLY_BYTES):
                    # An oversized answer is cut off: the child's next write fails, and it ends like a crash.
                    poller.unregister(fd)
                    open_fds.discard(fd)
                    if chunk:
                        reply.shutdown(socket.SHUT_RD)
                        buffers[fd] = bytearray()
        return bytes(buffers[reply.fileno()]), bytes(buffers[status.fileno()])


_ABANDONED: list[subprocess.Popen[bytes]] = []
SERVER = ValidatorServer()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=SERVER._forget_after_fork)


def fork_server_enabled() -> bool:
    """Whether validations go through this process's fork server (else a fresh interpreter each)."""
    return (
        bool(getattr(settings, "ARTIFACT_VALIDATION_FORK_SERVER", True))
        and sys.platform.startswith("linux")
        and SERVER.usable
    )


def start_fork_server() -> bool:
    """Start this process's fork server now rather than on its first upload (gunicorn.conf.py's
    ``post_worker_init``), so that no upload's time limit pays for the server's imports. False when validations do
    not use a server, or it could not start (uploads then start it, or use fresh interpreters, as before)."""
    if not fork_server_enabled():
        return False
    try:
        SERVER._connection()
    except _ServerGone as error:
        logger.warning("ONNX validator fork server did not start at worker start (%s)", error)
        return False
    return True


def _run_child(request: dict[str, Any], budget: _Budget) -> dict[str, Any]:
    if fork_server_enabled():
        reply = SERVER.validate(request, budget)
        if reply is not None:
            return reply
    return _run_fresh_interpreter(request, budget)


def validate_onnx(
    path: Path | str,
    *,
    extra_files: dict[str, Path] | None = None,
    memory_limit_bytes: int | None = None,
    time_limit_seconds: float | None = None,
    slots: ValidationSlots | None = None,
    wait_for_slot_seconds: float = 0.0,
) -> OnnxReport:
    """Validate the ONNX model at ``path``; return its interface contract or raise ``OnnxValidationError``.

    ``extra_files`` maps the plain file names a model may reference as external data to the uploaded files holding
    them; any other reference is refused. The limits default to the settings ``ARTIFACT_VALIDATION_MEMORY_BYTES``
    (address space of the whole validator process, runtime libraries included) and
    ``ARTIFACT_VALIDATION_SECONDS`` (wall clock, from the child's fork, or its start in a fresh interpreter; a
    validation ends within 1.5 times it, whatever happens to the fork server).

    What passes the sniff is validated only in one of this host's validation slots (``slots``, by default
    ``validation_slots()``): when all are taken for ``wait_for_slot_seconds`` (0: do not wait), ``ValidatorBusy``
    is raised and nothing is started.
    """
    if memory_limit_bytes is None:
        memory_limit_bytes = int(getattr(settings, "ARTIFACT_VALIDATION_MEMORY_BYTES", DEFAULT_MEMORY_LIMIT_BYTES))
    if time_limit_seconds is None:
        time_limit_seconds = float(getattr(settings, "ARTIFACT_VALIDATION_SECONDS", DEFAULT_TIME_LIMIT_SECONDS))
    path = Path(path)
    extra_files = dict(extra_files or {})

    info = path.lstat()
    if not stat.S_ISREG(info.st_mode):
        raise OnnxValidationError(Refusal.NOT_ONNX, "The upload is not a regular file.")
    with path.open("rb") as handle:
        head = handle.read(512)
    refusal = sniff(head, info.st_size)
    if refusal is not None:
        raise refusal
    _check_extra_files(extra_files)

    slots = slots if slots is not None else validation_slots()
    with slots.hold(wait_seconds=wait_for_slot_seconds, retry_after=max(1, math.ceil(time_limit_seconds))):
        reply = _validate_in_child(path, extra_files, memory_limit_bytes, time_limit_seconds)
    if not reply.get("ok"):
        raise OnnxValidationError(reply.get("code", Refusal.RUNTIME_FAILED), str(reply.get("message", "")))
    return OnnxReport(**reply["report"])


def _validate_in_child(
    path: Path, extra_files: dict[str, Path], memory_limit_bytes: int, time_limit_seconds: float
) -> dict[str, Any]:
    budget = _Budget.of(time_limit_seconds)
    # The model and only the files uploaded with it, alone in a private folder: the runtime resolves external
    # data relative to the model, so nothing else on the disk can be reached that way.
    workdir = Path(tempfile.mkdtemp(prefix=".onnx-check-", dir=path.parent))
    try:
        _place(path, workdir / _MODEL_NAME)
        for name, source in extra_files.items():
            shutil.copyfile(source, workdir / name)
        request = {
            "model": str(workdir / _MODEL_NAME),
            "allowed_external": sorted(extra_files),
            "memory_limit_bytes": memory_limit_bytes,
            "cpu_seconds": max(1, math.ceil(time_limit_seconds)),
        }
        return _run_child(request, budget)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
