"""Hostile ONNX models, built small with onnx.helper at test time (never downloaded): what an attacker could upload
to hold a validator, or to pass validation and detonate at inference."""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

OPSET = 17
# 10^10 float32 elements: 40 GB, far above any validation memory limit.
HUGE = [100_000, 100_000]


def _model(
    nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], output: onnx.ValueInfoProto, **kw: object
) -> bytes:
    graph = helper.make_graph(nodes, "hostile", inputs, [output], **kw)  # type: ignore[arg-type]
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def slow_session(size: int = 1500, depth: int = 200) -> bytes:
    """A few KB whose ONNX Runtime session takes minutes to build: ConstantOfShape feeds a chain of MatMuls on
    constants, which the runtime's constant folding multiplies out (size^3 multiply-adds per link) before the
    session exists."""
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [0.5])
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["m0"], value=one)]
    nodes += [helper.make_node("MatMul", [f"m{i}", "m0"], [f"m{i + 1}"]) for i in range(depth)]
    nodes += [
        helper.make_node("ReduceSum", [f"m{depth}"], ["total"], keepdims=0),
        helper.make_node("Add", ["x", "total"], ["y"]),
    ]
    return _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch"])],
        helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch"]),
        initializer=[helper.make_tensor("shape", TensorProto.INT64, [2], [size, size])],
    )


def exploding(op: str) -> bytes:
    """Loads in milliseconds, then asks for 10^10 elements when run: a ConstantOfShape or an Expand whose target
    shape depends on the input, so that no constant folding meets it before inference."""
    if op == "ConstantOfShape":
        nodes = [
            helper.make_node("Shape", ["x"], ["batch"]),
            helper.make_node("Concat", ["batch", "huge"], ["target"], axis=0),
            helper.make_node(
                "ConstantOfShape", ["target"], ["filled"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])
            ),
        ]
    elif op == "Expand":
        nodes = [
            helper.make_node("Shape", ["x"], ["batch"]),
            helper.make_node("Concat", ["batch", "huge"], ["target"], axis=0),
            helper.make_node("Expand", ["x", "target"], ["filled"]),
        ]
    else:
        raise ValueError(op)
    nodes.append(helper.make_node("ReduceSum", ["filled"], ["y"], keepdims=0))
    return _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch"])],
        helper.make_tensor_value_info("y", TensorProto.FLOAT, []),
        initializer=[helper.make_tensor("huge", TensorProto.INT64, [2], HUGE)],
    )


def fails_when_run() -> bytes:
    """Loads, but cannot run on any input its contract allows: three values per row reshaped to four."""
    return _model(
        [helper.make_node("Reshape", ["x", "four"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        helper.make_tensor_value_info("y", TensorProto.FLOAT, [4]),
        initializer=[helper.make_tensor("four", TensorProto.INT64, [1], [4])],
    )


def sequence_input() -> bytes:
    """A valid model whose input is a sequence of tensors: no synthetic value is built for it."""
    sequence = helper.make_tensor_sequence_value_info("xs", TensorProto.FLOAT, None)
    return _model(
        [helper.make_node("SequenceLength", ["xs"], ["n"])],
        [sequence],
        helper.make_tensor_value_info("n", TensorProto.INT64, []),
    )


def valid_add() -> bytes:
    """The control: a small valid model (x + x), which every validation accepts."""
    return _model(
        [helper.make_node("Add", ["x", "x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
    )
