"""Local explanations of a model version's decisions and their principal reasons (docs/audits.md, "Local
explanations and the statement of reasons"): the checks on the rows a caller sends, the explanation of each row by the
version's cached explainer (audits.explainers), the decision the reason catalogue in force draws from its score, and
the reasons a person may be given for it.

A read, not a write: nothing is recorded. Bad rows are a ``ValidationError`` naming the row and feature
(``rows[2].income``); a request or model that cannot be explained is ``NotExplainable`` with its HTTP status (413 for
too many rows, 409 for a model without an explanation report or without a single numeric score).

A null value is a missing value: it is given to the model as NaN, as a missing cell of a dataset is. A tree ensemble
routes it by its missing-value direction and is explained; a model that returns no finite score for it (the demo's
logistic model returns NaN: the validation audit's edge cases show it) is a 400 naming the missing feature(s).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError

from audits.explainers import LocalExplainer, explanation_report, local_explainer
from audits.models import ReasonCatalogue
from audits.models.reasons import ReasonDirection
from audits.pipelines.explain import ADDITIVITY, ExplainError
from audits.pipelines.scoring import ScoringError, score_output
from audits.reasons import current_catalogue, model_sensitive_columns
from registry.artifacts import ArtifactCorrupted, ArtifactMissing
from registry.interface import InputFeed, InterfaceError, input_feeds
from registry.models import ModelVersion

DEFAULT_TOP = 4
MAX_TOP = 20
# Without a catalogue, a score at or above 0.5 is the positive decision, named plainly.
DEFAULT_THRESHOLD = 0.5
DEFAULT_DECISIONS = ("positive", "negative")
NO_TEXT = "no reason text in the catalogue"
FLOAT_LIMITS = {"float32": float(np.finfo(np.float32).max), "float16": float(np.finfo(np.float16).max)}
INTEGER_LIMITS = {
    name: (int(np.iinfo(name).min), int(np.iinfo(name).max)) for name in ("int8", "int16", "int32", "int64")
}


class NotExplainable(Exception):
    """The request or the model cannot be explained: ``status`` (409, 413), a stable ``code`` and the sentence."""

    def __init__(self, code: str, message: str, *, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def no_explanation_report(version: ModelVersion) -> NotExplainable:
    """The refusal of a version that has no explanation report of its artifact (explain, statement, serving's
    decision records)."""
    return NotExplainable(
        "no_explanation_report",
        f"Model version {version.pk} has no explanation report of its artifact: request an explanation audit of "
        f"this version first (POST /api/v1/audits/explanation/ with model_version {version.pk}).",
    )


# --- the model and the rows ------------------------------------------------------------------------------------------


def explainable_inputs(version: ModelVersion) -> list[InputFeed]:
    """The version's inputs, when it has one numeric score to explain; ``NotExplainable`` naming what it lacks."""
    try:
        feeds = input_feeds(version.interface)
    except InterfaceError as error:
        raise NotExplainable("unexplainable_model", str(error)) from None
    strings = [feed.input for feed in feeds if feed.elem_type == "string"]
    if strings:
        raise NotExplainable(
            "string_input",
            f"The model has a string input ({', '.join(strings)}): local explanations need numeric inputs.",
        )
    try:
        score_output(version.interface)  # the score the explainer reads (audits.pipelines.scoring)
    except ScoringError:
        outputs = [v for v in version.interface.get("outputs") or [] if "float" in str(v.get("elem_type", ""))]
        named = ", ".join(f"{v.get('name')!r} ({(v.get('shape') or ['?'])[-1]} columns)" for v in outputs)
        raise NotExplainable(
            "no_single_score",
            f"The model has no single score to explain: its float output(s) {named or '(none)'} are not one "
            "probability or score per row (a multi-class or multi-output model).",
        ) from None
    return feeds


def feature_types(feeds: Sequence[InputFeed]) -> dict[str, str]:
    """Each feature (column) the model reads, with the element type of the input it feeds, in feed order."""
    found: dict[str, str] = {}
    for feed in feeds:
        for column in feed.columns:
            found.setdefault(column, feed.elem_type)
    return found


