"""Small ONNX scorers for the audit tests, built with onnx.helper: ``income`` and ``debt`` in (float32, [N, 1]),
``probability`` out ([N, 2], the positive class second) = sigmoid(a * income + b * debt + c). ``broken`` makes the
score NaN for every row (0/0), as a faulty model would."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper


def scorer_bytes(a: float = 0.8, b: float = -0.5, c: float = 0.0, *, broken: bool = False) -> bytes:
    def const(name: str, value: float) -> onnx.NodeProto:
        return helper.make_node(
            "Constant", [], [name], value=helper.make_tensor(name + "_v", TensorProto.FLOAT, [1], [value])
        )

    nodes = [
        const("a", a),
        const("b", b),
        const("c", c),
        const("one", 1.0),
        helper.make_node("Mul", ["income", "a"], ["ia"]),
        helper.make_node("Mul", ["debt", "b"], ["db"]),
        helper.make_node("Add", ["ia", "db"], ["s1"]),
        helper.make_node("Add", ["s1", "c"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["p_ok"]),
    ]
    if broken:
        nodes += [
            const("zero", 0.0),
            helper.make_node("Div", ["zero", "zero"], ["nan"]),
            helper.make_node("Add", ["p_ok", "nan"], ["p"]),
        ]
    else:
        nodes += [helper.make_node("Identity", ["p_ok"], ["p"])]
    nodes += [
        helper.make_node("Sub", ["one", "p"], ["q"]),
        helper.make_node("Concat", ["q", "p"], ["probability"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "credit",
        [
            helper.make_tensor_value_info("income", TensorProto.FLOAT, [None, 1]),
            helper.make_tensor_value_info("debt", TensorProto.FLOAT, [None, 1]),
        ],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, [None, 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="assay-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_scorer(path: Path, **kwargs: float | bool) -> Path:
    path.write_bytes(scorer_bytes(**kwargs))  # type: ignore[arg-type]
    return path


INTERFACE = {
    "inputs": [
        {"name": "income", "kind": "tensor", "elem_type": "float32", "shape": [None, 1]},
        {"name": "debt", "kind": "tensor", "elem_type": "float32", "shape": [None, 1]},
    ],
    "outputs": [{"name": "probability", "kind": "tensor", "elem_type": "float32", "shape": [None, 2]}],
}
