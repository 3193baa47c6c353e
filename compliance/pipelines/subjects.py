"""Finding and removing one data subject's rows in a dataset's files, file by file, with pyarrow.

Functions of data: they get file paths, the declared storage format, the subject-identifier columns and their
types (from the registered schema), and the identifier. Each file is scanned as a stream of record batches with a
filter (``pyarrow.dataset``), so memory stays bounded by a batch whatever the file's size; Spark is not needed to
answer "which rows name this person".

A value matches when it equals the identifier: text compared exactly, integers compared as integers (an identifier
that is not an integer cannot match an integer column). A null never matches.

``rewrite_without`` writes the file again without the matching rows, into a hidden file beside it (a name starting
with "." that readers skip) and renames it over the original: a reader sees the old file or the new one, never half
of one, and a job killed mid-way leaves at most a hidden temporary file, which the next attempt replaces.

pyarrow is imported inside the functions: it is installed with the Spark worker (requirements/spark.txt), whose
queue runs these jobs, and the web process that imports this module to register them does not need it.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

INTEGER_TYPES = {"int8", "int16", "int32", "int64"}
_FORMATS = {"parquet", "csv", "orc"}
_INTEGER_RANGES = {"int8": 7, "int16": 15, "int32": 31, "int64": 63}


def _arrow() -> SimpleNamespace:
    import pyarrow  # type: ignore[import-untyped]
    import pyarrow.csv  # type: ignore[import-untyped]
    import pyarrow.dataset  # type: ignore[import-untyped]
    import pyarrow.orc  # type: ignore[import-untyped]
    import pyarrow.parquet  # type: ignore[import-untyped]

    return SimpleNamespace(pa=pyarrow, csv=pyarrow.csv, ds=pyarrow.dataset, orc=pyarrow.orc, pq=pyarrow.parquet)


class SubjectDataError(Exception):
    """A file cannot be searched or rewritten; the message names it and why."""


@dataclass(frozen=True)
class FileRows:
    """How many rows of ``path`` name the subject."""

    path: Path
    rows: int


def _value(identifier: str, type_name: str) -> object | None:
    """The identifier as a value of a column of ``type_name``, or None when no value of that type can equal it."""
    if type_name not in INTEGER_TYPES:
        return identifier
    text = identifier.strip()
    if not text or not (text.isdigit() or (text[0] in "+-" and text[1:].isdigit())):
        return None
    number = int(text)
    bound = 1 << _INTEGER_RANGES[type_name]
    return number if -bound <= number < bound else None


def _dataset(file: Path, storage_format: str, columns: Mapping[str, str]) -> Any:
    arrow = _arrow()

    if storage_format not in _FORMATS:
        raise SubjectDataError(f"{file.name}: the storage format {storage_format!r} cannot be searched here.")
    if storage_format == "csv":
        # CSV has no types: the identifier columns are read as the registry declares them, so that "0042" in an
        # integer column is 42, as Spark reads it.
        pa = arrow.pa
        types = {name: getattr(pa, t)() if t in INTEGER_TYPES else pa.string() for name, t in columns.items()}
        fmt: Any = arrow.ds.CsvFileFormat(convert_options=arrow.csv.ConvertOptions(column_types=types))
    else:
        fmt = arrow.ds.ParquetFileFormat() if storage_format == "parquet" else arrow.ds.OrcFileFormat()
    return arrow.ds.dataset(str(file), format=fmt)


def _resolve(dataset: Any, columns: Mapping[str, str], file: Path) -> dict[str, str]:
    """The file's own spelling of each identifier column (names compare without case, as Spark's do)."""
    by_fold = {name.casefold(): name for name in dataset.schema.names}
    resolved = {}
    for name, type_name in columns.items():
        found = by_fold.get(name.casefold())
        if found is None:
            raise SubjectDataError(f"{file.name}: the subject-identifier column {name!r} is not in the file.")
        resolved[found] = type_name
    return resolved


def _match(columns: Mapping[str, str], identifier: str) -> Any:
    """Rows where any identifier column equals the identifier (nulls never match); None when none can."""
    arrow = _arrow()
    match: Any = None
    for name, type_name in columns.items():
        value = _value(identifier, type_name)
        if value is None:
            continue
        equal = arrow.ds.field(name) == value
        match = equal if match is None else (match | equal)
    return match


def count_rows(
    files: Sequence[Path], storage_format: str, columns: Mapping[str, str], identifier: str
) -> list[FileRows]:
    """For each file, the rows in which any of ``columns`` (name to registry type) equals ``identifier``; files
    without any are left out. Raises ``SubjectDataError`` naming a file that cannot be read."""
    arrow = _arrow()
    found = []
    for file in files:
        try:
            dataset = _dataset(file, storage_format, columns)
            match = _match(_resolve(dataset, columns, file), identifier)
            rows = 0 if match is None else dataset.count_rows(filter=match)
        except (arrow.pa.ArrowException, OSError) as error:
            raise SubjectDataError(f"{file.name} cannot be searched: {str(error).splitlines()[0][:300]}") from None
        if rows:
            found.append(FileRows(file, rows))
    return found


def rewrite_without(file: Path, storage_format: str, columns: Mapping[str, str], identifier: str) -> int:
    """Write ``file`` again without the rows that name the subject; return how many rows went (0: untouched).
    Raises ``SubjectDataError`` naming a file that cannot be read or written (the original is then untouched)."""
    arrow = _arrow()
    try:
        return _rewrite(file, storage_format, columns, identifier)
    except (arrow.pa.ArrowException, OSError) as error:
        raise SubjectDataError(f"{file.name} cannot be rewritten: {str(error).splitlines()[0][:300]}") from None


def _rewrite(file: Path, storage_format: str, columns: Mapping[str, str], identifier: str) -> int:
    dataset = _dataset(file, storage_format, columns)
    resolved = _resolve(dataset, columns, file)
    match = _match(resolved, identifier)
    if match is None:
        return 0
    removed = dataset.count_rows(filter=match)
    if not removed:
        return 0
    arrow = _arrow()
    keep: Any = None
    for name, type_name in resolved.items():
        value = _value(identifier, type_name)
        if value is None:
            continue
        # A row stays unless one of its identifier columns equals the identifier: a null keeps it.
        stays = arrow.ds.field(name).is_null() | (arrow.ds.field(name) != value)
        keep = stays if keep is None else (keep & stays)
    assert keep is not None
    table = dataset.to_table(filter=keep)
    temporary = file.with_name(f".erasing-{uuid.uuid4().hex}-{file.name}")
    try:
        _write(table, temporary, storage_format)
        os.replace(temporary, file)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return removed


def _write(table: Any, target: Path, storage_format: str) -> None:
    arrow = _arrow()

    if storage_format == "parquet":
        arrow.pq.write_table(table, str(target))
    elif storage_format == "orc":
        arrow.orc.write_table(table, str(target))
    else:
        arrow.csv.write_csv(table, str(target))
    with open(target, "rb") as handle:
        os.fsync(handle.fileno())