def value_problem(value: Any, elem_type: str) -> str | None:
    """Why ``value`` cannot feed an input of ``elem_type``, or None (null is a missing value, checked later)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = {bool: "true/false", str: "text", dict: "an object", list: "a list"}.get(
            type(value), type(value).__name__
        )
        return f"must be a number, not {kind}"
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        return "must be a finite number"
    if not math.isfinite(number):
        return "must be a finite number"
    if elem_type in FLOAT_LIMITS and abs(number) > FLOAT_LIMITS[elem_type]:
        return f"is beyond the range of the model's {elem_type} input (±{FLOAT_LIMITS[elem_type]:.6g})"
    if elem_type in INTEGER_LIMITS:
        low, high = INTEGER_LIMITS[elem_type]
        if number != math.floor(number):
            return f"must be a whole number (the model's input is {elem_type})"
        if not low <= number <= high:
            return f"is beyond the range of the model's {elem_type} input"
    if elem_type == "bool" and number not in (0.0, 1.0):
        return "must be 0 or 1 (the model's input is a boolean)"
    return None


def check_rows(rows: Any, types: Mapping[str, str], *, field: str = "rows") -> np.ndarray:
    """The rows as a float matrix in the model's feature order (null is NaN); a ``ValidationError`` naming every
    missing, unknown, mistyped or out-of-range feature by row (``rows[0].income``)."""
    if not isinstance(rows, list) or not rows:
        raise ValidationError({field: ["Send a non-empty list of rows, each an object of feature: value."]})
    by_name = {name.casefold(): name for name in types}
    errors: dict[str, list[str]] = {}
    matrix = np.full((len(rows), len(types)), np.nan)
    order = {name: j for j, name in enumerate(types)}
    for i, row in enumerate(rows):
        where = f"{field}[{i}]"
        if not isinstance(row, dict):
            errors[where] = ["must be an object of feature: value."]
            continue
        given = {str(key).casefold(): (key, value) for key, value in row.items()}
        for key, _ in given.values():
            if str(key).casefold() not in by_name:
                errors[f"{where}.{key}"] = [f"is not a feature of this model (its features: {', '.join(types)})."]
        for name, elem_type in types.items():
            if name.casefold() not in given:
                errors[f"{where}.{name}"] = ["is missing (send null for a missing value)."]
                continue
            value = given[name.casefold()][1]
            problem = value_problem(value, elem_type)
            if problem:
                errors[f"{where}.{name}"] = [f"{problem}: got {value!r}."[:300]]
            elif value is not None:
                matrix[i, order[name]] = float(value)
    if errors:
        raise ValidationError(errors)
    return matrix


# --- reasons ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What a score decides under the catalogue in force (or the defaults when there is none)."""

    threshold: float
    positive: str
    negative: str

    def of(self, score: float) -> tuple[str, bool]:
        return (self.positive, True) if score >= self.threshold else (self.negative, False)


def decision_rule(catalogue: ReasonCatalogue | None) -> Decision:
    if catalogue is None:
        return Decision(DEFAULT_THRESHOLD, *DEFAULT_DECISIONS)
    return Decision(catalogue.threshold, catalogue.positive_decision, catalogue.negative_decision)


