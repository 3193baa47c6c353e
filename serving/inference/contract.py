"""A request's inputs checked against the model version's interface contract, and turned into ONNX Runtime feeds.

A function of data, no database: the interface is ``ModelVersion.interface`` (what registry.onnx_validation read
from the graph). Two request shapes reach it:

- the Open Inference Protocol's ``inputs`` (``[{name, shape, datatype, data}]``), checked input by input: every
  input of the model given once and nothing else, its datatype the model's, its shape of the model's rank with the
  model's fixed dimensions, as many values as the shape holds, each of the datatype;
- the rows form's ``rows`` (``[{feature: value}]``), fed as registry.interface says columns feed the model (one
  input per feature, or one matrix input whose columns the model's ``features`` metadata names), checked row by row.

The interface records no nullability: ONNX tensors have no missing value, so ``null``, NaN and infinities are
refused in every input unless its interface entry says ``"nullable": true`` (then ``null`` is fed as NaN to a float
input). Every refusal is a ``BadInput`` whose message names the input (``x``) or the cell (``rows[3].income``);
more rows than the service's limit is ``TooManyRows`` (413).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from audits.pipelines.scoring import ScoringError, score_output
from registry.interface import InputFeed, InterfaceError, input_feeds

# Open Inference Protocol datatypes and the numpy element types (as registry.onnx_validation names them) they carry.
OIP_DATATYPES = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "string",
}
ELEM_TO_OIP = {elem: oip for oip, elem in OIP_DATATYPES.items()} | {"float": "FP32", "double": "FP64"}
_INTEGERS = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})
_NUMPY = {elem: (np.dtype(object) if elem == "string" else np.dtype(elem)) for elem in OIP_DATATYPES.values()}


class BadInput(ValueError):
    """The request's inputs break the contract; the message names the input or cell (400)."""


class TooManyRows(ValueError):
    """More rows than the service scores in one request (413)."""


@dataclass(frozen=True)
class TensorSpec:
    """One tensor input or output of the contract: numpy element type, shape (ints for fixed dimensions, None for
    free ones; None for an unknown rank) and whether missing values may be fed."""

    name: str
    elem_type: str
    shape: tuple[int | None, ...] | None
    nullable: bool = False

    @property
    def datatype(self) -> str:
        return ELEM_TO_OIP.get(self.elem_type, self.elem_type.upper())

    @property
    def oip_shape(self) -> list[int]:
        """The shape as OIP metadata gives it: -1 for a free dimension."""
        return [-1 if dim is None else dim for dim in (self.shape or ())]

    def as_metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": self.oip_shape}


def _spec(value: dict[str, Any]) -> TensorSpec:
    shape = value.get("shape")
    dims = None if shape is None else tuple(dim if isinstance(dim, int) and dim >= 0 else None for dim in shape)
    return TensorSpec(str(value.get("name", "")), str(value.get("elem_type", "")), dims, bool(value.get("nullable")))


@dataclass(frozen=True)
class Contract:
    """What a model version takes and gives, read once when it is loaded."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    feeds: tuple[InputFeed, ...] | None  # None: the rows form cannot feed this model (``rows_error`` says why)
    rows_error: str
    score: tuple[str, int | None] | None  # score_output's rule: the output and column of the single score

    @classmethod
    def of(cls, interface: dict[str, Any]) -> Contract:
        inputs = tuple(_spec(value) for value in interface.get("inputs") or [])
        outputs = tuple(_spec(value) for value in interface.get("outputs") or [])
        try:
            feeds: tuple[InputFeed, ...] | None = tuple(input_feeds(interface))
            rows_error = ""
        except InterfaceError as error:
            feeds, rows_error = None, str(error)
        try:
            score: tuple[str, int | None] | None = score_output(interface)
        except ScoringError:
            score = None
        return cls(inputs, outputs, feeds, rows_error, score)

    @cached_property
    def features(self) -> list[str]:
        return list(dict.fromkeys(column for feed in self.feeds or () for column in feed.columns))

    @cached_property
    def column_types(self) -> dict[str, str]:
        """Each feature's element type (the rows form)."""
        return {column: feed.elem_type for feed in self.feeds or () for column in feed.columns}


# --- Values ------------------------------------------------------------------------------------------------------


