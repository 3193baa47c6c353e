"""The ONNX validator: what it accepts, what it reports, and everything it refuses (issue #3)."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from registry.onnx_validation import (
    CHILD_MODULE,
    OnnxValidationError,
    Refusal,
    _classify_crash,
    sniff,
    validate_onnx,
)

from .conftest import MEMORY_TEST_LIMIT, Models


def refusal_of(path: Path, **kwargs: object) -> OnnxValidationError:
    with pytest.raises(OnnxValidationError) as caught:
        validate_onnx(path, **kwargs)  # type: ignore[arg-type]
    return caught.value


def leftovers(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir() if entry.name.startswith(".onnx-check-"))


def validator_children() -> list[int]:
    """Validator processes started by this test process that are still alive (zombies included)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\x00", b" ").decode()
        except OSError:
            continue
        parent = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
        if int(parent) == os.getpid() and CHILD_MODULE in cmdline:
            found.append(int(entry.name))
    return found


# --- Accepted models and their interface contract ------------------------------------------------------------------


def test_logistic_regression_contract(models: Models) -> None:
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
    error = refusal_of(models.external)

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

    error = refusal_of(models.external_locations[location], extra_files={"other.bin": other})

    assert error.code == Refusal.EXTERNAL_DATA_REFUSED
    assert repr(location) in error.message
    assert expected in error.message


def test_external_data_hidden_in_a_constant_node_is_refused(models: Models) -> None:
    """GIVEN a model whose Constant node (not an initializer) keeps its tensor in /etc/passwd
    WHEN it is validated
    THEN the reference is found and refused."""
    error = refusal_of(models.external_in_constant)

    assert error.code == Refusal.EXTERNAL_DATA_REFUSED
    assert "'/etc/passwd'" in error.message


@pytest.mark.parametrize("name", ["../weights.bin", "/var/lib/weights.bin", "sub/weights.bin", "..", "model.onnx"])
def test_declared_external_file_names_must_be_plain(models: Models, name: str) -> None:
    """GIVEN an external data file declared under a name that is a path (or the model's own name)
    WHEN the model is validated
    THEN it is refused before anything is copied or started."""
    error = refusal_of(models.add, extra_files={name: models.external_weights})

    assert error.code == Refusal.EXTERNAL_DATA_REFUSED


def test_declared_external_file_that_is_a_symlink_is_refused(models: Models, tmp_path: Path) -> None:
    """GIVEN the external data file declared for a model is a symlink (to /etc/passwd)
    WHEN the model is validated
    THEN it is refused: symlinks are never followed into the validator's folder."""
    link = tmp_path / "weights.bin"
    link.symlink_to("/etc/passwd")

    error = refusal_of(models.external, extra_files={"weights.bin": link})

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

    error = refusal_of(path)

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

    error = refusal_of(hostile)

    assert error.code == Refusal.PICKLE
    assert not marker.exists()


# --- Files refused by the child --------------------------------------------------------------------------------------


def test_truncated_model_is_refused_as_truncated(models: Models) -> None:
    """GIVEN the first half of a real model
    WHEN it is validated
    THEN it is refused as truncated."""
    error = refusal_of(models.truncated)

    assert error.code == Refusal.TRUNCATED


def test_random_bytes_are_refused_as_not_onnx(models: Models) -> None:
    """GIVEN four kilobytes of random bytes
    WHEN they are validated
    THEN they are refused as not ONNX."""
    error = refusal_of(models.random)

    assert error.code == Refusal.NOT_ONNX


def test_checker_failure_is_reported(models: Models) -> None:
    """GIVEN a graph where a node reads a value nothing produces
    WHEN it is validated
    THEN the ONNX checker's refusal is reported as checker_failed."""
    error = refusal_of(models.checker_fails)

    assert error.code == Refusal.CHECKER_FAILED
    assert "missing" in error.message


def test_model_the_runtime_cannot_load_is_refused(models: Models) -> None:
    """GIVEN a well-formed model using an operator of an unknown domain
    WHEN it is validated
    THEN ONNX Runtime's refusal is reported as runtime_failed."""
    error = refusal_of(models.runtime_fails)

    assert error.code == Refusal.RUNTIME_FAILED
    assert "Frobnicate" in error.message
    assert ".onnx-check-" not in error.message  # the server's private folder is not disclosed


# --- Limits -----------------------------------------------------------------------------------------------------


def test_memory_limit_kills_validation_not_the_parent(models: Models) -> None:
    """GIVEN a model with a 160 MB initializer, and a memory limit under which a small model still validates
    WHEN it is validated under that limit
    THEN it is refused with memory_limit, nothing is left behind, and the same model passes with the default limit
    (so the limit, not the model, was the cause)."""
    assert validate_onnx(models.add, memory_limit_bytes=MEMORY_TEST_LIMIT).outputs[0]["name"] == "y"

    error = refusal_of(models.big, memory_limit_bytes=MEMORY_TEST_LIMIT)

    assert error.code == Refusal.MEMORY_LIMIT
    assert leftovers(models.folder) == []
    assert validator_children() == []
    assert validate_onnx(models.big).inputs[0]["shape"] == [40_000_000]


def test_timeout_kills_the_child(models: Models) -> None:
    """GIVEN a time limit far too short for any validation
    WHEN a normal model is validated
    THEN it is refused with timeout, the child process is gone and its private folder removed."""
    error = refusal_of(models.logistic, time_limit_seconds=0.05)

    assert error.code == Refusal.TIMEOUT
    assert validator_children() == []
    assert leftovers(models.folder) == []


def test_limits_default_from_settings(models: Models, settings: object) -> None:
    """GIVEN ARTIFACT_VALIDATION_SECONDS set very low in the settings
    WHEN a model is validated without explicit limits
    THEN the setting applies."""
    settings.ARTIFACT_VALIDATION_SECONDS = 0.05  # type: ignore[attr-defined]

    assert refusal_of(models.logistic).code == Refusal.TIMEOUT


def test_a_symlink_is_not_validated(models: Models, tmp_path: Path) -> None:
    """GIVEN a symlink pointing at a valid model
    WHEN it is validated
    THEN it is refused: uploads are regular files in the staging folder."""
    link = tmp_path / "model.onnx"
    link.symlink_to(models.add)

    assert refusal_of(link).code == Refusal.NOT_ONNX


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
