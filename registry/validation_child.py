"""The validator child: loads one untrusted ONNX model under resource limits, runs it once on a synthetic input
built from its interface contract, and answers what it found as JSON.

Run only by :mod:`registry.onnx_validation`, in one of two ways:

- ``python -m registry.validation_child``: one request as JSON on stdin, one answer as JSON on the original stdout,
  then exit. The fallback, and the reference: a fresh interpreter per upload.
- ``python -m registry.validation_child --serve``: a fork server. It imports onnx and ONNX Runtime once, warms the
  ONNX checker up on a model of its own, makes sure it has a single thread (no ONNX Runtime session ever exists in
  it, and ONNX Runtime's telemetry thread is switched off by the environment), then waits on the socket its parent
  handed it as stdin. Each request forks a fresh child that sets its limits before it touches the upload, answers
  on a socket of its own and exits; the server kills it at its wall-clock deadline, reaps it and reports how it
  ended on another socket that the child never holds (see ``serve``).

An answer is ``{"ok": true, "report": {...}}`` or ``{"ok": false, "code": ..., "message": ...}``. This module must
not import Django or anything of the project: it runs in a bare interpreter so that a hostile file meets as little
code as possible.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import select
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from onnx import GraphProto, ModelProto, NodeProto, TypeProto, ValueInfoProto
    from onnxruntime import InferenceSession

# How ONNX element types are named in the interface contract: numpy's names where numpy has one.
_ELEMENT_NAMES = {"FLOAT": "float32", "DOUBLE": "float64", "FLOAT16": "float16", "UNDEFINED": "undefined"}
_MEMORY_HINTS = ("bad_alloc", "failed to allocate", "cannot allocate memory", "out of memory")


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _apply_limits(memory_limit_bytes: int, cpu_seconds: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    # The soft limit sends SIGXCPU, the hard one SIGKILL a second later if that is ignored.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    # A crash under the memory limit must not leave a core file of the model's memory behind.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Validation is background work next to the web requests of the same host: it yields the CPU to them.
    with contextlib.suppress(OSError):
        os.nice(10)


def is_plain_file_name(name: str) -> bool:
    return (
        bool(name)
        and name not in {".", ".."}
        and "/" not in name
        and "\\" not in name
        and "\x00" not in name
        and not (len(name) >= 2 and name[1] == ":")  # a Windows drive, "C:x"
    )


def _graph_tensors(graph: GraphProto) -> Iterator[tuple[str, Any]]:
    for tensor in graph.initializer:
        yield tensor.name, tensor
    for sparse in graph.sparse_initializer:
        yield sparse.values.name, sparse.values
        yield sparse.values.name, sparse.indices
    for node in graph.node:
        yield from _node_tensors(node)


def _node_tensors(node: NodeProto) -> Iterator[tuple[str, Any]]:
    label = node.name or node.op_type
    for attribute in node.attribute:
        if attribute.HasField("t"):
            yield label, attribute.t
        for tensor in attribute.tensors:
            yield label, tensor
        sparse_tensors = [attribute.sparse_tensor] if attribute.HasField("sparse_tensor") else []
        for sparse in [*sparse_tensors, *attribute.sparse_tensors]:
            yield label, sparse.values
            yield label, sparse.indices
        if attribute.HasField("g"):
            yield from _graph_tensors(attribute.g)
        for graph in attribute.graphs:
            yield from _graph_tensors(graph)


def _model_tensors(model: ModelProto) -> Iterator[tuple[str, Any]]:
    yield from _graph_tensors(model.graph)
    for function in model.functions:
        for node in function.node:
            yield from _node_tensors(node)
    for training in model.training_info:
        yield from _graph_tensors(training.initialization)
        yield from _graph_tensors(training.algorithm)


def check_external_data(model: ModelProto, allowed: set[str]) -> list[str]:
    """Refuse every external-data reference except plain names of files uploaded with the model."""
    from onnx import TensorProto

    used: list[str] = []
    for owner, tensor in _model_tensors(model):
        if tensor.data_location != TensorProto.EXTERNAL and not tensor.external_data:
            continue
        entries = {entry.key: entry.value for entry in tensor.external_data}
        location = entries.get("location", "")
        what = f"Tensor {tensor.name or owner!r} keeps its data in external file {location!r}"
        if not is_plain_file_name(location):
            raise Refused("external_data_refused", f"{what}: only a plain file name next to the model is accepted.")
        if location not in allowed:
            raise Refused("external_data_refused", f"{what}, which was not uploaded with the model.")
        if location not in used:
            used.append(location)
    return used


def _element_name(element_type: int) -> str:
    from onnx import TensorProto

    try:
        name = TensorProto.DataType.Name(element_type)
    except ValueError:
        return f"unknown({element_type})"
    return _ELEMENT_NAMES.get(name, name.lower())


def _shape(tensor_type: TypeProto.Tensor | TypeProto.SparseTensor) -> list[int | str | None] | None:
    if not tensor_type.HasField("shape"):
        return None  # rank unknown
    dims: list[int | str | None] = []
    for dim in tensor_type.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(dim.dim_value)
        elif dim.HasField("dim_param"):
            dims.append(dim.dim_param)
        else:
            dims.append(None)
    return dims


def _type_text(type_proto: TypeProto) -> str:
    kind = type_proto.WhichOneof("value")
    if kind == "tensor_type":
        return f"tensor({_element_name(type_proto.tensor_type.elem_type)})"
    if kind == "sparse_tensor_type":
        return f"sparse_tensor({_element_name(type_proto.sparse_tensor_type.elem_type)})"
    if kind == "sequence_type":
        return f"seq({_type_text(type_proto.sequence_type.elem_type)})"
    if kind == "map_type":
        key = _element_name(type_proto.map_type.key_type)
        return f"map({key},{_type_text(type_proto.map_type.value_type)})"
    if kind == "optional_type":
        return f"optional({_type_text(type_proto.optional_type.elem_type)})"
    return "unknown"


def describe_value(value_info: ValueInfoProto) -> dict[str, Any]:
    type_proto = value_info.type
    kind = type_proto.WhichOneof("value")
    if kind in {"tensor_type", "sparse_tensor_type"}:
        tensor_type = getattr(type_proto, kind)
        return {
            "name": value_info.name,
            "kind": kind.removesuffix("_type"),
            "elem_type": _element_name(tensor_type.elem_type),
            "shape": _shape(tensor_type),
        }
    # Sequences and maps (a ZipMap output, say) have no single element type: the whole type is spelt out.
    return {
        "name": value_info.name,
        "kind": (kind or "unknown").removesuffix("_type"),
        "elem_type": _type_text(type_proto),
        "shape": None,
    }


def build_report(model: ModelProto, external_files: list[str], warnings: list[str]) -> dict[str, Any]:
    import onnx
    import onnxruntime

    initializers = {tensor.name for tensor in model.graph.initializer}
    opsets: list[dict[str, Any]] = []
    for opset in model.opset_import:
        entry = {"domain": opset.domain or "ai.onnx", "version": opset.version}
        if entry not in opsets:
            opsets.append(entry)
    graph_metadata = getattr(model.graph, "metadata_props", [])
    return {
        "ir_version": model.ir_version,
        "producer_name": model.producer_name,
        "producer_version": model.producer_version,
        "domain": model.domain,
        "model_version": model.model_version,
        "graph_name": model.graph.name,
        "opset_imports": opsets,
        # Before IR 4 initializers were listed among the inputs; callers never feed those.
        "inputs": [describe_value(value) for value in model.graph.input if value.name not in initializers],
        "outputs": [describe_value(value) for value in model.graph.output],
        "metadata_props": {prop.key: prop.value for prop in model.metadata_props},
        "graph_metadata_props": {prop.key: prop.value for prop in graph_metadata},
        "external_data_files": external_files,
        "warnings": warnings,
        "validated_with": {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
    }


def _looks_like_memory(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, MemoryError) or any(hint in text for hint in _MEMORY_HINTS)


def _address_space_used() -> int:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def validate(model_path: Path, allowed: set[str], memory_limit_bytes: int) -> dict[str, Any]:
    import onnx
    import onnxruntime

    size = model_path.stat().st_size
    headroom = memory_limit_bytes - _address_space_used()
    try:
        model = onnx.load_model(str(model_path), load_external_data=False)
    except MemoryError:
        raise
    except Exception as error:  # protobuf's DecodeError, or onnx's own complaints about what it read
        # protobuf reports an allocation failure while parsing as a decode error; parsing holds the file's bytes
        # and the parsed message at once, so a file that size cannot have been parsed within the limit.
        if 2 * size > headroom:
            raise MemoryError(f"parsing a {size}-byte model needs more than the memory left") from None
        with model_path.open("rb") as handle:
            first = handle.read(1)
        # Every ONNX writer puts ir_version (field 1, varint: tag 0x08) first.
        if first == b"\x08":
            raise Refused("truncated", f"The file starts like an ONNX model but cannot be parsed: {error}") from None
        raise Refused("not_onnx", f"The file is not an ONNX model (it does not parse as one: {error}).") from None
    if not model.HasField("graph") or model.ir_version <= 0:
        raise Refused("not_onnx", "The file parses, but it is not an ONNX model: it has no graph or no IR version.")

    external_files = check_external_data(model, allowed)

    warnings: list[str] = []
    try:
        onnx.checker.check_model(str(model_path))
    except MemoryError:
        raise
    except Exception as error:  # ValidationError mostly; the checker also raises plain errors on odd files
        raise Refused("checker_failed", f"The ONNX checker refused the model: {error}") from None
    try:
        onnx.checker.check_model(str(model_path), full_check=True)
    except MemoryError:
        raise
    except Exception as error:
        # Strict shape inference rejects some valid models (custom domains, converters' loose shapes); the session
        # below is the authority on whether the model runs, so this is reported but not fatal.
        warnings.append(f"Full shape inference failed: {error}")

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Only the ONNX protobuf format: never ORT's flatbuffer format, whatever the file turns out to be.
    options.add_session_config_entry("session.load_model_format", "ONNX")
    try:
        session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as error:
        if _looks_like_memory(error):
            raise
        raise Refused("runtime_failed", f"ONNX Runtime cannot load the model: {error}") from None
    report = build_report(model, external_files, warnings)
    run_once(session, report["inputs"], memory_limit_bytes, warnings)
    del session
    return report


# How the contract's element types become NumPy dtypes for the synthetic input (the contract uses NumPy's names).
_NUMPY_TYPES = {
    "float32", "float64", "float16", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool",
}  # fmt: skip


def synthetic_inputs(inputs: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str]:
    """A feed built from the interface contract, and what in it was guessed ("" when nothing was).

    Symbolic and unnamed dimensions are 1, numbers are zeros, strings empty. A tensor of unknown rank gets shape
    ``[1]`` (a guess); an input that cannot be built at all (a sequence, a map, a type NumPy has no name for) leaves
    no feed (None) and the reason.
    """
    import numpy

    feed: dict[str, Any] = {}
    guessed: list[str] = []
    for value in inputs:
        name, elem_type, shape = value["name"], value["elem_type"], value["shape"]
        if value["kind"] != "tensor" or (elem_type not in _NUMPY_TYPES and elem_type != "string"):
            return None, f"input {name!r} is a {elem_type} {value['kind']}, which no synthetic value is built for"
        if shape is None:
            guessed.append(f"input {name!r} has no known rank (fed as shape [1])")
            shape = [1]
        dims = [dim if isinstance(dim, int) else 1 for dim in shape]
        if elem_type == "string":
            feed[name] = numpy.full(dims, "", dtype=object)
        else:
            feed[name] = numpy.zeros(dims, dtype=elem_type)
    return feed, "; ".join(guessed)


def run_once(
    session: InferenceSession, inputs: list[dict[str, Any]], memory_limit_bytes: int, warnings: list[str]
) -> None:
    """Run the model once on a synthetic input built from its contract, under the child's limits.

    A model that loads but explodes when run (a ConstantOfShape or Expand to 10^10 elements, a runaway loop) is
    refused here instead of at inference: ``memory_limit`` when the run needs more than the memory limit, ``timeout``
    when it outlives the time limit (the CPU limit or the server's wall-clock kill), ``inference_failed`` when it
    fails on an input its contract fully describes. When the contract leaves part of the input to guess (unknown
    rank) or cannot be fed synthetically (sequences, maps), an ordinary failure is a warning: the input may be ours
    to blame. Running out of memory or time is never excused.
    """
    feed, guessed = synthetic_inputs(inputs)
    if feed is None:
        warnings.append(f"Not run on a synthetic input: {guessed}.")
        return
    shapes = ", ".join(f"{name} {list(array.shape)} {array.dtype}" for name, array in feed.items())
    try:
        session.run(None, feed)
    except Exception as error:
        if _looks_like_memory(error):
            raise Refused(
                "memory_limit",
                f"Running the model once on a synthetic input ({shapes}) needs more memory than the limit of "
                f"{memory_limit_bytes} bytes: {_short(error)}",
            ) from None
        if guessed:
            warnings.append(f"Running on a synthetic input failed, but {guessed}: {_short(error)}")
            return
        raise Refused(
            "inference_failed",
            f"The model loads but fails when run once on a synthetic input built from its interface contract "
            f"({shapes}; symbolic dimensions set to 1, zeros): {_short(error)}",
        ) from None


def _short(error: BaseException, limit: int = 600) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """Set the limits, then validate the model the request names; the answer to send back, refusals included."""
    try:
        _apply_limits(int(request["memory_limit_bytes"]), int(request["cpu_seconds"]))
        report = validate(Path(request["model"]), set(request["allowed_external"]), int(request["memory_limit_bytes"]))
    except Refused as refusal:
        return {"ok": False, "code": refusal.code, "message": refusal.message}
    except Exception as error:
        if _looks_like_memory(error):
            limit = request["memory_limit_bytes"]
            message = f"Validation ran out of memory under its limit of {limit} bytes. {error}".strip()
            return {"ok": False, "code": "memory_limit", "message": message}
        return {"ok": False, "code": "runtime_failed", "message": f"Validation failed: {error!r}"}
    return {"ok": True, "report": report}


def _reply(out: int, payload: dict[str, Any], private_folder: str) -> NoReturn:
    # The private folder is an implementation detail of the server; messages name only the files the client sent.
    if "message" in payload:
        payload["message"] = payload["message"].replace(private_folder + os.sep, "").replace(private_folder, ".")
    data = (json.dumps(payload) + "\n").encode()
    while data:
        data = data[os.write(out, data) :]
    os._exit(0)


def main() -> NoReturn:
    request = json.loads(sys.stdin.read())
    private_folder = str(Path(request["model"]).parent)
    # Libraries print to stdout at times; only our JSON goes to the real one.
    out = os.dup(1)
    os.dup2(2, 1)
    _reply(out, answer(request), private_folder)


# --- The fork server --------------------------------------------------------------------------------------------

# Linux prctl(2) options.
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
# What a request carries besides its JSON: the socket the child answers on, the socket the server reports the
# child's end on, and the file that receives the child's stderr.
_REQUEST_FDS = 3
_MAX_REQUEST_BYTES = 1024 * 1024
_REPLY_FD = 3


@dataclass
class _Child:
    status_fd: int
    deadline: float
    timed_out: bool = False


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(option, value, 0, 0, 0) == 0)


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1  # no /proc: nothing to count with; the imports below start no thread of ours


def _warm_up() -> dict[str, str]:
    """Import and exercise what every validation uses, on a model built here, so that forks inherit it ready.

    No ONNX Runtime session is created: forking a process that holds one (its thread pools, its allocators) is not
    safe, and the session is the part of validation that must see each upload fresh anyway.
    """
    import numpy  # noqa: F401  (onnx's numpy helpers)
    import onnx
    import onnx.checker
    import onnx.shape_inference
    import onnxruntime
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "warm-up",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 3]) for name in ("x", "w")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
    )
    model = onnx.load_model_from_string(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    )
    onnx.checker.check_model(model)
    onnx.checker.check_model(model, full_check=True)
    build_report(model, [], [])
    onnxruntime.SessionOptions()
    # Builds ONNX Runtime's kernel registries (what the first session of a process otherwise builds, about 2 ms of
    # every child's 6) without creating a session; it starts no thread, which serve() checks next.
    from onnxruntime.capi import _pybind_state

    _pybind_state.get_all_opkernel_def()
    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def _send(fd: int, payload: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the caller gave up and closed its end: nobody to tell
        os.write(fd, (json.dumps(payload) + "\n").encode())
    os.close(fd)


def _kill_group(pid: int) -> None:
    # The child leads a process group of its own (setsid), so this reaches anything it started. A child killed before
    # its setsid has no group yet: it is killed by pid. Its pid cannot have been reused: it is not reaped yet.
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def _become_validator(request: dict[str, Any], reply_fd: int, stderr_fd: int, server_pid: int) -> NoReturn:
    """The forked child: one upload, then exit, whatever happens (it must never fall back into the server loop)."""
    try:
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        os.setsid()
        # Dies with the server, so that no validation outlives the process that enforces its deadline.
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != server_pid:
            os._exit(1)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(stderr_fd, 2)
        os.dup2(2, 1)  # libraries print to stdout at times; only our JSON goes to the reply socket
        os.dup2(reply_fd, _REPLY_FD)
        # Everything else goes: the server's control socket and the report sockets of the other validations in
        # flight, so that this child can neither forge another's answer nor talk to the server.
        os.closerange(_REPLY_FD + 1, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536)
        private_folder = str(Path(request["model"]).parent)
        _reply(_REPLY_FD, answer(request), private_folder)
    finally:
        os._exit(1)


def serve() -> NoReturn:
    """The fork server's loop (module docstring). Exits when its parent closes the control socket."""
    versions = _warm_up()
    control = socket.socket(fileno=0)
    threads = _thread_count()
    if threads != 1:
        # A fork copies only the calling thread; a lock held by another one would never be released in the child.
        _send(os.dup(0), {"ready": False, "error": f"the validator server has {threads} threads; it forks only alone"})
        os._exit(1)
    # Children run as the same user: a child that a model took over must not be able to attach to the server.
    _prctl(_PR_SET_DUMPABLE, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, whose exit closes our socket
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    server_pid = os.getpid()
    children: dict[int, _Child] = {}
    gc.freeze()  # what the server holds stays out of the children's collections, and so unshared pages stay few
    control.sendall(json.dumps({"ready": True, "pid": server_pid, "versions": versions}).encode())
    poller = select.poll()
    poller.register(control, select.POLLIN)
    poller.register(wake_read, select.POLLIN)

    def reap() -> None:
        while children:
            try:
                # WNOWAIT: the child stays a zombie, its pid reserved, while what it started is killed.
                found = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if found is None:
                return
            _kill_group(found.si_pid)
            pid, status = os.waitpid(found.si_pid, 0)
            child = children.pop(pid, None)
            if child is not None:
                code = os.waitstatus_to_exitcode(status)
                _send(child.status_fd, {"pid": pid, "returncode": code, "timed_out": child.timed_out})

    while True:
        now = time.monotonic()
        for pid, child in children.items():
            if not child.timed_out and now >= child.deadline:
                _kill_group(pid)
                child.timed_out = True
        pending = [child.deadline - now for child in children.values() if not child.timed_out]
        timeout = max(0, int(min(pending) * 1000) + 1) if pending else None
        events = dict(poller.poll(timeout))
        if wake_read in events:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_read, 4096)
        if control.fileno() in events:
            try:
                message, fds, flags, _ = socket.recv_fds(control, _MAX_REQUEST_BYTES, _REQUEST_FDS)
            except OSError:
                message, fds, flags = b"", [], 0
            if not message:
                break  # the parent is gone
            if len(fds) != _REQUEST_FDS or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                for fd in fds:
                    os.close(fd)
                continue
            reply_fd, status_fd, stderr_fd = fds
            try:
                envelope = json.loads(message)
                request, seconds = envelope["request"], float(envelope["seconds"])
                pid = os.fork()
            except Exception as error:  # a malformed request or no fork: say so on its status socket
                os.close(reply_fd)
                os.close(stderr_fd)
                _send(status_fd, {"pid": 0, "returncode": None, "timed_out": False, "error": repr(error)})
                continue
            if pid == 0:
                control.detach()
                _become_validator(request, reply_fd, stderr_fd, server_pid)
            os.close(reply_fd)
            os.close(stderr_fd)
            children[pid] = _Child(status_fd=status_fd, deadline=time.monotonic() + seconds)
        reap()
    for pid, child in children.items():
        _kill_group(pid)
        os.waitpid(pid, 0)
        os.close(child.status_fd)
    os._exit(0)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    main()
