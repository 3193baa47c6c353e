"""The ONNX validator: what it accepts, what it reports, and everything it refuses (issue #3)."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from registry import onnx_validation
from registry.onnx_validation import (
    CHILD_MODULE,
    SERVER,
    OnnxValidationError,
    Refusal,
    ValidationSlots,
    _classify_crash,
    sniff,
    validate_onnx,
)

from . import hostile_onnx
from .conftest import MEMORY_TEST_LIMIT, Models


def refusal_of(path: Path, code: Refusal, **kwargs: object) -> OnnxValidationError:
    """The refusal of validating ``path``, which must carry ``code`` (its message starts with it)."""
    with pytest.raises(OnnxValidationError, match=f"^{code}: ") as caught:
        validate_onnx(path, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == code
    return caught.value


def leftovers(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir() if entry.name.startswith(".onnx-check-"))


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process we can read."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\x00", b" ").decode()
        except OSError:
            continue
        parent = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
        found[int(entry.name)] = (int(parent), cmdline)
    return found


def validator_children() -> list[int]:
    """Validator processes working for this test process that are still alive (zombies included): a fresh
    interpreter's, our own children, or the fork server's children. The fork server itself is not one of them."""
    processes = _processes()
    ours = {pid for pid, (parent, cmdline) in processes.items() if parent == os.getpid() and CHILD_MODULE in cmdline}
    servers = {pid for pid in ours if "--serve" in processes[pid][1]}
    return sorted(
        pid
        for pid, (parent, cmdline) in processes.items()
        if CHILD_MODULE in cmdline and pid not in servers and (parent in servers or pid in ours)
    )


@pytest.fixture(params=["fork server", "fresh interpreter"])
def each_way(request: pytest.FixtureRequest, settings: Any) -> str:
    """Runs a test through the fork server and again through a fresh interpreter per validation."""
    settings.ARTIFACT_VALIDATION_FORK_SERVER = request.param == "fork server"
    return str(request.param)


# --- Accepted models and their interface contract ------------------------------------------------------------------


def test_logistic_regression_contract(models: Models, each_way: str) -> None:
    """GIVEN a scikit-learn LogisticRegression converted by skl2onnx
    WHEN it is validated
    THEN it is accepted and its contract names the input, outputs, element types, shapes and opsets."""
    report = validate_onnx(models.logistic)

    assert report.inputs == [{"name": "X", "kind": "tensor", "elem_type": "float32", "shape": [None, 4]}]
    assert report.outputs == [
        {"name": "label", "kind": "tensor", "elem_type": "int64", "shape": [None]},
        {"name": "probabilities", "kind": "tensor", "elem_type": "float32", "shape": [None, 2]},
    ]
    assert report.producer_name == "skl2onnx"
    assert report.producer_version == "1.20.0"
    domains = {opset["domain"] for opset in report.opset_imports}
    assert domains == {"ai.onnx", "ai.onnx.ml"}
    assert report.ir_version >= 7
    assert report.external_data_files == []
    assert set(report.validated_with) == {"onnx", "onnxruntime"}
    assert leftovers(models.folder) == []


def test_tree_ensemble_contract_with_zipmap(models: Models) -> None:
    """GIVEN a RandomForestClassifier converted with skl2onnx's default ZipMap output
    WHEN it is validated
    THEN it is accepted and the non-tensor output is described by its full type."""
    report = validate_onnx(models.forest)

    assert report.inputs[0]["elem_type"] == "float32"
    probabilities = report.outputs[1]
    assert probabilities["kind"] == "sequence"
    assert probabilities["elem_type"] == "seq(map(int64,tensor(float32)))"
    assert probabilities["shape"] is None
    assert {"domain": "ai.onnx.ml", "version": 1} in report.opset_imports


def test_hand_built_graph_reports_symbolic_dims_and_metadata(models: Models) -> None:
    """GIVEN an Add graph with a symbolic batch dimension, producer fields and metadata properties
    WHEN it is validated
    THEN symbolic dims are reported by name and the metadata comes back as JSON-able data."""
    report = validate_onnx(models.add)

    assert [value["name"] for value in report.inputs] == ["x", "w"]
    assert report.inputs[0]["shape"] == ["batch", 3]
    assert report.outputs == [{"name": "y", "kind": "tensor", "elem_type": "float32", "shape": ["batch", 3]}]
    assert report.opset_imports == [{"domain": "ai.onnx", "version": 17}]
    assert report.producer_name == "assay-tests"
    assert report.producer_version == "1.0"
    assert report.model_version == 3
    assert report.metadata_props == {"owner": "team-a", "purpose": "tests"}
    as_dict = report.as_dict()
    assert as_dict["metadata_props"] == {"owner": "team-a", "purpose": "tests"}
    assert as_dict["inputs"] == report.inputs


# --- External data ------------------------------------------------------------------------------------------------


def test_external_data_uploaded_with_the_model_is_accepted(models: Models, tmp_path: Path) -> None:
    """GIVEN a model saved with its weights in an external file, and that file uploaded alongside it under a
    server-side name in another folder
    WHEN it is validated with the file declared under the name the model uses
    THEN the runtime finds exactly that file and the report lists it."""
    model = tmp_path / "upload-model.part"
    weights = tmp_path / "elsewhere" / "upload-weights.part"
    weights.parent.mkdir()
    shutil.copyfile(models.external, model)
    shutil.copyfile(models.external_weights, weights)

    report = validate_onnx(model, extra_files={"weights.bin": weights})

    assert report.external_data_files == ["weights.bin"]
    assert leftovers(tmp_path) == []


def test_external_data_not_declared_is_refused_even_if_present_on_disk(models: Models) -> None:
    """GIVEN a model whose external weights file sits right next to it on disk
    WHEN it is validated without declaring that file
    THEN it is refused: only uploaded files can be referenced, never whatever is lying around."""
    error = refusal_of(models.external, Refusal.EXTERNAL_DATA_REFUSED)

    assert error.code == Refusal.EXTERNAL_DATA_REFUSED
    assert "weights.bin" in error.message
    assert "not uploaded" in error.message


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("../../etc/passwd", "plain file name"),
        ("/etc/passwd", "plain file name"),
        ("sub/dir/x.bin", "plain file name"),
        ("..", "plain file name"),
        ("C:\\x.bin", "plain file name"),
        ("not_uploaded.bin", "not uploaded"),
    ],
)
def test_hostile_external_data_locations_are_refused(
    models: Models, tmp_path: Path, location: str, expected: str
) -> None:
    """GIVEN a model whose initializer claims its bytes live at a hostile or unknown location
    WHEN it is validated, with an unrelated file uploaded alongside
    THEN it is refused with external_data_refused naming the location."""
    other = tmp_path / "other.bin"
    other.write_bytes(bytes(12))

    error = refusal_of(
        models.external_locations[location], Refusal.EXTERNAL_DATA_REFUSED, extra_files={"other.bin": other}
    )

    assert error.code == Refusal.EXTERNAL_DATA_REFUSED
    assert repr(location) in error.message
    assert expected in error.message


def test_external_data_hidden_in_a_constant_node_is_refused(models: Models) -> None:
    """GIVEN a model whose Constant node (not an initializer) keeps its tensor in /etc/passwd
    WHEN it is validated
    THEN the reference is found and refused."""
    error = refusal_of(models.external_in_constant, Refusal.EXTERNAL_DATA_REFUSED)

    assert error.code == Refusal.EXTERNAL_DATA_REFUSED
    assert "'/etc/passwd'" in error.message


@pytest.mark.parametrize("name", ["../weights.bin", "/var/lib/weights.bin", "sub/weights.bin", "..", "model.onnx"])
def test_declared_external_file_names_must_be_plain(models: Models, name: str) -> None:
    """GIVEN an external data file declared under a name that is a path (or the model's own name)
    WHEN the model is validated
    THEN it is refused before anything is copied or started."""
    error = refusal_of(models.add, Refusal.EXTERNAL_DATA_REFUSED, extra_files={name: models.external_weights})

    assert error.code == Refusal.EXTERNAL_DATA_REFUSED


def test_declared_external_file_that_is_a_symlink_is_refused(models: Models, tmp_path: Path) -> None:
    """GIVEN the external data file declared for a model is a symlink (to /etc/passwd)
    WHEN the model is validated
    THEN it is refused: symlinks are never followed into the validator's folder."""
    link = tmp_path / "weights.bin"
    link.symlink_to("/etc/passwd")

    error = refusal_of(models.external, Refusal.EXTERNAL_DATA_REFUSED, extra_files={"weights.bin": link})

    assert error.code == Refusal.EXTERNAL_DATA_REFUSED
    assert "symlink" in error.message


# --- Files that are not ONNX, refused by sniffing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attribute", "code", "says"),
    [
        ("pickle", Refusal.PICKLE, "Python pickle"),
        ("joblib", Refusal.PICKLE, "Python pickle"),
        ("joblib_compressed", Refusal.NOT_ONNX, "zlib"),
        ("torch_zip", Refusal.ZIP_ARCHIVE, "PyTorch"),
        ("gzip", Refusal.NOT_ONNX, "gzip"),
        ("hdf5", Refusal.NOT_ONNX, "HDF5"),
        ("npy", Refusal.NOT_ONNX, "NumPy"),
        ("text", Refusal.NOT_ONNX, "text file"),
        ("empty", Refusal.NOT_ONNX, "empty"),
        ("tiny", Refusal.TRUNCATED, "too small"),
    ],
)
def test_files_that_are_not_onnx_are_refused_by_their_magic(
    models: Models, attribute: str, code: Refusal, says: str
) -> None:
    """GIVEN a file named .onnx that is really a pickle, a joblib dump, a PyTorch zip, a compressed file, an array...
    WHEN it is validated
    THEN it is refused with a code and a message saying what it looks like, without being parsed."""
    path = getattr(models, attribute)

    error = refusal_of(path, code)

    assert error.code == code
    assert says in error.message
    assert "not ONNX" in error.message or code in {Refusal.TRUNCATED} or attribute == "empty"


