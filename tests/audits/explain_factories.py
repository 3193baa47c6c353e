"""Models and explanation reports for the local explanation tests: scikit-learn credit models (a boosted tree, a
scaled logistic regression, a three-class one, one with a string input) exported to ONNX with the ``features``
metadata, registered as model versions, and explanation reports registered through audits.actions with hand-built
results in the contract's shape (COMMON: ``results["background"]`` and ``results["explainer"]``), as the job would."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
from skl2onnx import to_onnx
from skl2onnx.common.data_types import StringTensorType
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from audits.actions import do_register_audit_report
from audits.choices import AuditKind
from audits.fairness import JOB_KIND as FAIRNESS_JOB
from audits.models import ReasonCatalogue
from core.canonical import canonical_digest
from core.jobs import dispatch_job
from tests.registry.factories import make_dataset, make_dataset_version, make_model, make_model_version

FEATURES = ["income", "debt", "utilisation", "age"]
SCHEMA: dict[str, Any] = {
    "columns": [
        {"name": "income", "type": "float64", "nullable": False},
        {"name": "debt", "type": "float64", "nullable": False},
        {"name": "utilisation", "type": "float64", "nullable": False},
        {"name": "age", "type": "float64", "nullable": False, "personal_data": True, "protected_attribute": True},
        {"name": "defaulted", "type": "int64", "nullable": False},
    ]
}


def credit_data(n: int = 1200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [rng.normal(3, 1, n), rng.normal(1, 0.5, n), rng.uniform(0, 1, n), rng.uniform(18, 80, n)]
    ).astype(np.float32)
    logit = -0.8 * x[:, 0] + 1.2 * x[:, 1] + 2.0 * x[:, 2] + 0.03 * (x[:, 3] - 45) + rng.normal(0, 0.5, n)
    return x, (logit > np.median(logit)).astype(int)


def with_features(model: Any, features: list[str]) -> bytes:
    entry = model.metadata_props.add()
    entry.key, entry.value = "features", ",".join(features)
    return bytes(model.SerializeToString())


@functools.cache
def onnx_model(kind: str) -> bytes:
    x, y = credit_data()
    if kind == "tree":
        fitted: Any = GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0).fit(x, y)
    elif kind == "logistic":
        fitted = Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression())]).fit(x, y)
    elif kind == "multiclass":
        fitted = LogisticRegression(max_iter=500).fit(x, np.digitize(x[:, 2], [0.33, 0.66]))
    elif kind == "string":
        regions = np.asarray([["north"], ["south"], ["west"]] * 20, dtype=object)
        fitted = Pipeline([("encode", OneHotEncoder(handle_unknown="ignore")), ("classify", LogisticRegression())]).fit(
            regions, np.asarray([0, 1, 1] * 20)
        )
        onnx = to_onnx(fitted, initial_types=[("region", StringTensorType([None, 1]))], options={"zipmap": False})
        return bytes(onnx.SerializeToString())
    else:
        raise ValueError(kind)
    return with_features(to_onnx(fitted, x[:1], options={"zipmap": False}), FEATURES)


def make_explained_model(team: Any, actor: Any, folder: Path, *, kind: str = "tree", name: str = "") -> dict[str, Any]:
    dataset = make_dataset(team, actor, name=f"Applications {kind} {team.slug}", location=f"lake://apps-{kind}")
    dataset_version = make_dataset_version(dataset, actor, schema=SCHEMA)
    model = make_model(team, actor, name=name or f"Credit {kind} {team.slug}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{model.pk}.onnx"
    path.write_bytes(onnx_model(kind))
    version = make_model_version(model, actor, path)
    return {"model": model, "model_version": version, "dataset_version": dataset_version}


def background(rows: int = 60, seed: int = 1) -> list[list[float]]:
    x, _ = credit_data(rows, seed)
    return [[float(v) for v in row] for row in x]


def make_explanation_report(
    version: Any,
    dataset_version: Any,
    actor: Any,
    *,
    method: str,
    output_space: str = "probability",
    values: list[list[float | None]] | None = None,
    features: list[str] | None = None,
    seed: int = 3,
    max_evals: int = 200,
) -> Any:
    """An explanation report of ``version`` whose results follow the contract, registered through the action."""
    values = values if values is not None else background()  # type: ignore[assignment]
    job, _ = dispatch_job(
        FAIRNESS_JOB,  # the explanation job kind is built elsewhere: the report rides on fairness's job
        actor=actor,
        team=version.model.team,
        target=version,
        params={"dataset_version": dataset_version.pk},
    )
    parameters = {"background_rows": len(values or []), "seed": seed, "max_evals": max_evals}
    results = {
        "background": {
            "dataset_version": dataset_version.pk,
            "seed": seed,
            "rows": len(values or []),
            "features": features or FEATURES,
            "values": values,
        },
        "explainer": {"method": method, "output_space": output_space, "parameters": parameters},
        "features": [],
        "dependence": [],
        "by_group": {},
        "base_value": 0.5,
        "additivity": 0.0,
        "rows": 1000,
        "checks": {"additivity": "pass"},
        "verdict": "pass",
    }
    return do_register_audit_report(
        job,
        actor=actor,
        kind=AuditKind.EXPLANATION,
        model_version=version,
        dataset_version=dataset_version,
        parameters={"dataset_version": dataset_version.pk, "background_rows": len(values or []), "seed": seed},
        thresholds={"additivity_max": 1e-4},
        code={"assay_audits": "1"},
        results=results,
        checks={"additivity": "pass"},
        verdict="pass",
    )


def make_catalogue(model: Any, entries: list[dict[str, str]], **fields: Any) -> Any:
    """A reason catalogue written directly (its action and API are built elsewhere), with its digest."""
    number = ReasonCatalogue.objects.filter(model=model).count() + 1
    catalogue = ReasonCatalogue(
        model=model,
        number=number,
        entries=entries,
        threshold=fields.get("threshold", 0.5),
        positive_decision=fields.get("positive_decision", "Declined"),
        negative_decision=fields.get("negative_decision", "Approved"),
        note=fields.get("note", ""),
    )
    catalogue.digest = canonical_digest(catalogue.body())
    catalogue.save(force_insert=True)
    return catalogue
