"""A credit model and evaluation data for the validation tests: tests/audits/factories.py's credit schema with an
``applied_at`` timestamp (the holdout's time column), the model under a use case with a cost matrix, and the
model version optionally linked to its training data (``trained_on``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.audits.factories import CREDIT_SCHEMA
from tests.audits.onnx_models import write_scorer
from tests.registry.factories import make_dataset, make_dataset_version, make_model, make_model_version, make_use_case

VALIDATION_SCHEMA: dict[str, Any] = {
    "columns": [*CREDIT_SCHEMA["columns"], {"name": "applied_at", "type": "timestamp", "nullable": False}]
}


def make_validation_credit(
    team: Any, actor: Any, folder: Path, *, location: str = "lake://credit", trained_on_evaluation: bool = False
) -> dict[str, Any]:
    use_case = make_use_case(
        team, actor, name=f"Credit decisions {team.slug}", cost_false_positive=1.0, cost_false_negative=5.0
    )
    dataset = make_dataset(team, actor, name=f"Credit applications {team.slug}", location=location, partitioning=[])
    version = make_dataset_version(dataset, actor, schema=VALIDATION_SCHEMA)
    registered = make_model(team, actor, name=f"Credit scorer {team.slug}", use_case=use_case)
    folder.mkdir(parents=True, exist_ok=True)
    links = {"dataset_versions": [version.pk]} if trained_on_evaluation else {}
    model_version = make_model_version(registered, actor, write_scorer(folder / "credit.onnx"), **links)
    return {
        "use_case": use_case,
        "dataset": dataset,
        "dataset_version": version,
        "model": registered,
        "model_version": model_version,
    }