def _check_value(value: Any, elem_type: str, nullable: bool, where: str) -> Any:
    """``value`` as it may be fed to an ``elem_type`` tensor; BadInput naming ``where`` if it may not."""
    kind = type(value)
    if elem_type.startswith("float"):
        if kind is float:
            if math.isfinite(value):
                return value
            if nullable and value != value:
                return value
            raise BadInput(f"{where} is {value}: the contract allows only finite numbers.")
        if kind is int:
            return value
        if value is None:
            if nullable:
                return math.nan
            raise BadInput(f"{where} is missing (null): the contract allows no missing value.")
        raise BadInput(f"{where} is {_describe(value)}: the model takes a number ({elem_type}).")
    if elem_type == "bool":
        if kind is bool:
            return value
        raise BadInput(f"{where} is {_describe(value)}: the model takes true or false.")
    if elem_type == "string":
        if kind is str:
            return value
        raise BadInput(f"{where} is {_describe(value)}: the model takes a string.")
    if kind is int:
        info = np.iinfo(np.dtype(elem_type)) if elem_type in _INTEGERS else None
        if info is not None and not info.min <= value <= info.max:
            raise BadInput(f"{where} is {value}: outside the range of {elem_type}.")
        return value
    if kind is float and value.is_integer():
        return int(value)
    if value is None:
        raise BadInput(f"{where} is missing (null): the contract allows no missing value.")
    raise BadInput(f"{where} is {_describe(value)}: the model takes an integer ({elem_type}).")


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return repr(value)


def _array(values: list[Any], elem_type: str) -> np.ndarray:
    return np.asarray(values, dtype=_NUMPY.get(elem_type, np.dtype(np.float32)))


# --- Open Inference Protocol ---------------------------------------------------------------------------------------


def _flatten(data: Any, name: str) -> list[Any]:
    """OIP data arrives flat (row-major) or nested to the shape; either way the values in row-major order."""
    if not isinstance(data, list):
        raise BadInput(f"Input {name!r}: 'data' must be a list of values.")
    if not any(isinstance(item, list) for item in data):
        return data
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def _shape_fits(shape: list[int], spec: TensorSpec) -> bool:
    if spec.shape is None:
        return True
    return len(shape) == len(spec.shape) and all(
        want is None or want == got for want, got in zip(spec.shape, shape, strict=True)
    )


def oip_feeds(contract: Contract, inputs: Any, *, max_rows: int) -> dict[str, np.ndarray]:
    """The feeds of an OIP ``inputs`` list, checked against the contract."""
    if not isinstance(inputs, list) or not inputs:
        raise BadInput("'inputs' must be a non-empty list of {name, shape, datatype, data}.")
    specs = {spec.name: spec for spec in contract.inputs}
    given: dict[str, dict[str, Any]] = {}
    for position, tensor in enumerate(inputs):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise BadInput(f"inputs[{position}] must be an object with a 'name'.")
        name = tensor["name"]
        if name not in specs:
            raise BadInput(f"Input {name!r} is not an input of the model (its inputs: {', '.join(specs)}).")
        if name in given:
            raise BadInput(f"Input {name!r} is given twice.")
        given[name] = tensor
    missing = [name for name in specs if name not in given]
    if missing:
        raise BadInput(f"Input {missing[0]!r} is missing (the model takes {', '.join(specs)}).")
    feeds: dict[str, np.ndarray] = {}
    batch: int | None = None
    for name, tensor in given.items():
        spec = specs[name]
        datatype = tensor.get("datatype")
        if datatype != spec.datatype:
            raise BadInput(f"Input {name!r} has datatype {datatype!r}; the model takes {spec.datatype}.")
        shape = tensor.get("shape")
        if not isinstance(shape, list) or not all(type(dim) is int and dim >= 0 for dim in shape):
            raise BadInput(f"Input {name!r}: 'shape' must be a list of non-negative integers.")
        if not _shape_fits(shape, spec):
            raise BadInput(f"Input {name!r} has shape {shape}; the model takes {spec.oip_shape} (-1: any).")
        if shape:
            if shape[0] > max_rows:
                raise TooManyRows(f"Input {name!r} holds {shape[0]} rows; at most {max_rows} per request.")
            if spec.shape and spec.shape[0] is None:
                if batch is not None and shape[0] != batch:
                    raise BadInput(f"Input {name!r} has {shape[0]} rows where the other inputs have {batch}.")
                batch = shape[0]
        values = _flatten(tensor.get("data"), name)
        expected = math.prod(shape)
        if len(values) != expected:
            raise BadInput(f"Input {name!r} has {len(values)} values; its shape {shape} holds {expected}.")
        if spec.elem_type.startswith("float") and all(
            type(value) is int or (type(value) is float and math.isfinite(value)) for value in values
        ):
            checked = values  # the common case, checked without building a message per value
        else:
            checked = [
                _check_value(value, spec.elem_type, spec.nullable, f"Input {name!r} at position {index}")
                for index, value in enumerate(values)
            ]
        feeds[name] = _array(checked, spec.elem_type).reshape(shape)
    return feeds


def oip_outputs(contract: Contract, results: Sequence[Any], wanted: list[str] | None) -> list[dict[str, Any]]:
    """OIP ``outputs`` of ``results`` (in the contract's output order), flat row-major data."""
    outputs = []
    for spec, value in zip(contract.outputs, results, strict=False):
        if wanted is not None and spec.name not in wanted:
            continue
        if isinstance(value, np.ndarray):
            outputs.append(
                {
                    "name": spec.name,
                    "datatype": ELEM_TO_OIP.get(str(value.dtype), spec.datatype) if value.dtype != object else "BYTES",
                    "shape": list(value.shape),
                    "data": value.reshape(-1).tolist(),
                }
            )
        else:  # a sequence or map output (a classifier's zipmap): as JSON gives it
            outputs.append({"name": spec.name, "datatype": "BYTES", "shape": [len(value)], "data": list(value)})
    return outputs