def rank_reasons(
    features: Sequence[str],
    values: Sequence[float],
    shap_values: Sequence[float],
    *,
    positive: bool,
    entries: Sequence[Mapping[str, Any]],
    sensitive: Mapping[str, str],
    top: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The principal reasons for a decision, and the features withheld from them.

    A reason is a feature that pushed the score toward the decision made: a positive SHAP value for a positive
    decision (score at or above the threshold), a negative one otherwise; the ``top`` largest by |SHAP| (ties in the
    model's feature order), each with the catalogue's sentence for its (feature, direction) or ``text: None``. A
    feature ``sensitive`` names (protected, special-category, prohibited) is never a reason: it is listed among the
    withheld with why, wherever it would have ranked."""
    texts = {(str(e["feature"]).casefold(), str(e["direction"])): str(e["text"]) for e in entries}
    sign = 1.0 if positive else -1.0
    pushing = [j for j in range(len(features)) if sign * float(shap_values[j]) > 0]
    pushing.sort(key=lambda j: -abs(float(shap_values[j])))
    reasons: list[dict[str, Any]] = []
    withheld: list[dict[str, Any]] = []
    for j in pushing:
        feature, contribution = features[j], float(shap_values[j])
        value = None if math.isnan(float(values[j])) else float(values[j])
        why = sensitive.get(feature.casefold())
        if why is not None:
            withheld.append({"feature": feature, "shap": contribution, "why": f"never a reason: {why}"})
            continue
        if len(reasons) == top:
            continue
        direction = ReasonDirection.RAISES if contribution > 0 else ReasonDirection.LOWERS
        text = texts.get((feature.casefold(), direction.value))
        reason = {"feature": feature, "value": value, "shap": contribution, "direction": direction.value, "text": text}
        if text is None:
            reason["note"] = NO_TEXT
        reasons.append(reason)
    return reasons, withheld


# --- the explanation -------------------------------------------------------------------------------------------------


def explain_rows(version: ModelVersion, rows: Any, *, top: int = DEFAULT_TOP, field: str = "rows") -> dict[str, Any]:
    """Explain ``rows`` (a list of {feature: value}) with the version's local explainer: the figures of each row,
    its decision and principal reasons, and what they were computed with."""
    feeds = explainable_inputs(version)
    limit = int(settings.EXPLAIN_MAX_ROWS)
    if isinstance(rows, list) and len(rows) > limit:
        raise NotExplainable(
            "too_many_rows", f"{len(rows)} rows in one request; the limit is {limit} (EXPLAIN_MAX_ROWS).", status=413
        )
    types = feature_types(feeds)
    matrix = check_rows(rows, types, field=field)
    report = explanation_report(version)
    if report is None:
        raise no_explanation_report(version)
    features = list(types)
    try:
        local = local_explainer(version, report, features)
        scores = local.explainer.score(matrix)
        unscored = [i for i in range(len(matrix)) if not math.isfinite(float(scores[i]))]
        if unscored:
            raise ValidationError(unscored_rows(unscored, matrix, features, field))
        explained = local.explainer.explain(matrix)
    except ExplainError as error:
        raise NotExplainable("unexplainable_model", str(error)) from None
    except (ArtifactMissing, ArtifactCorrupted) as error:
        raise NotExplainable("artifact_unavailable", f"The model's artifact cannot be read: {error}") from None
    catalogue = current_catalogue(version.model)
    rule = decision_rule(catalogue)
    sensitive = model_sensitive_columns(version.model)
    results = []
    for i in range(len(matrix)):
        score = float(explained.scores[i])
        decision, positive = rule.of(score)
        additivity = float(abs(explained.base_values[i] + explained.values[i].sum() - explained.outputs[i]))
        reasons, withheld = rank_reasons(
            features,
            matrix[i],
            explained.values[i],
            positive=positive,
            entries=catalogue.entries if catalogue is not None else [],
            sensitive=sensitive,
            top=top,
        )
        results.append(
            {
                "row": i,
                "score": score,
                "output": float(explained.outputs[i]),
                "output_space": explained.output_space,
                "base_value": float(explained.base_values[i]),
                "shap": {feature: float(explained.values[i, j]) for j, feature in enumerate(features)},
                "additivity_error": additivity,
                "tolerance": ADDITIVITY,
                "additive": additivity <= ADDITIVITY,
                "decision": decision,
                "positive": positive,
                "reasons": reasons,
                "withheld": withheld,
            }
        )
    return {
        "model_version": describe_version(version),
        "explainer": describe_explainer(local),
        "catalogue": describe_catalogue(catalogue, rule),
        "results": results,
    }


def unscored_rows(unscored: list[int], matrix: np.ndarray, features: list[str], field: str) -> dict[str, list[str]]:
    """The rows the model gives no finite score for, by missing feature (null is the only way to get there)."""
    errors: dict[str, list[str]] = {}
    for i in unscored:
        missing = [feature for j, feature in enumerate(features) if math.isnan(matrix[i, j])]
        for feature in missing or [""]:
            where = f"{field}[{i}].{feature}" if feature else f"{field}[{i}]"
            errors[where] = [
                "The model gives no score for this row with this value missing (null): it cannot be explained; "
                "send a number."
            ]
    return errors


def describe_version(version: ModelVersion) -> dict[str, Any]:
    return {
        "id": version.pk,
        "model": version.model.name,
        "team": version.model.team.name,
        "number": version.number,
        "artifact_sha256": version.artifact_sha256,
    }


def describe_explainer(local: LocalExplainer) -> dict[str, Any]:
    return {
        "method": local.explainer.method,
        "output_space": local.explainer.output_space,
        "parameters": local.explainer.parameters,
        "report": {"id": local.report_id, "digest": local.report_digest},
        "background": local.background,
    }


def describe_catalogue(catalogue: ReasonCatalogue | None, rule: Decision) -> dict[str, Any]:
    decisions = {"threshold": rule.threshold, "positive_decision": rule.positive, "negative_decision": rule.negative}
    if catalogue is None:
        return {
            "number": None,
            "digest": None,
            **decisions,
            "note": "This model has no reason catalogue: the threshold 0.5 and the decisions 'positive'/'negative' "
            "are defaults, and no reason has a text.",
        }
    return {"number": catalogue.number, "digest": catalogue.digest, **decisions, "note": ""}