def test_pickle_is_never_loaded(models: Models, tmp_path: Path) -> None:
    """GIVEN a pickle whose loading would create a file (as a malicious one would run code)
    WHEN it is validated
    THEN it is refused as a pickle and the file was never created."""
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str, str]]:
            return (open, (str(marker), "w"))

    import pickle

    hostile = tmp_path / "model.onnx"
    hostile.write_bytes(pickle.dumps(Exploit()))

    error = refusal_of(hostile, Refusal.PICKLE)

    assert error.code == Refusal.PICKLE
    assert not marker.exists()


# --- Files refused by the child --------------------------------------------------------------------------------------


def test_truncated_model_is_refused_as_truncated(models: Models, each_way: str) -> None:
    """GIVEN the first half of a real model
    WHEN it is validated
    THEN it is refused as truncated."""
    error = refusal_of(models.truncated, Refusal.TRUNCATED)

    assert error.code == Refusal.TRUNCATED


def test_random_bytes_are_refused_as_not_onnx(models: Models, each_way: str) -> None:
    """GIVEN four kilobytes of random bytes
    WHEN they are validated
    THEN they are refused as not ONNX."""
    error = refusal_of(models.random, Refusal.NOT_ONNX)

    assert error.code == Refusal.NOT_ONNX


def test_checker_failure_is_reported(models: Models, each_way: str) -> None:
    """GIVEN a graph where a node reads a value nothing produces
    WHEN it is validated
    THEN the ONNX checker's refusal is reported as checker_failed."""
    error = refusal_of(models.checker_fails, Refusal.CHECKER_FAILED)

    assert error.code == Refusal.CHECKER_FAILED
    assert "missing" in error.message


