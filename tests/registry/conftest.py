"""Real models and real hostile files for the artifact store and the ONNX validator.

Everything is built here, once per session, in a temp folder: scikit-learn models converted by skl2onnx, graphs
written with onnx.helper, and files that only pretend to be models. The pickles are written and never loaded.
"""

from __future__ import annotations

import gzip
import io
import pickle
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import to_onnx
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from registry.artifacts import ArtifactStore

OPSET = 17
# Large enough that parsing it cannot fit in MEMORY_TEST_LIMIT next to the runtime libraries (about 170 MB of
# address space), small enough to write quickly.
BIG_INITIALIZER_FLOATS = 40_000_000
MEMORY_TEST_LIMIT = 320 * 1024**2


@pytest.fixture
def store(settings: Any, tmp_path: Path) -> ArtifactStore:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    return ArtifactStore.default()


def _add_graph(*, initializer: TensorProto | None = None, **model_fields: Any) -> onnx.ModelProto:
    """y = x + w, with w an input or, when given, an initializer."""
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])]
    initializers = []
    if initializer is None:
        inputs.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, ["batch", 3]))
    else:
        initializers.append(initializer)
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "add",
        inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializer=initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], **model_fields)


def _external_tensor(location: str) -> TensorProto:
    weights = numpy_helper.from_array(np.ones(3, dtype=np.float32), "w")
    weights.ClearField("raw_data")
    weights.data_location = TensorProto.EXTERNAL
    for key, value in {"location": location, "offset": "0", "length": "12"}.items():
        weights.external_data.add(key=key, value=value)
    return weights


def _with_external_location(location: str) -> onnx.ModelProto:
    return _add_graph(initializer=_external_tensor(location))


def _constant_with_external_location(location: str) -> onnx.ModelProto:
    """The reference hidden in a Constant node's attribute rather than among the initializers."""
    graph = helper.make_graph(
        [
            helper.make_node("Constant", [], ["w"], value=_external_tensor(location)),
            helper.make_node("Add", ["x", "w"], ["y"]),
        ],
        "constant",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


@dataclass(frozen=True)
class Models:
    folder: Path
    logistic: Path
    forest: Path
    add: Path
    external: Path  # its data is in the sibling file external_weights
    external_weights: Path
    external_locations: dict[str, Path]  # hostile location -> a model referencing it
    external_in_constant: Path  # a Constant node whose tensor points at /etc/passwd
    checker_fails: Path
    runtime_fails: Path
    big: Path
    pickle: Path
    joblib: Path
    joblib_compressed: Path
    torch_zip: Path
    gzip: Path
    hdf5: Path
    npy: Path
    text: Path
    truncated: Path
    random: Path
    tiny: Path
    empty: Path


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    folder = tmp_path_factory.mktemp("models")

    def save(name: str, model: onnx.ModelProto) -> Path:
        path = folder / name
        onnx.save_model(model, path)
        return path

    def write(name: str, data: bytes) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    rng = np.random.default_rng(7)
    features = rng.normal(size=(300, 4)).astype(np.float32)
    labels = (features[:, 0] + features[:, 1] > 0).astype(np.int64)
    logistic = to_onnx(LogisticRegression().fit(features, labels), features[:1], options={"zipmap": False})
    forest_model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(features, labels)
    forest = to_onnx(forest_model, features[:1])

    add = _add_graph(producer_name="assay-tests", producer_version="1.0", model_version=3)
    helper.set_model_props(add, {"owner": "team-a", "purpose": "tests"})

    external_folder = folder / "external"
    external_folder.mkdir()
    external_model = _add_graph(initializer=numpy_helper.from_array(np.arange(3, dtype=np.float32), "w"))
    onnx.save_model(
        external_model,
        external_folder / "model.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )

    locations = ["../../etc/passwd", "/etc/passwd", "sub/dir/x.bin", "not_uploaded.bin", "..", "C:\\x.bin"]
    external_locations = {
        location: save(f"external-{index}.onnx", _with_external_location(location))
        for index, location in enumerate(locations)
    }

    # A node reading a value nothing produces: the checker refuses the graph.
    broken = helper.make_graph(
        [helper.make_node("Add", ["x", "missing"], ["y"])],
        "broken",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
    )
    # An operator of a domain the checker does not know and the runtime cannot run.
    unknown = helper.make_graph(
        [helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example")],
        "unknown",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
    )
    big_weights = numpy_helper.from_array(np.zeros(BIG_INITIALIZER_FLOATS, dtype=np.float32), "w")
    big = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [BIG_INITIALIZER_FLOATS])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [BIG_INITIALIZER_FLOATS])],
        initializer=[big_weights],
    )

    torch_zip = io.BytesIO()
    with zipfile.ZipFile(torch_zip, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"weights": [1.0, 2.0]}))
        archive.writestr("archive/version", "3\n")
    npy = io.BytesIO()
    np.save(npy, np.zeros(4))
    joblib_path = folder / "model.joblib.onnx"
    joblib.dump({"coef": [1.0, 2.0]}, joblib_path)
    joblib_compressed = folder / "model.joblib-z.onnx"
    joblib.dump({"coef": [1.0, 2.0]}, joblib_compressed, compress=3)
    logistic_bytes = logistic.SerializeToString()

    return Models(
        folder=folder,
        logistic=save("logistic.onnx", logistic),
        forest=save("forest.onnx", forest),
        add=save("add.onnx", add),
        external=external_folder / "model.onnx",
        external_weights=external_folder / "weights.bin",
        external_locations=external_locations,
        external_in_constant=save("external-constant.onnx", _constant_with_external_location("/etc/passwd")),
        checker_fails=save("broken.onnx", helper.make_model(broken, opset_imports=[helper.make_opsetid("", OPSET)])),
        runtime_fails=save(
            "unknown-op.onnx",
            helper.make_model(
                unknown, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.example", 1)]
            ),
        ),
        big=save("big.onnx", helper.make_model(big, opset_imports=[helper.make_opsetid("", OPSET)])),
        pickle=write("model.pkl.onnx", pickle.dumps({"harmless": True})),
        joblib=joblib_path,
        joblib_compressed=joblib_compressed,
        torch_zip=write("model.pt.onnx", torch_zip.getvalue()),
        gzip=write("model.gz.onnx", gzip.compress(logistic_bytes)),
        hdf5=write("model.h5.onnx", b"\x89HDF\r\n\x1a\n" + bytes(504)),
        npy=write("weights.npy.onnx", npy.getvalue()),
        text=write("readme.onnx", b'{"model": "not really"}\n'),
        truncated=write("truncated.onnx", logistic_bytes[: len(logistic_bytes) // 2]),
        random=write("random.onnx", random.Random(3).randbytes(4096)),
        tiny=write("tiny.onnx", b"\x08\x07"),
        empty=write("empty.onnx", b""),
    )
