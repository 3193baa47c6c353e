"""The registration rule on prohibited inputs: a model version may not read a column its data marks
``prohibited_input``.

What the model reads is its interface's columns (registry.interface.feature_columns). They are held against the
dataset versions the version names, and against the feature-set versions it names through the dataset versions
those were materialized from: a feature computed from a prohibited column (one that keeps its name, ``ethnicity``
as the latest ``ethnicity``, or any other definition that reads it, as the materialization's column lineage says)
is that column under another name.

A refusal is recorded (``model.version_refused``, reason ``prohibited_input``): an attempt to feed a model a
prohibited column is what an investigator looks for. Only the schema's flag is read here. A compliance officer's
reclassification of a column in a DPIA (compliance.models.dpia.ColumnReclassification) lives in a layer above the
registry and is not consulted at registration: a column a DPIA reclassifies as prohibited is not refused here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from registry.interface import InterfaceError, feature_columns
from registry.models import DatasetVersion, FeatureSetVersion
from registry.pipelines.feature_definitions import feature_reads


def prohibited_columns(version: DatasetVersion) -> dict[str, str]:
    """``{casefolded name: name as written}`` of ``version``'s columns flagged ``prohibited_input``."""
    columns = version.schema.get("columns") or [] if isinstance(version.schema, dict) else []
    return {str(c["name"]).casefold(): str(c["name"]) for c in columns if c.get("prohibited_input")}


@dataclass(frozen=True)
class ProhibitedInput:
    """Why a model version is refused: the request ``field`` at fault, the prohibited ``column`` read (as its schema
    writes it), the dataset version that marks it, the feature computed from it ("" when read directly), and the
    sentence to show."""

    field: str
    column: str
    dataset_version: DatasetVersion
    feature: str
    message: str


def prohibited_input(
    interface: dict[str, Any],
    dataset_rows: Sequence[DatasetVersion],
    feature_rows: Sequence[FeatureSetVersion],
) -> ProhibitedInput | None:
    """The first prohibited column the model reads, or None. An interface whose inputs no column feeds (an image
    model, a matrix input without the ``features`` metadata) names no column and passes."""
    try:
        columns = feature_columns(interface)
    except InterfaceError:
        return None
    for dataset_version in dataset_rows:
        prohibited = prohibited_columns(dataset_version)
        for column in columns:
            if column.casefold() in prohibited:
                return ProhibitedInput(
                    "dataset_versions",
                    prohibited[column.casefold()],
                    dataset_version,
                    "",
                    f"The model reads the column {column!r}, which {dataset_version} marks as a prohibited input: a "
                    "prohibited column may not be a model input. Retrain without it.",
                )
    for feature_set in feature_rows:
        found = _in_feature_set(columns, feature_set)
        if found is not None:
            return found
    return None


def _in_feature_set(columns: Iterable[str], feature_set: FeatureSetVersion) -> ProhibitedInput | None:
    sources = list(feature_set.dataset_versions.select_related("dataset").order_by("pk"))
    prohibited = {name: (written, source) for source in sources for name, written in prohibited_columns(source).items()}
    if not prohibited:
        return None
    features = {str(feature.get("name", "")).casefold(): feature for feature in feature_set.features or []}
    for column in columns:
        feature = features.get(column.casefold())
        # A feature is what its definition reads; a column that is no feature passes through with its name.
        reads = feature_reads(feature) if feature is not None else [column]
        for read in reads:
            if read.casefold() in prohibited:
                written, source = prohibited[read.casefold()]
                how = f"the feature {column!r}, computed from" if feature is not None else "the column"
                return ProhibitedInput(
                    "feature_set_versions",
                    written,
                    source,
                    column if feature is not None else "",
                    f"The model reads {how} {written!r} of {source} (through {feature_set}), which is marked as a "
                    "prohibited input: a prohibited column may not be a model input.",
                )
    return None