def test_model_the_runtime_cannot_load_is_refused(models: Models, each_way: str) -> None:
    """GIVEN a well-formed model using an operator of an unknown domain
    WHEN it is validated
    THEN ONNX Runtime's refusal is reported as runtime_failed."""
    error = refusal_of(models.runtime_fails, Refusal.RUNTIME_FAILED)

    assert error.code == Refusal.RUNTIME_FAILED
    assert "Frobnicate" in error.message
    assert ".onnx-check-" not in error.message  # the server's private folder is not disclosed


# --- Limits -----------------------------------------------------------------------------------------------------


def test_memory_limit_kills_validation_not_the_parent(models: Models, each_way: str) -> None:
    """GIVEN a model with a 160 MB initializer, and a memory limit under which a small model still validates
    WHEN it is validated under that limit
    THEN it is refused with memory_limit, nothing is left behind, and the same model passes with the default limit
    (so the limit, not the model, was the cause)."""
    assert validate_onnx(models.add, memory_limit_bytes=MEMORY_TEST_LIMIT).outputs[0]["name"] == "y"

    error = refusal_of(models.big, Refusal.MEMORY_LIMIT, memory_limit_bytes=MEMORY_TEST_LIMIT)

    assert error.code == Refusal.MEMORY_LIMIT
    assert leftovers(models.folder) == []
    assert validator_children() == []
    assert validate_onnx(models.big).inputs[0]["shape"] == [40_000_000]


