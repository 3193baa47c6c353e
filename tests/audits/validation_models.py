"""ONNX scorers for the validation tests, built with onnx.helper, beside tests/audits/onnx_models.py (same inputs
``income`` and ``debt``, float32 [N, 1]; same output ``probability`` [N, 2], the positive class second):

- ``robust_bytes``: sigmoid(a * income + b * debt + q * income²), a missing input (NaN) read as 0; with ``q = 0``
  the score rises with income (a > 0) and falls with debt (b < 0); with ``q < 0`` it rises then falls in income;
- ``onnx_models.scorer_bytes`` itself returns NaN for a missing input (sigmoid(NaN)), as a careless model does.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper


def robust_bytes(a: float = 0.8, b: float = -0.5, q: float = 0.0) -> bytes:
    def const(name: str, value: float) -> onnx.NodeProto:
        return helper.make_node(
            "Constant", [], [name], value=helper.make_tensor(name + "_v", TensorProto.FLOAT, [1], [value])
        )

    nodes = [const("a", a), const("b", b), const("q", q), const("zero", 0.0), const("one", 1.0)]
    for name in ("income", "debt"):
        nodes += [
            helper.make_node("IsNaN", [name], [f"{name}_nan"]),
            helper.make_node("Where", [f"{name}_nan", "zero", name], [f"{name}_x"]),
        ]
    nodes += [
        helper.make_node("Mul", ["income_x", "a"], ["ia"]),
        helper.make_node("Mul", ["debt_x", "b"], ["db"]),
        helper.make_node("Mul", ["income_x", "income_x"], ["i2"]),
        helper.make_node("Mul", ["i2", "q"], ["iq"]),
        helper.make_node("Add", ["ia", "db"], ["s1"]),
        helper.make_node("Add", ["s1", "iq"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["p"]),
        helper.make_node("Sub", ["one", "p"], ["not_p"]),
        helper.make_node("Concat", ["not_p", "p"], ["probability"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "credit_robust",
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
