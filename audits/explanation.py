"""The explanation audit kind, the global explanation report: its request parameters, thresholds and judgement
(audits.kinds; the figures are computed by audits.pipelines.explain in the job workers.audits_explain runs).
docs/audits.md, "Explanations".

Two checks. ``additivity``: the largest |base + sum(SHAP) - output| over the explained rows is at most
``additivity_error_max``: the explanation adds up to what the model says. ``importance_shift``: for each group of
each protected attribute, the total-variation distance between the group's importance profile (its mean |SHAP| per
feature, normalised to sum to 1) and the whole sample's is at most ``importance_shift_max``: the model does not
lean on different features for different groups. A group below ``min_group_size`` rows is not judged (insufficient
data for it, as the fairness kind treats small groups); a sample whose SHAP values are all zero has no profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from audits import params as p
from audits.choices import AuditKind, Verdict
from audits.kinds import KindSpec, overall, register_kind
from audits.pipelines.explain import ADDITIVITY, DEFAULT_MAX_EVALS
from audits.pipelines.scoring import ScoringError, score_output
from registry.interface import InterfaceError, input_feeds

if TYPE_CHECKING:
    from audits.models import AuditReport
    from registry.models import DatasetVersion, ModelVersion

JOB_KIND = "audits.explanation"
METHODS = ("tree_exact", "linear", "permutation")
DEFAULTS: dict[str, Any] = {
    "background_rows": 100,
    "sample_rows": 2000,
    "seed": 0,
    "max_evals": DEFAULT_MAX_EVALS,
    "method": None,
    "min_group_size": 30,
    "top": 5,
}
THRESHOLDS = {"additivity_error_max": ADDITIVITY, "importance_shift_max": 0.2}
BOUNDS = {"additivity_error_max": (0.0, 0.01), "importance_shift_max": (0.0, 1.0)}
HIGH_RISK = {"importance_shift_max": 0.1}
# Dataset column types that cannot feed a numeric model input.
NOT_NUMERIC = frozenset({"string", "binary", "date", "timestamp", "timestamp_ntz"})


def _explainable(model_version: ModelVersion, dataset_version: DatasetVersion) -> list[str]:
    """The model's feature columns, each a numeric column of the dataset version; a ValidationError on
    ``model_version`` for a model that cannot be explained (a string input, no single score output) or on
    ``dataset_version`` for columns that do not match."""
    interface = model_version.interface
    try:
        feeds = input_feeds(interface)
    except InterfaceError as error:
        raise ValidationError({"model_version": str(error)}) from None
    strings = [feed.input for feed in feeds if feed.elem_type == "string"]
    if strings:
        raise ValidationError(
            {
                "model_version": f"{model_version} has the string input(s) {', '.join(strings)}: explanations need "
                "numeric inputs (a string has no background value to mask it with)."
            }
        )
    features = p.model_columns(model_version, dataset_version)
    try:
        score_output(interface)
    except ScoringError:
        outputs = [
            f"{o.get('name')} ({o.get('elem_type') or o.get('kind')}, shape {o.get('shape')})"
            for o in interface.get("outputs") or []
        ]
        raise ValidationError(
            {
                "model_version": f"{model_version} has no single score to explain: its outputs are "
                f"{'; '.join(outputs) or 'none'}. An explanation needs one float tensor of the positive class's "
                "probability, of shape [N, 2] (the positive class second) or [N, 1]."
            }
        ) from None
    columns = p.columns_of(dataset_version)
    textual = [name for name in features if columns[name.casefold()]["type"] in NOT_NUMERIC]
    if textual:
        raise ValidationError(
            {
                "dataset_version": f"{dataset_version} does not match the inputs of {model_version}: "
                f"{', '.join(textual)} {'is' if len(textual) == 1 else 'are'} not numeric."
            }
        )
    return features


def _attributes(raw: Any, dataset_version: DatasetVersion, features: list[str]) -> list[str]:
    columns = p.columns_of(dataset_version)
    if raw is None:
        raw = [c["name"] for c in dataset_version.schema["columns"] if c.get("protected_attribute")]
        if not raw:
            raise ValidationError(
                {"protected_attributes": f"{dataset_version} flags no column as a protected attribute: name them."}
            )
    if not isinstance(raw, list) or not raw or len(set(raw)) != len(raw):
        raise ValidationError({"protected_attributes": "A non-empty list of distinct column names."})
    return [str(p.column(columns, name, "protected_attributes", dataset_version)["name"]) for name in raw]


def clean(model_version: ModelVersion, dataset_version: DatasetVersion, raw: dict[str, Any]) -> dict[str, Any]:
    """The audit's parameters, checked against the model's interface and the dataset's schema."""
    features = _explainable(model_version, dataset_version)
    method = raw.get("method", DEFAULTS["method"])
    if method is not None and method not in METHODS:
        raise ValidationError({"method": f"One of {', '.join(METHODS)}, or none for the explainer that fits."})
    return {
        "features": features,
        "protected_attributes": _attributes(raw.get("protected_attributes"), dataset_version, features),
        "background_rows": p.integer(
            raw.get("background_rows", DEFAULTS["background_rows"]), "background_rows", 10, 1000
        ),
        "sample_rows": p.integer(raw.get("sample_rows", DEFAULTS["sample_rows"]), "sample_rows", 50, 100_000),
        "seed": p.integer(raw.get("seed", DEFAULTS["seed"]), "seed", 0, 2**31 - 1),
        "max_evals": p.integer(raw.get("max_evals", DEFAULTS["max_evals"]), "max_evals", 10, 100_000),
        "method": method,
        "min_group_size": p.integer(raw.get("min_group_size", DEFAULTS["min_group_size"]), "min_group_size", 1, 10**7),
        "top": p.integer(raw.get("top", DEFAULTS["top"]), "top", 1, 50),
    }


