"""A credit model whose evaluation data flags one of its two inputs (``debt``) as special-category data, so that its
reason catalogue must leave that feature out: for the reason catalogue's API, page and browser tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.audits.factories import CREDIT_SCHEMA
from tests.audits.onnx_models import write_scorer
from tests.registry.factories import make_dataset, make_dataset_version, make_model, make_model_version

FLAGGED_SCHEMA: dict[str, Any] = {
    "columns": [
        {**column, "special_category": True, "personal_data": True} if column["name"] == "debt" else column
        for column in CREDIT_SCHEMA["columns"]
    ]
}


def make_flagged_credit(team: Any, actor: Any, folder: Path) -> Any:
    """A model reading ``income`` and ``debt``, trained on a dataset version whose schema flags ``debt``
    special-category data; returns the model."""
    dataset = make_dataset(team, actor, name="Flagged applications", location="lake://flagged", partitioning=[])
    version = make_dataset_version(dataset, actor, schema=FLAGGED_SCHEMA)
    model = make_model(team, actor, name="Flagged scorer")
    folder.mkdir(parents=True, exist_ok=True)
    make_model_version(model, actor, write_scorer(folder / "flagged.onnx"), dataset_versions=[version.pk])
    return model