def test_timeout_kills_the_child(models: Models, each_way: str) -> None:
    """GIVEN a time limit far too short to parse a 160 MB model
    WHEN it is validated
    THEN it is refused with timeout, the child process is gone and its private folder removed."""
    error = refusal_of(models.big, Refusal.TIMEOUT, time_limit_seconds=0.05)

    assert error.code == Refusal.TIMEOUT
    assert "limit of 0.05 seconds" in error.message
    assert validator_children() == []
    assert leftovers(models.folder) == []


def test_limits_default_from_settings(models: Models, settings: object) -> None:
    """GIVEN ARTIFACT_VALIDATION_SECONDS set very low in the settings
    WHEN a model is validated without explicit limits
    THEN the setting applies."""
    settings.ARTIFACT_VALIDATION_SECONDS = 0.05  # type: ignore[attr-defined]

    refusal_of(models.big, Refusal.TIMEOUT)


def test_a_symlink_is_not_validated(models: Models, tmp_path: Path) -> None:
    """GIVEN a symlink pointing at a valid model
    WHEN it is validated
    THEN it is refused: uploads are regular files in the staging folder."""
    link = tmp_path / "model.onnx"
    link.symlink_to(models.add)

    refusal_of(link, Refusal.NOT_ONNX)


@pytest.mark.parametrize(
    ("head", "says"),
    [
        (b"\x00\x00\x00\x00\x00\x00\x01\x00" + b'{"__metadata__":{}}', "safetensors"),
        (b"\x1c\x00\x00\x00TFL3" + bytes(24), "TensorFlow Lite"),
        (b"\x1c\x00\x00\x00ORTM" + bytes(24), "ONNX Runtime (.ort)"),
        (b"\x7fELF\x02\x01\x01" + bytes(25), "executable"),
        (b"\xfd7zXZ\x00" + bytes(26), "xz"),
        (b"BZh91AY&SY" + bytes(22), "bzip2"),
        (b"(dp0\nS'a'\np1\nI1\ns.", "pickle"),
        (b"PK\x03\x04" + bytes(22) + b"\x09\x00\x00\x00arr_0.npy" + bytes(8), "NumPy .npz"),
    ],
)
def test_sniffing_names_other_formats(head: bytes, says: str) -> None:
    """GIVEN the first bytes of a file in another framework's or a compression format
    WHEN they are sniffed
    THEN the refusal says what the file looks like."""
    refusal = sniff(head, 4096)

    assert refusal is not None
    assert says in refusal.message


def test_sniffing_lets_an_onnx_header_through(models: Models) -> None:
    """GIVEN the first bytes of a real ONNX model
    WHEN they are sniffed
    THEN nothing is refused yet: parsing is the child's job."""
    head = models.logistic.read_bytes()[:512]

    assert sniff(head, models.logistic.stat().st_size) is None