# --- judgement -------------------------------------------------------------------------------------------------------


def _profile(importance: Mapping[str, float], features: list[str]) -> list[float] | None:
    """Mean |SHAP| per feature normalised to sum to 1 (in ``features``' order), or None when it is all zero."""
    values = [max(float(importance.get(name) or 0.0), 0.0) for name in features]
    total = sum(values)
    return [value / total for value in values] if total > 0 else None


def importance_shifts(results: Mapping[str, Any], min_group_size: int) -> dict[str, list[dict[str, Any]]]:
    """Per protected attribute, each group's total-variation distance (half the L1 distance, 0 to 1) between its
    normalised mean |SHAP| profile and the whole sample's; ``distance`` None and ``status`` "insufficient_data" for
    a group below ``min_group_size`` rows or without a profile."""
    features = [str(f["feature"]) for f in results.get("features") or []]
    whole = _profile({str(f["feature"]): f.get("mean_abs_shap") for f in results.get("features") or []}, features)
    shifts: dict[str, list[dict[str, Any]]] = {}
    for attribute, groups in (results.get("by_group") or {}).items():
        rows = []
        for group in groups:
            profile = _profile(group.get("mean_abs_shap") or {}, features)
            size = int(group.get("size") or 0)
            entry = {"group": group.get("group"), "size": size, "distance": None, "status": "insufficient_data"}
            if whole is not None and profile is not None and size >= min_group_size:
                distance = 0.5 * sum(abs(a - b) for a, b in zip(profile, whole, strict=True))
                entry.update(distance=distance, status="ok")
            rows.append(entry)
        shifts[str(attribute)] = rows
    return shifts


def judge_results(results: Mapping[str, Any], thresholds: Mapping[str, float], min_group_size: int) -> dict[str, str]:
    """``judge`` on a report's ``results`` (the job judges its figures before there is a report)."""
    limits = {**THRESHOLDS, **thresholds}
    additivity = results.get("additivity")
    checks: dict[str, str] = {
        "additivity": Verdict.INSUFFICIENT_DATA
        if not results.get("rows") or additivity is None
        else Verdict.PASS
        if additivity <= limits["additivity_error_max"]
        else Verdict.FAIL
    }
    verdicts = []
    for groups in importance_shifts(results, min_group_size).values():
        judged = [g for g in groups if g["distance"] is not None]
        if not judged:
            verdicts.append(Verdict.INSUFFICIENT_DATA)
        elif any(g["distance"] > limits["importance_shift_max"] for g in judged):
            verdicts.append(Verdict.FAIL)
        elif len(judged) < len(groups):
            verdicts.append(Verdict.INSUFFICIENT_DATA)
        else:
            verdicts.append(Verdict.PASS)
    checks["importance_shift"] = overall(verdicts)
    return checks


def judge(report: AuditReport, thresholds: Mapping[str, float]) -> dict[str, str]:
    """A verdict per check from the report's figures (the module's docstring)."""
    minimum = (report.parameters or {}).get("min_group_size", DEFAULTS["min_group_size"])
    return judge_results(report.results or {}, thresholds, int(minimum))


SPEC = register_kind(
    KindSpec(
        kind=AuditKind.EXPLANATION,
        job_kind=JOB_KIND,
        clean=clean,
        judge=judge,
        thresholds=THRESHOLDS,
        bounds=BOUNDS,
        by_risk_tier={"high": HIGH_RISK},
    )
)
