"""ONNX export of a fitted Spark ML pipeline, and the parity of ONNX Runtime's scores with Spark's.

Step 8 of ``registry.pipelines.training.train``: ``export_onnx`` converts the pipeline with onnxmltools (one float32
``[N, 1]`` input per feature, named after it); ``parity`` scores held-out rows with ONNX Runtime and returns the
largest absolute difference from Spark's positive-class probability; ``check_parity`` raises ``ParityError`` above
the tolerance (the job's ``parity_tolerance``, else the ``TRAINING_PARITY_TOLERANCE`` setting, else
``DEFAULT_PARITY_TOLERANCE``: chosen by ``registry.pipelines.training.train`` and its caller).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from registry.pipelines.training_data import POSITIVE_COL, TrainingError

if TYPE_CHECKING:
    from pyspark.ml import PipelineModel
    from pyspark.sql import SparkSession

DEFAULT_PARITY_TOLERANCE = 1e-4


class ParityError(TrainingError):
    """ONNX Runtime's scores differ from Spark's by more than the tolerance."""


def export_onnx(spark: SparkSession, pipeline: PipelineModel, features: Sequence[str]) -> bytes:
    """The fitted pipeline as ONNX, one float32 ``[N, 1]`` input per feature, named after it."""
    from onnxmltools import convert_sparkml  # type: ignore[import-untyped]
    from onnxmltools.convert.common.data_types import FloatTensorType  # type: ignore[import-untyped]

    initial_types = [(name, FloatTensorType([None, 1])) for name in features]
    # The linear converter prints its attributes to stdout; they belong nowhere.
    with contextlib.redirect_stdout(io.StringIO()):
        model = convert_sparkml(pipeline, "assay-spark-ml", initial_types, spark_session=spark)
    return bytes(model.SerializeToString())


def parity(onnx_bytes: bytes, sample: Any, features: Sequence[str]) -> float:
    """Largest absolute difference between Spark's positive-class probability (``sample[POSITIVE_COL]``) and ONNX
    Runtime's for the same rows (``sample``: a pandas frame of the features and Spark's score)."""
    import onnxruntime

    if len(sample) == 0:
        raise TrainingError("No held-out rows to check the ONNX model's scores against Spark's.")
    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    feeds = {name: sample[name].to_numpy(dtype=np.float32).reshape(-1, 1) for name in features}
    outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True))
    onnx_positive = np.asarray(outputs["probability"])[:, 1]
    return float(np.max(np.abs(onnx_positive - sample[POSITIVE_COL].to_numpy(dtype=np.float64))))


def check_parity(difference: float, tolerance: float) -> None:
    if not difference <= tolerance:
        raise ParityError(
            f"The ONNX model's positive-class probability differs from Spark's by up to {difference:.3g} on "
            f"held-out rows, above the tolerance of {tolerance:g}: the export is not registered."
        )