@pytest.mark.parametrize(
    ("returncode", "stderr", "code"),
    [
        (-signal.SIGXCPU, "", Refusal.TIMEOUT),
        (-signal.SIGABRT, "terminate called after throwing an instance of 'std::bad_alloc'", Refusal.MEMORY_LIMIT),
        (1, "MemoryError", Refusal.MEMORY_LIMIT),
        (-signal.SIGKILL, "", Refusal.MEMORY_LIMIT),
        (-signal.SIGSEGV, "", Refusal.RUNTIME_FAILED),
    ],
)
def test_a_child_that_dies_without_answering_is_classified(returncode: int, stderr: str, code: Refusal) -> None:
    """GIVEN the validator child died without writing its answer (killed by a limit, or crashed)
    WHEN its exit status and error output are classified
    THEN CPU exhaustion reads as timeout, allocation failures and kernel kills as memory_limit, other crashes as
    runtime_failed."""
    assert _classify_crash(returncode, stderr).code == code


# --- The fork server ----------------------------------------------------------------------------------------------


def _while_validating(path: Path, during: Any) -> Any:
    """Validate ``path`` in a thread and call ``during()`` once its validator child is running; return both."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["report"] = validate_onnx(path)
        except Exception as error:
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while not validator_children() and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    seen = during()
    thread.join(60)
    assert not thread.is_alive()
    return outcome, seen


def test_each_upload_gets_a_fresh_child_of_the_server(models: Models) -> None:
    """GIVEN the fork server is running
    WHEN two models are validated one after the other
    THEN each ran in a child of its own (forked by the server, not the server itself), gone once it answered."""
    validate_onnx(models.add)
    server = SERVER.pid
    assert server
    assert server != os.getpid()

    first, children_first = _while_validating(models.big, validator_children)
    second, children_second = _while_validating(models.big, validator_children)

    assert "report" in first
    assert "report" in second
    assert len(children_first) == 1
    assert len(children_second) == 1
    assert children_first != children_second
    assert server not in children_first + children_second
    assert SERVER.pid == server
    assert validator_children() == []


def test_validations_from_several_threads_at_once_each_get_their_own_answer(models: Models, tmp_path: Path) -> None:
    """GIVEN one process validating from eight threads at once (a threaded server, say), good and bad models mixed,
    with eight validation slots
    WHEN the validations overlap
    THEN each gets the answer for its own model, and no child is left."""
    paths = [models.add, models.truncated, models.logistic, models.checker_fails] * 2
    answers: dict[int, Any] = {}
    slots = ValidationSlots(tmp_path / "slots", len(paths))

    def run(index: int) -> None:
        try:
            answers[index] = validate_onnx(paths[index], slots=slots).graph_name
        except OnnxValidationError as error:
            answers[index] = error.code

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(paths))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    expected = ["add", Refusal.TRUNCATED, validate_onnx(models.logistic).graph_name, Refusal.CHECKER_FAILED] * 2
    assert [answers[index] for index in range(len(paths))] == expected
    assert validator_children() == []


def test_the_server_is_single_threaded_and_keeps_nothing_of_our_environment(
    models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a secret in this process's environment when the fork server starts
    WHEN it serves a validation
    THEN its environment holds none of ours (only PATH, locale, thread counts, ONNX Runtime telemetry off) and it
    runs a single thread, the one that forks."""
    SERVER.stop()
    monkeypatch.setenv("DATABASE_URL", "postgres://secret@db/assay")

    validate_onnx(models.add)

    environ = Path(f"/proc/{SERVER.pid}/environ").read_bytes().split(b"\x00")
    names = {item.split(b"=", 1)[0].decode() for item in environ if item}
    assert "DATABASE_URL" not in names
    assert "PATH" in names
    assert names <= {
        "PATH",
        "LANG",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "MALLOC_ARENA_MAX",
        "ORT_DISABLE_TELEMETRY",
    }
    assert os.listdir(f"/proc/{SERVER.pid}/task") == [str(SERVER.pid)]


