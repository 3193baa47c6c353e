"""Reasons a person can be given: which of a model's features may never be one, and (audits.actions) the checks
on a reason catalogue. docs/audits.md, "Explanations"."""

from __future__ import annotations

from collections.abc import Iterable

from audits.models import ReasonCatalogue
from registry.models import DatasetVersion, RegisteredModel

# The column flags that bar a feature from being given as a reason, in words: a decision is never explained to a
# person by a protected characteristic, special-category data or an input that was prohibited.
NEVER_A_REASON = {
    "protected_attribute": "a protected attribute",
    "special_category": "special-category data",
    "prohibited_input": "prohibited as a model input",
}


def sensitive_columns(dataset_versions: Iterable[DatasetVersion]) -> dict[str, str]:
    """``{casefolded column: why}`` of the columns the dataset versions' schemas flag with ``NEVER_A_REASON``
    ("a protected attribute in loans v3")."""
    found: dict[str, str] = {}
    for version in dataset_versions:
        schema = version.schema if isinstance(version.schema, dict) else {}
        for column in schema.get("columns") or []:
            for flag, words in NEVER_A_REASON.items():
                if column.get(flag):
                    found.setdefault(str(column["name"]).casefold(), f"{words} in {version}")
    return found


def model_sensitive_columns(model: RegisteredModel) -> dict[str, str]:
    """``sensitive_columns`` of every dataset version a version of ``model`` was trained or audited on."""
    trained = DatasetVersion.objects.filter(model_versions__model=model)
    audited = DatasetVersion.objects.filter(audit_reports__model_version__model=model)
    ids = set(trained.values_list("pk", flat=True)) | set(audited.values_list("pk", flat=True))
    return sensitive_columns(DatasetVersion.objects.filter(pk__in=ids).select_related("dataset").order_by("pk"))


def current_catalogue(model: RegisteredModel | int) -> ReasonCatalogue | None:
    """The reason catalogue in force for ``model`` (its newest version), or None when it has none."""
    model_id = model if isinstance(model, int) else model.pk
    return ReasonCatalogue.objects.filter(model_id=model_id).order_by("-number").first()
