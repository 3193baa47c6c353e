"""Which dataset columns a model version reads: its interface contract's inputs mapped to columns.

A function of the interface (``ModelVersion.interface``, what registry.onnx_validation read from the graph), no
database. Two shapes of input are fed from columns:

- one input per column: a tensor named like the column, of shape ``[N]`` or ``[N, 1]`` (what Assay's Spark
  training exports, and what most converters do when given one typed input per feature);
- one matrix input of shape ``[N, k]``, ``k > 1``, whose columns the model's metadata names in order: the
  ``features`` metadata property, comma-separated (what scikit-learn pipelines exported with one ``X`` input carry
  when their author records the feature order, as the demo's credit model does).

Everything that feeds a model from a dataset (audits, explanations, batch scoring, serving's rows form) and the
registration check that no prohibited column is an input read it from here, so they agree on what a model reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Element types a column can feed (numpy names as registry.onnx_validation spells them).
FEEDABLE = frozenset({"float32", "float64", "float16", "int8", "int16", "int32", "int64", "bool", "string"})
FEATURES_METADATA = "features"


class InterfaceError(ValueError):
    """The interface has an input no column can feed (the message names it)."""


@dataclass(frozen=True)
class InputFeed:
    """One ONNX input and the dataset columns that feed it, in order (one column unless a matrix input)."""

    input: str
    columns: tuple[str, ...]
    elem_type: str
    rank: int

    @property
    def matrix(self) -> bool:
        return len(self.columns) > 1


def _named_features(interface: dict[str, Any]) -> list[str]:
    raw = (interface.get("metadata_props") or {}).get(FEATURES_METADATA, "")
    return [name.strip() for name in str(raw).split(",") if name.strip()]


def input_feeds(interface: dict[str, Any]) -> list[InputFeed]:
    """The interface's inputs as feeds from columns; InterfaceError for an input no column can feed."""
    feeds = []
    for value in interface.get("inputs") or []:
        name = str(value.get("name", ""))
        elem_type = str(value.get("elem_type", ""))
        if value.get("kind") != "tensor" or elem_type not in FEEDABLE:
            raise InterfaceError(f"The model's input {name!r} ({elem_type}) cannot be fed from a column.")
        shape = value.get("shape") or [None, 1]
        width = shape[-1] if len(shape) == 2 else 1
        if len(shape) > 2:
            raise InterfaceError(f"The model's input {name!r} has rank {len(shape)}; columns feed rank 1 or 2.")
        if isinstance(width, int) and width > 1:
            features = _named_features(interface)
            if len(features) != width:
                raise InterfaceError(
                    f"The model's input {name!r} takes {width} columns, and its metadata does not name them: set the "
                    f"ONNX metadata property {FEATURES_METADATA!r} to the {width} column names, comma-separated."
                )
            feeds.append(InputFeed(name, tuple(features), elem_type, 2))
        elif width is None or not isinstance(width, int):
            raise InterfaceError(f"The model's input {name!r} has a variable width; its columns cannot be known.")
        else:
            feeds.append(InputFeed(name, (name,), elem_type, len(shape)))
    return feeds


def feature_columns(interface: dict[str, Any]) -> list[str]:
    """The dataset columns the model reads, in feed order, each once."""
    return list(dict.fromkeys(column for feed in input_feeds(interface) for column in feed.columns))