def test_a_dead_server_is_replaced(models: Models) -> None:
    """GIVEN the fork server was killed between two uploads
    WHEN the next model is validated
    THEN a new server takes over and the validation succeeds."""
    validate_onnx(models.add)
    dead = SERVER.pid
    os.kill(dead, signal.SIGKILL)

    report = validate_onnx(models.add)

    assert report.outputs[0]["name"] == "y"
    assert SERVER.pid not in {0, dead}


def test_a_server_killed_mid_validation_takes_its_child_along_and_the_upload_is_validated_again(
    models: Models,
) -> None:
    """GIVEN a validation in progress
    WHEN its fork server is killed
    THEN the child dies with it (nothing is left running), and the upload is validated by a new server."""
    validate_onnx(models.add)
    dead = SERVER.pid

    def kill_server() -> list[int]:
        children = validator_children()
        os.kill(dead, signal.SIGKILL)
        return children

    outcome, children = _while_validating(models.big, kill_server)

    assert children, "the validation was not caught running"
    assert outcome.get("report") is not None, outcome
    assert SERVER.pid not in {0, dead}
    deadline = time.monotonic() + 10
    while any(pid in _processes() for pid in children) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(pid in _processes() for pid in children)


def test_a_forked_process_starts_a_server_of_its_own(models: Models) -> None:
    """GIVEN a process that forks after its fork server started (a Celery prefork worker, gunicorn --preload)
    WHEN the forked child validates
    THEN it uses a server of its own, and the parent's server still serves the parent."""
    validate_onnx(models.add)
    parent_server = SERVER.pid
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            inherited = SERVER.pid
            validate_onnx(models.add)
            os.write(write_end, f"{inherited} {SERVER.pid}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    answer = os.read(read_end, 100).decode()
    os.close(read_end)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    inherited, child_server = (int(value) for value in answer.split())
    assert inherited == 0
    assert child_server not in {0, parent_server}
    assert validate_onnx(models.add).outputs[0]["name"] == "y"
    assert SERVER.pid == parent_server


def test_a_server_that_cannot_start_falls_back_to_fresh_interpreters(
    models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a fork server that cannot start (here: its command fails at once)
    WHEN models are validated
    THEN it is tried twice, then each upload gets a fresh interpreter: accepted and refused as before."""
    broken = onnx_validation.ValidatorServer(command=[sys.executable, "-c", "raise SystemExit(3)"])
    monkeypatch.setattr(onnx_validation, "SERVER", broken)

    assert validate_onnx(models.add).outputs[0]["name"] == "y"
    assert not broken.usable
    refusal_of(models.truncated, Refusal.TRUNCATED)
    assert validator_children() == []


def test_the_server_refuses_to_fork_with_a_second_thread(models: Models) -> None:
    """GIVEN ONNX Runtime's telemetry left on, which starts a thread when it is imported
    WHEN a fork server is started
    THEN it refuses to serve (a fork copies one thread; a lock held by another would stay locked in every child)."""
    environment = onnx_validation._child_environment()
    del environment["ORT_DISABLE_TELEMETRY"]
    server = onnx_validation.ValidatorServer(environment=environment)

    assert server.validate({}, 5.0) is None
    assert not server.usable


# --- One run on a synthetic input, and models that hold the validator (issue #10) ----------------------------------


def _hostile(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("op", ["ConstantOfShape", "Expand"])
def test_a_model_that_explodes_when_run_is_refused(op: str, tmp_path: Path, each_way: str) -> None:
    """GIVEN a model that loads in milliseconds but asks for 10^10 elements when run (ConstantOfShape or Expand
    to a shape that depends on the input)
    WHEN it is validated
    THEN the one run on a synthetic input meets the memory limit: refused with memory_limit, naming the limit and the
    synthetic input, and no child is left behind."""
    path = _hostile(tmp_path, f"{op}.onnx", hostile_onnx.exploding(op))

    error = refusal_of(path, Refusal.MEMORY_LIMIT, memory_limit_bytes=1024**3)

    assert error.code == Refusal.MEMORY_LIMIT
    assert "limit of 1073741824 bytes" in error.message
    assert "synthetic input (x [1] float32)" in error.message
    assert validator_children() == []
    assert leftovers(tmp_path) == []


def test_a_model_that_fails_on_an_input_its_contract_allows_is_refused(tmp_path: Path, each_way: str) -> None:
    """GIVEN a model that loads but cannot run on any input its contract describes ([batch, 3] reshaped to [4])
    WHEN it is validated
    THEN it is refused with inference_failed, saying what it was fed."""
    error = refusal_of(_hostile(tmp_path, "reshape.onnx", hostile_onnx.fails_when_run()), Refusal.INFERENCE_FAILED)

    assert error.code == Refusal.INFERENCE_FAILED
    assert "x [1, 3] float32" in error.message
    assert "Reshape" in error.message


def test_a_model_with_an_input_no_synthetic_value_is_built_for_is_accepted_with_a_warning(tmp_path: Path) -> None:
    """GIVEN a valid model whose input is a sequence of tensors (no synthetic value is built for those)
    WHEN it is validated
    THEN it is accepted, with a warning that it was not run."""
    report = validate_onnx(_hostile(tmp_path, "sequence.onnx", hostile_onnx.sequence_input()))

    assert [warning for warning in report.warnings if "Not run on a synthetic input" in warning]


def test_valid_models_pass_their_synthetic_run_without_warnings(models: Models) -> None:
    """GIVEN the valid models of the suite (LogisticRegression, a RandomForest with ZipMap output, a hand-built graph)
    WHEN they are validated
    THEN the synthetic run passes and leaves no warning about it."""
    for path in (models.logistic, models.forest, models.add):
        warnings = validate_onnx(path).warnings
        assert not [warning for warning in warnings if "synthetic" in warning], (path, warnings)


def test_a_model_whose_session_takes_minutes_to_build_is_stopped_at_the_limit(tmp_path: Path, each_way: str) -> None:
    """GIVEN a few KB whose ONNX Runtime session takes minutes to build (ConstantOfShape into a chain of MatMuls)
    WHEN it is validated under a 1-second limit
    THEN it is refused with timeout, naming the limit, within a few seconds, and no child is left behind."""
    path = _hostile(tmp_path, "slow.onnx", hostile_onnx.slow_session())
    assert path.stat().st_size < 8192

    started = time.monotonic()
    error = refusal_of(path, Refusal.TIMEOUT, time_limit_seconds=1)

    assert time.monotonic() - started < 1 + onnx_validation.SERVER_GRACE_SECONDS
    assert error.code == Refusal.TIMEOUT
    assert "limit of 1 second " in error.message
    assert validator_children() == []


def test_a_retry_after_the_server_died_gets_what_is_left_of_the_time_limit(tmp_path: Path, settings: Any) -> None:
    """GIVEN a slow model validating under a 4-second limit
    WHEN its fork server is killed 3 seconds in (the upload is then validated again by a new server)
    THEN the retry gets only what is left of the 4 seconds: the refusal (timeout, naming 4 seconds) comes within 1.5
    times the limit, where a fresh limit would have taken over 7 seconds."""
    settings.ARTIFACT_VALIDATION_SECONDS = 4
    path = _hostile(tmp_path, "slow.onnx", hostile_onnx.slow_session())
    validate_onnx(_hostile(tmp_path, "add.onnx", hostile_onnx.valid_add()))
    dead = SERVER.pid
    started = time.monotonic()

    def kill_server_later() -> None:
        time.sleep(max(0.0, 3 - (time.monotonic() - started)))
        os.kill(dead, signal.SIGKILL)

    outcome, _ = _while_validating(path, kill_server_later)
    elapsed = time.monotonic() - started

    error = outcome.get("error")
    assert isinstance(error, OnnxValidationError), outcome
    assert error.code == Refusal.TIMEOUT
    assert "limit of 4 seconds" in error.message
    assert elapsed < 4 * 1.5 + 0.5, elapsed
    assert validator_children() == []
