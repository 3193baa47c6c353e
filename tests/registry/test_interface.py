"""registry.interface: which dataset columns feed a model version, as every reader of a model must agree."""

from __future__ import annotations

from typing import Any

import pytest

from registry.interface import InterfaceError, feature_columns, input_feeds


def tensor(name: str, shape: list[Any] | None, elem_type: str = "float32") -> dict[str, Any]:
    return {"name": name, "kind": "tensor", "elem_type": elem_type, "shape": shape}


def test_one_input_per_column():
    # GIVEN a model with one input per feature (what Assay's Spark training exports), of rank 2 and rank 1
    interface = {"inputs": [tensor("income", [None, 1]), tensor("region", [None], "string")]}
    # THEN each input is fed by the column of its name
    feeds = input_feeds(interface)
    assert [(f.input, f.columns, f.rank, f.matrix) for f in feeds] == [
        ("income", ("income",), 2, False),
        ("region", ("region",), 1, False),
    ]
    assert feature_columns(interface) == ["income", "region"]


def test_a_matrix_input_is_fed_by_the_columns_its_metadata_names():
    # GIVEN a scikit-learn export with one X input of width 3 and its feature order in the metadata
    interface = {"inputs": [tensor("X", [None, 3])], "metadata_props": {"features": "a, b,c"}}
    # THEN the three columns feed it, in that order
    (feed,) = input_feeds(interface)
    assert feed.columns == ("a", "b", "c")
    assert feed.matrix
    assert feed.rank == 2
    assert feature_columns(interface) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("interface", "message"),
    [
        ({"inputs": [tensor("X", [None, 3])]}, "metadata does not name them"),
        ({"inputs": [tensor("X", [None, 3])], "metadata_props": {"features": "a,b"}}, "takes 3 columns"),
        ({"inputs": [tensor("X", [None, "width"])]}, "variable width"),
        ({"inputs": [tensor("img", [None, 3, 32, 32])]}, "rank 4"),
        (
            {"inputs": [{"name": "m", "kind": "map", "elem_type": "map(string,float32)", "shape": None}]},
            "cannot be fed",
        ),
        ({"inputs": [tensor("c", [None, 1], "complex64")]}, "cannot be fed"),
    ],
)
def test_inputs_no_column_can_feed_are_refused_by_name(interface: dict[str, Any], message: str):
    with pytest.raises(InterfaceError, match=message):
        feature_columns(interface)
