"""The registration rule on prohibited inputs: a model version may not read a column its data marks
``prohibited_input``.

What the model reads is its interface's columns (registry.interface.feature_columns). They are held against the
dataset versions the version names, and against the feature-set versions it names through the dataset versions
those were materialized from: a feature computed from a prohibited column (one that keeps its name, ``ethnicity``
as the latest ``ethnicity``, or any other definition that reads it, as the materialization's column lineage says)
is that column under another name.

Only the schema's flag is read here. A compliance officer's reclassification of a column in a DPIA
(compliance.models.dpia.ColumnReclassification) lives in a layer above the registry and is not consulted at
registration; the deployment gate's checks see it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import ValidationError

from registry.interface import InterfaceError, feature_columns
from registry.models import DatasetVersion, FeatureSetVersion
from registry.pipelines.feature_definitions import feature_reads


def prohibited_columns(version: DatasetVersion) -> dict[str, str]:
    """``{casefolded name: name as written}`` of ``version``'s columns flagged ``prohibited_input``."""
    columns = version.schema.get("columns") or [] if isinstance(version.schema, dict) else []
    return {str(c["name"]).casefold(): str(c["name"]) for c in columns if c.get("prohibited_input")}


def check_no_prohibited_input(
    interface: dict[str, Any],
    dataset_rows: Sequence[DatasetVersion],
    feature_rows: Sequence[FeatureSetVersion],
) -> None:
    """Raise a ValidationError naming the field (``dataset_versions`` or ``feature_set_versions``) and the column
    when the model reads a prohibited column. An interface whose inputs no column feeds (an image model, say) reads
    no column and passes."""
    try:
        columns = feature_columns(interface)
    except InterfaceError:
        return
    if not columns:
        return
    for dataset_version in dataset_rows:
        prohibited = prohibited_columns(dataset_version)
        for column in columns:
            if column.casefold() in prohibited:
                raise ValidationError(
                    {
                        "dataset_versions": (
                            f"The model reads the column {column!r}, which {dataset_version} marks as a prohibited "
                            "input: a prohibited column may not be a model input. Retrain without it."
                        )
                    }
                )
    for feature_set in feature_rows:
        _check_feature_set(columns, feature_set)


def _check_feature_set(columns: Iterable[str], feature_set: FeatureSetVersion) -> None:
    sources = list(feature_set.dataset_versions.select_related("dataset").order_by("pk"))
    prohibited = {name: (written, source) for source in sources for name, written in prohibited_columns(source).items()}
    if not prohibited:
        return
    features = {str(feature.get("name", "")).casefold(): feature for feature in feature_set.features or []}
    for column in columns:
        feature = features.get(column.casefold())
        # A feature is what its definition reads; a column that is no feature passes through with its name.
        reads = feature_reads(feature) if feature is not None else [column]
        for read in reads:
            if read.casefold() in prohibited:
                written, source = prohibited[read.casefold()]
                how = f"the feature {column!r}, computed from" if feature is not None else "the column"
                raise ValidationError(
                    {
                        "feature_set_versions": (
                            f"The model reads {how} {written!r} of {source} (through {feature_set}), which is "
                            "marked as a prohibited input: a prohibited column may not be a model input."
                        )
                    }
                )
