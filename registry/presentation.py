"""How registry objects read on a page, for every app that shows them (the registry's pages and the release page):
privacy markers, metrics and parameters flattened to rows, numbers as people read them, a model's input and output
contract."""

from __future__ import annotations

import json
import math
from typing import Any

# The privacy flags of a schema column, in the order the schema table shows them, with the words it shows:
# a marker is always text (and a tooltip says what it means), never a colour alone.
PRIVACY_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("personal_data", "Personal data", "Relates to an identified or identifiable person (GDPR art. 4)."),
    ("special_category", "Special category", "Special-category personal data (GDPR art. 9): health, ethnicity..."),
    ("protected_attribute", "Protected attribute", "A characteristic fairness is measured against."),
    ("prohibited_input", "Prohibited input", "Must not be used as a model input."),
    ("subject_identifier", "Subject identifier", "Names the person a row is about; subject requests search it."),
)


def flat_metrics(metrics: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``{"test": {"auc": 0.9}}`` as ``[("test.auc", "0.9")]``, sorted by name: PostgreSQL's JSONB does not keep
    the order the client sent, so any other order would differ between databases."""
    rows: list[tuple[str, Any]] = []
    if not isinstance(metrics, dict):
        return rows
    for key, value in sorted(metrics.items(), key=lambda item: (str(item[0]).casefold(), str(item[0]))):
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(flat_metrics(value, f"{name}."))
        elif isinstance(value, list):
            rows.append((name, json.dumps(value, ensure_ascii=False)))
        else:
            rows.append((name, number_text(value)))
    return rows


def number_text(value: Any) -> Any:
    """A number as people read it: ``12`` for 12.0, ``0.934`` for 0.934, six significant digits at most."""
    if isinstance(value, float) and math.isfinite(value):
        return format(value, ".6g")
    return value


def shape_text(shape: Any) -> str:
    """A tensor shape as ``[?, 3]`` (``?`` for a dimension of any size)."""
    if shape is None:
        return "unknown rank"
    if not isinstance(shape, list):
        return str(shape)
    return "[" + ", ".join("?" if dim is None else str(dim) for dim in shape) + "]"


def contract_rows(items: Any) -> list[dict[str, Any]]:
    """A model interface's inputs or outputs as table rows, each with its shape as text."""
    rows = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            rows.append({**item, "shape_text": shape_text(item.get("shape"))})
    return rows
