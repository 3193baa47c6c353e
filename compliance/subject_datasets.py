"""The subject finder of dataset rows: the versions of the request's team whose schema declares a subject-identifier
column, searched in their files, and erased by rewriting those files without the subject's rows.

A dataset's versions share its location, so each dataset is searched once, with the newest version that declares a
subject-identifier column (its columns say what to compare). Only data in the local lake can be searched and
rewritten here (registry.pipelines.io.local_data_files); data in a bucket is listed as not searched, with where it
is, for the officer to handle where it lives. docs/decisions/0008-erasing-rows-of-dataset-versions.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from compliance.actions.subjects import do_record_dataset_erasure
from compliance.models import DatasetFilesErasure, SubjectRequest
from compliance.pipelines.subjects import SubjectDataError, count_rows, rewrite_without
from compliance.subjects import ErasureKept, FinderResult, Progress
from core.canonical import canonical_digest
from registry.models import DatasetVersion
from registry.pipelines import io
from registry.schema import SchemaError, parse_schema

if TYPE_CHECKING:
    from django.contrib.auth.models import User

KIND = "dataset_rows"
OBJECT_TYPE = "registry.datasetversion"


def declaring_versions(request: SubjectRequest) -> list[tuple[DatasetVersion, dict[str, str]]]:
    """Per dataset of the request's team, its newest version declaring subject-identifier columns, with them
    (name to registry type)."""
    chosen: dict[int, tuple[DatasetVersion, dict[str, str]]] = {}
    versions = (
        DatasetVersion.objects.filter(dataset__team=request.team)
        .select_related("dataset")
        .order_by("dataset_id", "-number")
    )
    for version in versions.iterator():
        if version.dataset_id in chosen:
            continue
        try:
            columns = parse_schema(version.schema).subject_identifiers()
        except SchemaError:
            continue
        if columns:
            chosen[version.dataset_id] = (version, {column.name: str(column.type) for column in columns})
    return list(chosen.values())


def source_of(version: DatasetVersion) -> io.DataSource:
    return io.DataSource(
        name=str(version),
        location=version.dataset.location,
        storage_format=version.dataset.storage_format,
        schema=version.schema,
    )


def files_of(version: DatasetVersion) -> tuple[list[Path], Path]:
    """The version's local files and their root; ``ErasureKept`` (with where the data is) when not local."""
    try:
        listed = io.local_data_files(source_of(version), lake_root=str(settings.DATA_LAKE_ROOT))
    except io.DataError as error:
        raise ErasureKept(error.message) from None
    if listed is None:
        raise ErasureKept(
            f"the data is at {version.dataset.location}, outside the local lake: Assay cannot read it there; "
            "search and erase it where it lives"
        )
    return listed


def describe(version: DatasetVersion) -> dict[str, Any]:
    return {
        "kind": KIND,
        "object_type": OBJECT_TYPE,
        "object_id": version.pk,
        "dataset_id": version.dataset_id,
        "team": version.dataset.team.slug,
        "label": str(version),
        "location": version.dataset.location,
    }


class DatasetRowsFinder:
    """Rows of registered dataset versions that name the subject in a subject-identifier column."""

    def find(self, request: SubjectRequest, progress: Progress) -> FinderResult:
        result = FinderResult()
        candidates = declaring_versions(request)
        for index, (version, columns) in enumerate(candidates):
            progress(index / max(len(candidates), 1), f"searching {version}")
            described = {**describe(version), "columns": sorted(columns)}
            try:
                files, root = files_of(version)
                found = count_rows(files, version.dataset.storage_format, columns, request.subject_identifier)
            except ErasureKept as kept:
                result.unsearched.append({**described, "why": kept.why})
                continue
            except SubjectDataError as error:
                result.unsearched.append({**described, "why": str(error)})
                continue
            if not found:
                continue
            result.hits.append(
                {
                    **described,
                    "files": [{"path": item.path.relative_to(root).as_posix(), "rows": item.rows} for item in found],
                    "rows": sum(item.rows for item in found),
                    "files_digest": canonical_digest(io.file_listing(files, root)),
                }
            )
        progress(1.0, f"searched {len(candidates)} dataset(s)")
        return result

    def erase(self, request: SubjectRequest, hit: Mapping[str, Any], *, actor: User | None) -> dict[str, Any]:
        object_id = hit.get("object_id")
        version = (
            DatasetVersion.objects.filter(pk=object_id).select_related("dataset__team").first()
            if isinstance(object_id, int)
            else None
        )
        if version is None:
            raise ErasureKept("the dataset version is gone")
        done = DatasetFilesErasure.objects.filter(request=request, dataset_version=version).first()
        if done is None:
            done = self.rewrite(request, version, hit, actor=actor)
        return {
            **{key: hit[key] for key in ("kind", "object_type", "object_id", "label") if key in hit},
            "rows": done.rows_erased,
            "action": "rows removed from the version's files",
            "files_before": done.files_before,
            "files_after": done.files_after,
        }

    def rewrite(
        self, request: SubjectRequest, version: DatasetVersion, hit: Mapping[str, Any], *, actor: User | None
    ) -> DatasetFilesErasure:
        files, root = files_of(version)
        storage_format = version.dataset.storage_format
        columns = {column.name: str(column.type) for column in parse_schema(version.schema).subject_identifiers()}
        # Each file is replaced whole, by a rename: a job killed here leaves some files rewritten and others not,
        # and its next attempt rewrites the rest (a rewritten file has no matching row left, so it is skipped).
        removed = sum(rewrite_without(file, storage_format, columns, request.subject_identifier) for file in files)
        left = count_rows(files, storage_format, columns, request.subject_identifier)
        if left:
            raise SubjectDataError(f"{left[0].path.name} still holds {left[0].rows} row(s) of the subject")
        listing = io.file_listing(files, root)
        return do_record_dataset_erasure(
            request,
            version,
            actor=actor,
            # The report's count, unless more rows were found now; a retried attempt finds fewer (some files were
            # rewritten by the attempt that died).
            rows=max(int(hit.get("rows", 0)), removed),
            files_before=str(hit.get("files_digest") or canonical_digest(listing)),
            files_after=canonical_digest(listing),
            files=listing,
        )


def files_digest_after_erasure(version: DatasetVersion) -> str | None:
    """The digest the version's files have since their latest erasure (None when never erased): jobs accept it in
    place of the pin taken before (workers.tasks.read_checked). Erasures of any version of the dataset count, since
    its versions share its files."""
    latest = (
        DatasetFilesErasure.objects.filter(dataset_version__dataset_id=version.dataset_id)
        .order_by("-erased_at", "-id")
        .first()
    )
    return latest.files_after if latest is not None else None
