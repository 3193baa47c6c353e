"""Data quality of scored inputs against the training statistics of a model version (docs/serving.md, "Data
quality").

``training_profile`` reads, once when the inference service loads a version, what the registry and the audits know
about the training data of its inputs, and keeps only what the checks need: each feature's range and, for a text
input, its categories. ``Profile.assess`` then counts, per request and without pandas or numpy, the rows with a
missing value, a value outside the training range or a category unseen in training, per input. The counts are what
``PredictionLog.quality`` stores.

Where the statistics come from, per feature, the first source that has them:

1. the statistics of the feature-set versions the model version was trained on (registry FeatureSetVersion,
   computed over the whole materialized data by registry.pipelines.statistics): ``min`` and ``max``;
2. the newest validation report of the version's artifact (audits, ``results.edge_cases.statistics``: the training
   data's when the job could read it, else the evaluation data's, as ``statistics_from`` says): ``min``/``max`` of
   numbers and the categories of text columns (a list cut at audits.pipelines.edge_cases.TOP_CATEGORIES categories
   is incomplete and is not used: a category beyond it would be flagged unseen wrongly);
3. the newest explanation report's background (a sample of the training data, its rows kept in the report): the
   sample's ``min``/``max``, narrower than the data's, so it flags more values out of range than the full data
   would.

A dataset version's schema holds types and flags but no ranges or categories: it is no source of either. A version
with none of these gets an empty profile, which still counts missing values (a null, NaN or absent feature).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from audits.choices import AuditKind
from audits.models import AuditReport
from audits.pipelines.edge_cases import TOP_CATEGORIES
from registry.interface import InterfaceError, feature_columns
from registry.models import FeatureSetVersion, ModelVersion

MISSING = "missing"
OUT_OF_RANGE = "out_of_range"
UNSEEN = "unseen"


@dataclass(frozen=True)
class Profile:
    """The training statistics of a version's inputs that the checks use: ``features`` (the model's, in feed
    order), ``ranges`` (feature: (min, max)), ``categories`` (feature: the categories seen in training) and
    ``sources`` (feature: where its statistics came from, for people reading a log)."""

    features: tuple[str, ...] = ()
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    categories: Mapping[str, frozenset[str]] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)

    def assess(self, rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
        """Per check, per input, how many of ``rows`` fail it: ``{"missing": {"income": 1}, "out_of_range":
        {"age": 2}, "unseen": {"region": 1}}``, without the checks nobody failed (``{}`` when all is well). A
        feature is matched without case, as the inputs are. A feature that no row names counts as missing; a row's
        key that is no feature of the model is not this check's business (the interface check refuses it)."""
        counts: dict[str, dict[str, int]] = {}

        def count(check: str, feature: str) -> None:
            found = counts.setdefault(check, {})
            found[feature] = found.get(feature, 0) + 1

        for row in rows:
            folded = bool(self.features) and not all(feature in row for feature in self.features)
            values = {str(key).casefold(): value for key, value in row.items()} if folded else row
            for feature in self.features or [str(key) for key in row]:
                value = values.get(feature.casefold() if folded else feature)
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    count(MISSING, feature)
                elif isinstance(value, str):
                    seen = self.categories.get(feature)
                    if seen is not None and value not in seen:
                        count(UNSEEN, feature)
                elif isinstance(value, int | float) and not isinstance(value, bool):
                    bounds = self.ranges.get(feature)
                    if bounds is not None and not bounds[0] <= value <= bounds[1]:
                        count(OUT_OF_RANGE, feature)
        return counts


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _range(stats: Any) -> tuple[float, float] | None:
    if not isinstance(stats, Mapping):
        return None
    low, high = _number(stats.get("min")), _number(stats.get("max"))
    return (low, high) if low is not None and high is not None and low <= high else None


def feature_set_ranges(version: ModelVersion) -> list[tuple[str, dict[str, Any]]]:
    """The statistics of the feature-set versions ``version`` was trained on, newest first, with their names."""
    found = FeatureSetVersion.objects.filter(model_versions=version).select_related("feature_view").order_by("-pk")
    return [(f"feature set {fsv}", fsv.statistics or {}) for fsv in found]


def validation_statistics(version: ModelVersion) -> tuple[str, dict[str, Any]] | None:
    """The column statistics of the newest validation report of the version's artifact, with what they describe."""
    report = (
        AuditReport.objects.filter(
            model_version=version, kind=AuditKind.VALIDATION, artifact_sha256=version.artifact_sha256
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    edge_cases = ((report.results or {}).get("edge_cases") or {}) if report is not None else {}
    statistics = edge_cases.get("statistics")
    if report is None or not isinstance(statistics, dict):
        return None
    described = edge_cases.get("statistics_from") or "its data"
    return f"validation report {report.pk} ({described})", statistics


def background_ranges(version: ModelVersion) -> tuple[str, dict[str, tuple[float, float]]] | None:
    """The range of each column of the newest explanation report's background sample."""
    report = (
        AuditReport.objects.filter(
            model_version=version, kind=AuditKind.EXPLANATION, artifact_sha256=version.artifact_sha256
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    background = ((report.results or {}).get("background") or {}) if report is not None else {}
    names = [str(name) for name in background.get("features") or []]
    rows = background.get("values") or []
    if report is None or not names or not rows:
        return None
    ranges: dict[str, tuple[float, float]] = {}
    for j, name in enumerate(names):
        cells = (_number(row[j]) for row in rows if isinstance(row, list) and len(row) > j)
        column = [number for number in cells if number is not None]
        if column:
            ranges[name] = (min(column), max(column))
    return f"explanation report {report.pk}'s background ({len(rows)} sampled rows)", ranges


def training_profile(version: ModelVersion) -> Profile:
    """The profile of ``version``'s inputs, from the best source per feature (this module's docstring). Reads the
    database: call it once per loaded version, never per request."""
    try:
        features = feature_columns(version.interface if isinstance(version.interface, dict) else {})
    except InterfaceError:
        features = []  # the inference service refuses such a model; the profile still counts what a row leaves null
    wanted = {feature.casefold(): feature for feature in features}

    def ours(name: str) -> str | None:
        # Without named features (an unparsable interface) every named column is checked under its own name.
        return wanted.get(name.casefold()) if wanted else name

    ranges: dict[str, tuple[float, float]] = {}
    categories: dict[str, frozenset[str]] = {}
    sources: dict[str, str] = {}
    for source, statistics in feature_set_ranges(version):
        for name, stats in statistics.items():
            feature, bounds = ours(str(name)), _range(stats)
            if feature is not None and bounds is not None and feature not in ranges:
                ranges[feature], sources[feature] = bounds, source
    validation = validation_statistics(version)
    if validation is not None:
        source, statistics = validation
        for name, stats in statistics.items():
            feature = ours(str(name))
            if feature is None or not isinstance(stats, Mapping):
                continue
            bounds = _range(stats)
            if bounds is not None and feature not in ranges:
                ranges[feature], sources[feature] = bounds, source
            seen = stats.get("categories")
            if isinstance(seen, list) and seen and len(seen) < TOP_CATEGORIES and feature not in categories:
                categories[feature] = frozenset(str(category) for category in seen)
                sources.setdefault(feature, source)
    background = background_ranges(version)
    if background is not None:
        source, found = background
        for name, bounds in found.items():
            feature = ours(name)
            if feature is not None and feature not in ranges and feature not in categories:
                ranges[feature], sources[feature] = bounds, source
    return Profile(tuple(features), ranges, categories, sources)
