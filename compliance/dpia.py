"""Reading DPIAs and the column overlay: a dataset version's columns as reclassified, what a DPIA pre-fills from
its datasets, a version's canonical content and digest, the manifest's ``dpia`` entry, and what changed in the
covered datasets since a version was written. The writes are in compliance.actions.dpia."""

from __future__ import annotations

from datetime import date
from typing import Any

from compliance.dpia_rules import CRITERIA
from compliance.models import ColumnReclassification, Dpia, DpiaVersion
from core.canonical import canonical_digest, to_stored_json
from registry.models import Dataset, DatasetVersion, UseCase

FLAGS = ("personal_data", "special_category", "protected_attribute", "prohibited_input")
DPIA_FORMAT = "assay.dpia/v1"


def schema_columns(schema: Any) -> list[dict[str, Any]]:
    columns = schema.get("columns", []) if isinstance(schema, dict) else []
    return [column for column in columns if isinstance(column, dict) and isinstance(column.get("name"), str)]


def overlay_of(dataset_ids: list[int]) -> dict[int, dict[str, dict[str, bool]]]:
    """dataset id -> column -> the flags of its newest reclassification."""
    overlay: dict[int, dict[str, dict[str, bool]]] = {}
    rows = ColumnReclassification.objects.filter(dataset_id__in=dataset_ids).order_by("created_at", "id")
    for row in rows.values("dataset_id", "column", "after"):
        overlay.setdefault(row["dataset_id"], {})[row["column"]] = {
            flag: bool(row["after"].get(flag)) for flag in FLAGS
        }
    return overlay


def effective_columns(
    version: DatasetVersion, overlay: dict[str, dict[str, bool]] | None = None
) -> list[dict[str, Any]]:
    """The version's columns with their flags as reclassified since (``overlay``: column -> flags; read from the
    database when not given)."""
    if overlay is None:
        overlay = overlay_of([version.dataset_id]).get(version.dataset_id, {})
    columns = []
    for column in schema_columns(version.schema):
        flags = {flag: bool(column.get(flag)) for flag in FLAGS}
        flags.update(overlay.get(column["name"], {}))
        columns.append({**column, **flags})
    return columns


def flagged_columns(columns: list[dict[str, Any]]) -> dict[str, list[str]]:
    """flag -> the names of the columns that carry it, sorted."""
    return {flag: sorted(str(column["name"]) for column in columns if column.get(flag)) for flag in FLAGS}


def holds_personal_data(flagged: dict[str, list[str]]) -> bool:
    return bool(flagged.get("personal_data") or flagged.get("special_category"))


def prefill(datasets: list[Dataset]) -> dict[str, Any]:
    """What a DPIA version reads from its datasets' newest versions: ``datasets`` (the coverage, with the version
    read), ``data_categories`` (personal, special-category and protected columns) and ``transfers`` (residency)."""
    overlay = overlay_of([dataset.pk for dataset in datasets])
    covered, categories, transfers = [], [], []
    for dataset in sorted(datasets, key=lambda item: item.pk):
        version = dataset.versions.order_by("-number").first()
        covered.append(
            {
                "id": dataset.pk,
                "name": dataset.name,
                "version_id": version.pk if version else None,
                "version": version.number if version else None,
            }
        )
        flagged = flagged_columns(effective_columns(version, overlay.get(dataset.pk, {}))) if version else {}
        categories.append(
            {
                "dataset": dataset.name,
                "version": version.number if version else None,
                "classification": dataset.classification,
                "legal_basis": dataset.legal_basis,
                "personal_data": flagged.get("personal_data", []),
                "special_category": flagged.get("special_category", []),
                "protected_attribute": flagged.get("protected_attribute", []),
            }
        )
        transfers.append({"dataset": dataset.name, "residency_region": dataset.residency_region or "unspecified"})
    return {"datasets": covered, "data_categories": categories, "transfers": transfers}


CONTENT_FIELDS = (
    "datasets",
    "screening",
    "full_dpia_required",
    "screening_reason",
    "processing_description",
    "purposes",
    "legal_basis",
    "data_subjects",
    "data_categories",
    "recipients",
    "transfers",
    "retention",
    "necessity",
    "proportionality",
    "risks",
    "prior_consultation_required",
    "dpo_advice",
)


def version_content(version: DpiaVersion) -> dict[str, Any]:
    """The canonical content of a version: what its digest covers (not its status: approving changes no content)."""
    content: dict[str, Any] = {
        "format": DPIA_FORMAT,
        "dpia": version.dpia_id,
        "use_case": version.dpia.use_case_id,
        "version": version.number,
        "model": version.model_id,
        "review_date": version.review_date.isoformat() if version.review_date else None,
    }
    content.update({name: getattr(version, name) for name in CONTENT_FIELDS})
    stored: dict[str, Any] = to_stored_json(content)
    return stored


def version_digest(version: DpiaVersion) -> str:
    return str(canonical_digest(version_content(version)))


def latest_version(use_case: UseCase | None) -> DpiaVersion | None:
    if use_case is None:
        return None
    return DpiaVersion.objects.filter(dpia__use_case=use_case).select_related("dpia").order_by("-number").first()


def manifest_entry(use_case: UseCase | None) -> dict[str, Any] | None:
    """The manifest's ``dpia``: the use case's newest DPIA version (id, version, digest, covered dataset ids), or
    None. A new version, or an edit of the draft, changes it; approving the version does not."""
    version = latest_version(use_case)
    if version is None:
        return None
    return {
        "id": version.dpia_id,
        "version_id": version.pk,
        "version": version.number,
        "digest": version.digest,
        "datasets": sorted(int(item["id"]) for item in version.datasets),
    }


def is_expired(version: DpiaVersion, today: date) -> bool:
    return version.review_date is not None and version.review_date < today


def reclassified_since(version: DpiaVersion) -> list[dict[str, Any]]:
    """The reclassifications of the version's covered datasets made after the version was written: each
    ``{"dataset", "column", "before", "after", "reason", "by", "at"}``."""
    ids = [int(item["id"]) for item in version.datasets]
    rows = (
        ColumnReclassification.objects.filter(dataset_id__in=ids, created_at__gt=version.created_at)
        .select_related("dataset", "created_by")
        .order_by("created_at", "id")
    )
    return [
        {
            "dataset": row.dataset.name,
            "column": row.column,
            "before": row.before,
            "after": row.after,
            "reason": row.reason,
            "by": row.created_by.get_username() if row.created_by else "",
            "at": row.created_at,
        }
        for row in rows
    ]


def criteria_rows(version: DpiaVersion) -> list[dict[str, Any]]:
    """The nine criteria in order, each with the version's answer (None: not screened) and note."""
    rows = []
    for key, question in CRITERIA.items():
        answer = version.screening.get(key, {}) if isinstance(version.screening, dict) else {}
        rows.append({"key": key, "question": question, "answer": answer.get("answer"), "note": answer.get("note", "")})
    return rows


def dpia_for(use_case: UseCase) -> Dpia | None:
    return Dpia.objects.filter(use_case=use_case).first()
