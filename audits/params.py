"""Checks every audit kind's request parameters share (audits.kinds ``clean``): each raises a ValidationError
naming the field, so a refused request is a 400 that says what to fix and writes nothing."""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import ValidationError

from registry.interface import InterfaceError, feature_columns
from registry.models import DatasetVersion, ModelVersion

LABEL_TYPES = frozenset({"boolean", "int8", "int16", "int32", "int64"})


def columns_of(version: DatasetVersion) -> dict[str, dict[str, Any]]:
    """The dataset version's columns by case-folded name."""
    return {column["name"].casefold(): column for column in version.schema["columns"]}


def column(columns: dict[str, dict[str, Any]], name: Any, field: str, version: DatasetVersion) -> dict[str, Any]:
    """The column ``name`` names (ignoring case), or a ValidationError on ``field``."""
    if not isinstance(name, str) or not name:
        raise ValidationError({field: "Name a column of the dataset version."})
    found = columns.get(name.casefold())
    if found is None:
        raise ValidationError({field: f"{name!r} is not a column of {version}."})
    return found


def optional_column(columns: dict[str, dict[str, Any]], name: Any, field: str, version: DatasetVersion) -> str | None:
    return None if name is None else str(column(columns, name, field, version)["name"])


def binary_label(columns: dict[str, dict[str, Any]], name: Any, version: DatasetVersion) -> str:
    """The label column: boolean, or an integer column whose values the job checks are 0 and 1."""
    label = column(columns, name, "label", version)
    if label["type"] not in LABEL_TYPES:
        raise ValidationError(
            {"label": f"{label['name']!r} is {label['type']}; a binary label is boolean or an integer of 0 and 1."}
        )
    return str(label["name"])


def integer(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError({field: f"An integer from {low} to {high}."})
    return value


def number(value: Any, field: str, low: float, high: float, meaning: str = "") -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise ValidationError({field: f"A number from {low:g} to {high:g}{meaning}."})
    return float(value)


def threshold(value: Any) -> float:
    return number(value, "threshold", 0, 1, " (the score at and above which a row is positive)")


def model_columns(model_version: ModelVersion, dataset_version: DatasetVersion) -> list[str]:
    """The dataset columns the model reads (registry.interface), each a column of the dataset version; else a
    ValidationError on ``dataset_version`` naming what is missing (or on ``model_version`` when its inputs cannot be
    fed from columns at all)."""
    try:
        wanted = feature_columns(model_version.interface)
    except InterfaceError as error:
        raise ValidationError({"model_version": str(error)}) from None
    columns = columns_of(dataset_version)
    missing = [name for name in wanted if name.casefold() not in columns]
    if missing:
        raise ValidationError(
            {
                "dataset_version": f"{dataset_version} does not match the interface of {model_version}: it lacks "
                f"{', '.join(missing)}."
            }
        )
    return [str(columns[name.casefold()]["name"]) for name in wanted]