def requested_outputs(contract: Contract, outputs: Any) -> list[str] | None:
    """The names of OIP's optional ``outputs`` request field (None: all), each an output of the model."""
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(isinstance(item, dict) for item in outputs):
        raise BadInput("'outputs' must be a list of {name}.")
    names = [str(item.get("name")) for item in outputs]
    known = {spec.name for spec in contract.outputs}
    for name in names:
        if name not in known:
            raise BadInput(f"Output {name!r} is not an output of the model (its outputs: {', '.join(known)}).")
    return names


# --- The rows form -----------------------------------------------------------------------------------------------


def rows_feeds(contract: Contract, rows: Any, *, max_rows: int) -> dict[str, np.ndarray]:
    """The feeds of the rows form's ``rows``, checked cell by cell against the contract (``rows`` is left as it
    was received)."""
    if contract.feeds is None:
        raise BadInput(f"This model cannot be fed rows: {contract.rows_error} Use the OIP infer endpoint.")
    if not isinstance(rows, list) or not rows:
        raise BadInput("'rows' must be a non-empty list of {feature: value} objects.")
    if len(rows) > max_rows:
        raise TooManyRows(f"{len(rows)} rows; at most {max_rows} per request.")
    features = contract.features
    expected = set(features)
    types = contract.column_types
    nullable = {spec.name for spec in contract.inputs if spec.nullable}
    floats = {column for column, elem_type in types.items() if elem_type.startswith("float")}
    checked: list[list[Any]] = []  # per row, the values in ``features`` order
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise BadInput(f"rows[{index}] must be an object of feature values.")
        if row.keys() != expected:
            missing = [name for name in features if name not in row]
            if missing:
                raise BadInput(f"rows[{index}].{missing[0]} is missing: the model reads {', '.join(features)}.")
            extra = sorted(set(row) - expected)
            raise BadInput(f"rows[{index}].{extra[0]} is not a feature of the model ({', '.join(features)}).")
        values = []
        for column in features:
            value = row[column]
            kind = type(value)
            # The common case first, without building a message: a finite number for a float input.
            if column in floats and (kind is int or (kind is float and math.isfinite(value))):
                values.append(value)
                continue
            where = f"rows[{index}].{column}"
            values.append(_check_value(value, types[column], column in nullable, where))
        checked.append(values)
    position = {column: number for number, column in enumerate(features)}
    feeds: dict[str, np.ndarray] = {}
    for feed in contract.feeds:
        indexes = [position[column] for column in feed.columns]
        if feed.matrix:
            if indexes == list(range(len(features))):
                feeds[feed.input] = _array(checked, feed.elem_type)
            else:
                feeds[feed.input] = _array([[values[i] for i in indexes] for values in checked], feed.elem_type)
        else:
            vector = _array([values[indexes[0]] for values in checked], feed.elem_type)
            feeds[feed.input] = vector.reshape(-1, 1) if feed.rank == 2 else vector
    return feeds


def feed_rows(contract: Contract, feeds: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """The ``{feature: value}`` rows of checked feeds (either form's), for what reads rows: data quality and the
    explainer. Empty when the model's inputs are not columns of rows (``contract.feeds`` is None)."""
    if contract.feeds is None:
        return []
    columns: dict[str, list[Any]] = {}
    for feed in contract.feeds:
        array = feeds[feed.input]
        matrix = array.reshape(array.shape[0], -1) if array.ndim else array.reshape(1, -1)
        for number, column in enumerate(feed.columns):
            columns[column] = matrix[:, number].tolist()
    count = min((len(values) for values in columns.values()), default=0)
    return [{column: values[i] for column, values in columns.items()} for i in range(count)]


def predictions(contract: Contract, results: Sequence[Any], count: int) -> list[dict[str, Any]]:
    """One ``{output: value}`` per row of the rows form."""
    rows: list[dict[str, Any]] = [{} for _ in range(count)]
    for spec, value in zip(contract.outputs, results, strict=False):
        values = value.tolist() if isinstance(value, np.ndarray) else list(value)
        if len(values) != count:
            continue  # not one value per row (a summary output): in OIP's answer only
        for row, item in zip(rows, values, strict=True):
            row[spec.name] = item
    return rows


def scores(contract: Contract, results: Sequence[Any]) -> list[float]:
    """Each row's single score (audits.pipelines.scoring.score_output's rule); none for a model without one."""
    if contract.score is None:
        return []
    name, column = contract.score
    index = [spec.name for spec in contract.outputs].index(name)
    values = np.asarray(results[index], dtype=np.float64)
    return (values[:, column] if column is not None else values.reshape(-1)).tolist()
