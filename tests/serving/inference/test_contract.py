"""The pure parts of the inference service: inputs checked against the interface contract, the canary's share by
request key, the token bucket."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest

from serving.inference.contract import (
    BadInput,
    Contract,
    TooManyRows,
    oip_feeds,
    predictions,
    rows_feeds,
    scores,
)
from serving.inference.limits import TokenBucket
from serving.inference.routing import bucket, takes_canary

MATRIX = {
    "inputs": [{"name": "X", "kind": "tensor", "elem_type": "float32", "shape": [None, 3]}],
    "outputs": [
        {"name": "label", "kind": "tensor", "elem_type": "int64", "shape": [None]},
        {"name": "probabilities", "kind": "tensor", "elem_type": "float32", "shape": [None, 2]},
    ],
    "metadata_props": {"features": "age,income,debt"},
}
COLUMNS = {
    "inputs": [
        {"name": "age", "kind": "tensor", "elem_type": "int64", "shape": [None, 1]},
        {"name": "city", "kind": "tensor", "elem_type": "string", "shape": [None, 1]},
        {"name": "score", "kind": "tensor", "elem_type": "float64", "shape": [None], "nullable": True},
    ],
    "outputs": [{"name": "y", "kind": "tensor", "elem_type": "float32", "shape": [None, 1]}],
}


def tensor(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"name": "X", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4.5, 5, 6]}
    fields.update(overrides)
    return fields


def test_oip_inputs_that_keep_the_contract_become_feeds() -> None:
    """GIVEN a model taking X: float32 [-1, 3]
    WHEN OIP inputs give it flat, or nested to the shape
    THEN one float32 feed of that shape, either way."""
    contract = Contract.of(MATRIX)
    flat = oip_feeds(contract, [tensor()], max_rows=10)["X"]
    nested = oip_feeds(contract, [tensor(data=[[1, 2, 3], [4.5, 5, 6]])], max_rows=10)["X"]
    assert flat.dtype == np.float32
    assert flat.shape == (2, 3)
    assert np.array_equal(flat, nested)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([], "'inputs' must be a non-empty list"),
        ([tensor(name="Y")], "Input 'Y' is not an input of the model (its inputs: X)"),
        ([tensor(), tensor()], "Input 'X' is given twice"),
        ([tensor(datatype="FP64")], "Input 'X' has datatype 'FP64'; the model takes FP32"),
        ([tensor(shape=[2, 4], data=list(range(8)))], "Input 'X' has shape [2, 4]; the model takes [-1, 3]"),
        ([tensor(shape=[6], data=list(range(6)))], "Input 'X' has shape [6]; the model takes [-1, 3]"),
        ([tensor(data=[1, 2, 3])], "Input 'X' has 3 values; its shape [2, 3] holds 6"),
        ([tensor(data=[1, 2, None, 4, 5, 6])], "Input 'X' at position 2 is missing (null)"),
        ([tensor(data=[1, 2, math.nan, 4, 5, 6])], "Input 'X' at position 2 is nan: the contract allows only finite"),
        ([tensor(data=[1, 2, math.inf, 4, 5, 6])], "Input 'X' at position 2 is inf"),
        ([tensor(data=[1, 2, "3", 4, 5, 6])], "Input 'X' at position 2 is the string '3': the model takes a number"),
        ([tensor(data=[1, True, 3, 4, 5, 6])], "Input 'X' at position 1 is true: the model takes a number"),
        ([tensor(shape=[2, -3])], "'shape' must be a list of non-negative integers"),
        ([tensor(data="123")], "Input 'X': 'data' must be a list"),
    ],
)
def test_oip_inputs_that_break_the_contract_are_refused_naming_the_input(inputs: Any, message: str) -> None:
    """GIVEN a model taking X: float32 [-1, 3]
    WHEN an OIP request names another input, repeats one, mistypes it, mis-shapes it, or holds null, NaN, infinity,
    strings or booleans
    THEN BadInput naming the input (and the position of the bad value)."""
    with pytest.raises(BadInput, match=re.escape(message)):
        oip_feeds(Contract.of(MATRIX), inputs, max_rows=10)


def test_a_missing_oip_input_is_named() -> None:
    """GIVEN a model of three column inputs
    WHEN an OIP request gives only two
    THEN BadInput naming the missing one."""
    given = [
        {"name": "age", "shape": [1, 1], "datatype": "INT64", "data": [3]},
        {"name": "city", "shape": [1, 1], "datatype": "BYTES", "data": ["Oslo"]},
    ]
    with pytest.raises(BadInput, match=r"Input 'score' is missing \(the model takes age, city, score\)"):
        oip_feeds(Contract.of(COLUMNS), given, max_rows=10)


def test_more_rows_than_the_limit_are_too_many() -> None:
    with pytest.raises(TooManyRows, match="holds 11 rows; at most 10"):
        oip_feeds(Contract.of(MATRIX), [tensor(shape=[11, 3], data=[1.0] * 33)], max_rows=10)
    with pytest.raises(TooManyRows, match="11 rows; at most 10"):
        rows_feeds(Contract.of(MATRIX), [{"age": 1, "income": 2, "debt": 3}] * 11, max_rows=10)


def test_rows_feed_a_matrix_input_in_the_order_its_metadata_names() -> None:
    """GIVEN a model whose one matrix input's columns the metadata names (age, income, debt)
    WHEN rows give the features in any key order
    THEN the matrix is stacked in the metadata's order, and the rows are left as received."""
    rows = [{"debt": 3, "age": 1, "income": 2.5}, {"income": 5, "debt": 6, "age": 4}]
    feeds = rows_feeds(Contract.of(MATRIX), rows, max_rows=10)
    assert feeds["X"].tolist() == [[1, 2.5, 3], [4, 5, 6]]
    assert rows[0] == {"debt": 3, "age": 1, "income": 2.5}


def test_rows_feed_column_inputs_with_their_own_types_and_nullability() -> None:
    """GIVEN a model of an int64 column, a string column and a nullable float64 column
    WHEN rows give them, one score missing
    THEN each feed has its type and rank, the missing score fed as NaN."""
    feeds = rows_feeds(Contract.of(COLUMNS), [{"age": 30, "city": "Oslo", "score": None}], max_rows=10)
    assert feeds["age"].dtype == np.int64
    assert feeds["age"].shape == (1, 1)
    assert feeds["city"].tolist() == [["Oslo"]]
    assert feeds["score"].shape == (1,)
    assert math.isnan(feeds["score"][0])


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "'rows' must be a non-empty list"),
        ({"age": 1}, "'rows' must be a non-empty list"),
        ([[1, 2, 3]], "rows[0] must be an object"),
        ([{"age": 1, "income": 2}], "rows[0].debt is missing: the model reads age, income, debt"),
        ([{"age": 1, "income": 2, "debt": 3, "zip": 9}], "rows[0].zip is not a feature of the model"),
        ([{"age": 1, "income": 2, "debt": 3}, {"age": "x", "income": 2, "debt": 3}], "rows[1].age is the string 'x'"),
        ([{"age": 1, "income": None, "debt": 3}], "rows[0].income is missing (null)"),
        ([{"age": 1, "income": math.nan, "debt": 3}], "rows[0].income is nan"),
        ([{"age": 1, "income": [2], "debt": 3}], "rows[0].income is a list"),
    ],
)
def test_rows_that_break_the_contract_are_refused_naming_the_cell(rows: Any, message: str) -> None:
    with pytest.raises(BadInput, match=re.escape(message)):
        rows_feeds(Contract.of(MATRIX), rows, max_rows=10)


def test_column_types_are_checked_in_rows() -> None:
    """GIVEN an int64, a string and a float column
    WHEN a row gives a fraction for the integer, a number for the string, or an integer beyond int64
    THEN each is refused naming the cell."""
    contract = Contract.of(COLUMNS)
    cases = [
        ({"age": 1.5, "city": "a", "score": 1.0}, "rows[0].age is 1.5: the model takes an integer (int64)"),
        ({"age": 1, "city": 7, "score": 1.0}, "rows[0].city is 7: the model takes a string"),
        ({"age": 2**70, "city": "a", "score": 1.0}, "outside the range of int64"),
    ]
    for row, message in cases:
        with pytest.raises(BadInput, match=re.escape(message)):
            rows_feeds(contract, [row], max_rows=10)


def test_a_model_the_rows_form_cannot_feed_says_why() -> None:
    """GIVEN a matrix input whose columns the metadata does not name
    WHEN rows are sent
    THEN BadInput pointing to the OIP endpoint."""
    interface = {**MATRIX, "metadata_props": {}}
    with pytest.raises(BadInput, match=r"cannot be fed rows: .* Use the OIP infer endpoint"):
        rows_feeds(Contract.of(interface), [{"age": 1}], max_rows=10)


def test_predictions_and_scores_follow_the_outputs() -> None:
    """GIVEN a classifier's outputs for two rows
    THEN one {output: value} per row, and the positive class's probability as each row's score."""
    contract = Contract.of(MATRIX)
    results = [np.array([0, 1]), np.array([[0.8, 0.2], [0.3, 0.7]], np.float32)]
    assert predictions(contract, results, 2)[1] == {"label": 1, "probabilities": pytest.approx([0.3, 0.7])}
    assert scores(contract, results) == pytest.approx([0.2, 0.7])


def test_the_canary_share_is_deterministic_by_key_and_near_its_percentage() -> None:
    """GIVEN request keys
    THEN a key always falls in the same bucket, a key that meets a 10% canary still meets it at 20%, and about the
    share asked for of many keys meets it."""
    keys = [f"customer-{n}" for n in range(5000)]
    assert [bucket(key) for key in keys[:50]] == [bucket(key) for key in keys[:50]]
    at_10 = {key for key in keys if takes_canary(key, 10)}
    at_20 = {key for key in keys if takes_canary(key, 20)}
    assert at_10 <= at_20
    assert 0.08 < len(at_10) / len(keys) < 0.12
    assert not any(takes_canary(key, 0) for key in keys)


def test_the_token_bucket_allows_its_burst_then_its_rate() -> None:
    """GIVEN a bucket of 3 requests refilled at 2 per second
    WHEN requests come at one instant, then later
    THEN the burst passes, the next waits half a second, and time refills it (never beyond the burst)."""
    limit = TokenBucket(rate=2.0, burst=3.0)
    assert [limit.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take(100.0) == pytest.approx(0.5)
    assert limit.take(100.5) == 0.0
    assert limit.take(200.0) == 0.0
    assert [limit.take(200.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.5)]
