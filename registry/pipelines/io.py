"""Reading registered dataset versions into Spark, and writing job outputs without leaving half a file behind.

Functions of data: no database, no ORM. The caller (workers.tasks) describes a version as a ``DataSource``.
``read_dataset_version(spark, source)`` checks, before any job computes on it, that the data is what was
registered: the files exist and can be read, they are of the declared ``storage_format``, the schema Spark reads
matches the registered one (names, types in registry.schema's vocabulary, no null in a column registered not
nullable). It returns the frame and, for local data, the digest of the files read, which the caller holds to the
version's pin (``files_digest``, pinned by the first read through an action: a client-supplied fingerprint cannot
be checked, but a change after Assay first saw the data can); ``check_content_fingerprint`` then holds a version
whose fingerprint Assay computed to it. Any difference raises ``DataError`` with a message naming what differs.

Where the data is: ``lake://<relative path>`` resolves under the lake root (the DATA_LAKE_ROOT setting, passed by
the caller: a local folder, or a URI such as ``s3a://bucket/prefix`` on a cluster) and never outside it, symbolic
links followed; other schemes (s3a, gs, hdfs, abfss, dbfs) go to Spark as they are, read with the cluster's own
credentials. Outputs go under the artifact root (the ARTIFACT_ROOT setting, passed by the caller too).

``write_parquet_atomically`` writes a job's output into a staging folder under ARTIFACT_ROOT/.staging/<owner>/ and
renames it into place: readers see all of it or none. ``remove_staging(owner)`` and ``clean_stale_staging`` take away
what a job that died mid-write left there. docs/spark-jobs.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.canonical import canonical_digest
from registry import schema as registry_schema
from registry.artifacts import hash_stream
from registry.choices import StorageFormat
from registry.models.validators import LAKE_SCHEME, lake_path

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType as SparkDataType

__all__ = [
    "READABLE_FORMATS",
    "UNAVAILABLE_FORMATS",
    "DataError",
    "DataSource",
    "DatasetRead",
    "check_content_fingerprint",
    "clean_stale_staging",
    "content_fingerprint",
    "file_listing",
    "local_data_files",
    "output_path",
    "read_dataset_version",
    "registry_type",
    "remove_staging",
    "resolve_location",
    "spark_type",
    "staging_root",
    "write_parquet_atomically",
]

READABLE_FORMATS = frozenset({StorageFormat.PARQUET, StorageFormat.ORC, StorageFormat.CSV})
# Formats whose Spark data source is not inside the pyspark wheel. Spark would fetch it from a Maven repository at
# run time (spark.jars.packages), which a locked-down worker cannot and which we do not do behind the user's back.
UNAVAILABLE_FORMATS: dict[str, str] = {
    StorageFormat.AVRO: (
        "Avro is not readable here: Spark's Avro data source (spark-avro) is an external module that the pyspark "
        "4.3 wheel does not bundle (it holds only the Avro library), and Assay does not download jars at run time. "
        "Convert the data to Parquet, or run the jobs on a cluster whose Spark has spark-avro installed."
    ),
    StorageFormat.DELTA: (
        "Delta is not readable here: Delta Lake's Spark connector (delta-spark) is not bundled with pyspark 4.3 and "
        "Assay does not download jars at run time. Register the table's Parquet snapshot, or run the jobs on a "
        "cluster whose Spark has Delta Lake installed."
    ),
}
_MAGIC = {StorageFormat.PARQUET: b"PAR1", StorageFormat.ORC: b"ORC"}
_FORMAT_NAMES = {"parquet": "Parquet", "orc": "ORC", "csv": "CSV", "avro": "Avro"}
# Files Spark and Hadoop leave beside the data (_SUCCESS, .crc checksums, _delta_log): not data.
_NOT_DATA = ("_", ".")
_SNIFF_BYTES = 4096
# Rows are hashed into this many buckets by their hash's first two hex digits (see content_fingerprint).
_FINGERPRINT_PREFIX = 2
_SPARK_NAMES = {
    "boolean": "boolean",
    "tinyint": "int8",
    "byte": "int8",
    "smallint": "int16",
    "short": "int16",
    "int": "int32",
    "integer": "int32",
    "bigint": "int64",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "string",
    "binary": "binary",
    "date": "date",
    "timestamp": "timestamp",
    "timestamp_ltz": "timestamp",
    "timestamp_ntz": "timestamp_ntz",
}


class DataError(Exception):
    """The data of a dataset version cannot be used as registered; ``message`` says what is wrong and where."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class DataSource:
    """What reading a dataset version needs to know, as plain data (the caller reads it from the registry).

    ``name`` names the version in messages (``Events v3``); ``schema`` is the registered schema (JSON);
    ``content_fingerprint`` is the fingerprint to hold the data to, when Assay computed it (None when the client
    supplied one: Assay cannot recompute a number whose recipe it does not know).
    """

    name: str
    location: str
    storage_format: str
    schema: Mapping[str, Any]
    content_fingerprint: str | None = None

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class DatasetRead:
    """A dataset version read and checked: its rows (``frame``), and for local data ``files_digest``, the SHA-256
    of the canonical list of the files read (``file_listing``), which the caller holds to the version's pin."""

    frame: DataFrame
    files_digest: str | None


# --- Locations ----------------------------------------------------------------------------------------------------


def _is_uri(value: str) -> bool:
    return "://" in value


def resolve_location(location: str, *, lake_root: str) -> str:
    """Where Spark reads ``location``: a local path or a URI. ``lake://`` resolves under ``lake_root`` (the
    DATA_LAKE_ROOT setting: a folder, or a URI on a cluster).

    ``location`` is one the registry accepts (registry.models.validators.validate_location: its callers check it
    first, since the rules may have tightened since it was registered). Raises ``DataError`` for ``https`` (Spark
    does not read it), and for a lake path that resolves outside the root (through a symbolic link).
    """
    scheme = location.split("://", 1)[0].lower()
    if scheme == "https":
        raise DataError(f"Spark does not read https locations ({location}); copy the data into the lake or a bucket.")
    if scheme != LAKE_SCHEME:
        return location
    relative = lake_path(location)
    root = str(lake_root)
    if _is_uri(root):
        # Object stores have no symbolic links and lake_path refused every '..': joining is the whole story.
        return f"{root.rstrip('/')}/{relative}"
    root_path = Path(root).resolve()
    target = (root_path / relative).resolve()
    if not target.is_relative_to(root_path):
        raise DataError(f"The location {location} resolves outside DATA_LAKE_ROOT ({target}); it is refused.")
    return str(target)


def _local_files(location: str, path: Path, source: DataSource, lake_root: str) -> list[Path]:
    """The data files under a local ``path``, each checked to exist, be readable and stay inside the lake."""
    if not path.exists():
        raise DataError(f"{source}: no data at {location} ({path} does not exist).")
    if path.is_file():
        files = [path]
    else:
        files = sorted(
            Path(folder) / name
            for folder, folders, names in os.walk(path)
            for name in names
            if not name.startswith(_NOT_DATA)
            and not any(part.startswith(_NOT_DATA) for part in Path(folder).relative_to(path).parts)
        )
        if not files:
            raise DataError(f"{source}: {location} ({path}) holds no data files.")
    root = Path(lake_root).resolve() if not _is_uri(lake_root) else None
    for file in files:
        if root is not None and location.lower().startswith(f"{LAKE_SCHEME}://"):
            real = file.resolve()
            if not real.is_relative_to(root):
                raise DataError(f"{source}: {file} is a link to {real}, outside DATA_LAKE_ROOT; the data is refused.")
        try:
            with file.open("rb") as handle:
                handle.read(1)
        except OSError as error:
            raise DataError(f"{source}: {file} cannot be read: {error.strerror or error}.") from None
    return files


def local_data_files(source: DataSource, *, lake_root: str) -> tuple[list[Path], Path] | None:
    """The data files of ``source`` and the folder they are listed against (``file_listing``'s root), each checked
    as ``read_dataset_version`` checks them (present, readable, inside the lake, of the declared format), for
    readers that work file by file without Spark (compliance's data-subject search). None for data that is not on
    a local filesystem (a bucket): the caller says it could not look there. Raises ``DataError``."""
    declared = source.storage_format
    if declared not in READABLE_FORMATS:
        raise DataError(f"{source}: the storage format {declared!r} is not one Assay reads file by file.")
    path = resolve_location(source.location, lake_root=lake_root)
    if _is_uri(path):
        return None
    files = _local_files(source.location, Path(path), source, str(lake_root))
    _check_format(files, StorageFormat(declared), source)
    return files, (Path(path) if Path(path).is_dir() else Path(path).parent)


def _sniff(file: Path) -> str:
    """What a file looks like from its bytes: parquet, orc, avro, csv (text), or binary."""
    with file.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
        size = handle.seek(0, os.SEEK_END)
        tail = b""
        if size >= 8:
            handle.seek(size - 4)
            tail = handle.read(4)
    if head.startswith(b"PAR1") and tail == b"PAR1":
        return "parquet"
    if head.startswith(b"ORC"):
        return "orc"
    if head.startswith(b"Obj\x01"):
        return "avro"
    if b"\x00" in head:
        return "binary"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut at the end of the sample is still text.
        if error.start < len(head) - 4:
            return "binary"
    return "csv"


def _check_format(files: Sequence[Path], declared: str, source: DataSource) -> None:
    for file in files:
        found = _sniff(file)
        if found != declared:
            what = _FORMAT_NAMES.get(found, "binary data of no known format")
            article = "an" if what[0] in "AEIOU" else "a"
            described = f"{article} {what} file" if found in _FORMAT_NAMES else what
            raise DataError(
                f"{source}: {file.name} is not a {_FORMAT_NAMES[declared]} file (it looks like {described}); the "
                f"version declares storage_format {str(declared)!r}."
            )


# --- Types --------------------------------------------------------------------------------------------------------


def registry_type(data_type: SparkDataType) -> str:
    """A Spark type in registry.schema's vocabulary (``decimal(12,2)``, ``array<string>``)."""
    from pyspark.sql import types as t

    if isinstance(data_type, t.DecimalType):
        return f"decimal({data_type.precision},{data_type.scale})"
    if isinstance(data_type, t.ArrayType):
        return f"array<{registry_type(data_type.elementType)}>"
    if isinstance(data_type, t.MapType):
        return f"map<{registry_type(data_type.keyType)},{registry_type(data_type.valueType)}>"
    if isinstance(data_type, t.StructType):
        return "struct<" + ",".join(f"{f.name}:{registry_type(f.dataType)}" for f in data_type.fields) + ">"
    if isinstance(data_type, t.CharType | t.VarcharType):
        return "string"
    name = data_type.simpleString()
    return _SPARK_NAMES.get(name, name)


def spark_type(text: str) -> SparkDataType:
    """A registry type (``decimal(12,2)``, ``timestamp_ntz``) as a Spark type."""
    from pyspark.sql import types as t

    data_type = registry_schema.parse_type(text)
    return _to_spark(data_type, t)


def _to_spark(data_type: registry_schema.DataType, t: Any) -> Any:
    if isinstance(data_type, registry_schema.DecimalType):
        return t.DecimalType(data_type.precision, data_type.scale)
    if isinstance(data_type, registry_schema.ArrayType):
        return t.ArrayType(_to_spark(data_type.element, t))
    if isinstance(data_type, registry_schema.MapType):
        return t.MapType(_to_spark(data_type.key, t), _to_spark(data_type.value, t))
    if isinstance(data_type, registry_schema.StructType):
        return t.StructType([t.StructField(f.name, _to_spark(f.type, t)) for f in data_type.fields])
    simple = {
        "boolean": t.BooleanType(),
        "int8": t.ByteType(),
        "int16": t.ShortType(),
        "int32": t.IntegerType(),
        "int64": t.LongType(),
        "float32": t.FloatType(),
        "float64": t.DoubleType(),
        "string": t.StringType(),
        "binary": t.BinaryType(),
        "date": t.DateType(),
        "timestamp": t.TimestampType(),
        "timestamp_ntz": t.TimestampNTZType(),
    }
    return simple[str(data_type)]


def _canonical(text: str) -> str:
    try:
        return str(registry_schema.parse_type(text))
    except registry_schema.SchemaError:
        return text


# --- Reading ------------------------------------------------------------------------------------------------------


def read_dataset_version(spark: SparkSession, source: DataSource, *, lake_root: str) -> DatasetRead:
    """The data of ``source`` with the registered columns, in the registered order, after every check but two.

    Raises ``DataError`` naming what is wrong: missing or unreadable files, a format other than the declared one,
    a schema that differs from the registered one, a null in a column registered not nullable. Left to the caller,
    in this order: holding ``files_digest`` to the version's pin (a database write on the first read), then
    ``check_content_fingerprint`` (a full pass over the data).
    """
    declared = source.storage_format
    if declared in UNAVAILABLE_FORMATS:
        raise DataError(f"{source}: {UNAVAILABLE_FORMATS[declared]}")
    if declared not in READABLE_FORMATS:
        raise DataError(f"{source}: the storage format {declared!r} is not one Assay reads (parquet, orc, csv).")
    declared = StorageFormat(declared)
    location = source.location
    path = resolve_location(location, lake_root=lake_root)
    files: list[Path] = []
    if not _is_uri(path):
        files = _local_files(location, Path(path), source, str(lake_root))
        _check_format(files, declared, source)
    registered = registry_schema.parse_schema(dict(source.schema))
    frame = _load(spark, declared, path, registered, source)
    frame = _check_schema(frame, registered, source)
    if _is_uri(path):
        return DatasetRead(frame, None)
    root = Path(path) if Path(path).is_dir() else Path(path).parent
    return DatasetRead(frame, canonical_digest(file_listing(files, root)))


def check_content_fingerprint(frame: DataFrame, source: DataSource) -> None:
    """Raise ``DataError`` when ``source`` has a computed fingerprint and ``frame``'s content no longer has it."""
    if source.content_fingerprint is None:
        return
    found = content_fingerprint(frame)
    if found != source.content_fingerprint:
        raise DataError(
            f"{source}: the data's content fingerprint is {found}, not the registered "
            f"{source.content_fingerprint}: the data at {source.location} changed after it was registered."
        )


def file_listing(files: Iterable[Path], root: Path) -> list[list[Any]]:
    """``[path relative to root, size, sha256]`` of each file, sorted by path: the canonical description of a folder
    of data whose ``core.canonical.canonical_digest`` fingerprints it (feature-set outputs, dataset files). Each file
    is hashed as the artifact store hashes (registry.artifacts.hash_stream)."""
    rows = []
    for file in files:
        with file.open("rb") as handle:
            sha256, size = hash_stream(handle)
        rows.append([file.relative_to(root).as_posix(), size, sha256])
    return sorted(rows, key=lambda row: row[0])


def _spark_failure(error: Exception, source: DataSource, location: str, declared: str) -> DataError:
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return DataError(f"{source}: Spark could not read {location} as {_FORMAT_NAMES[declared]}: {first[:500]}")


def _load(spark: SparkSession, declared: str, path: str, registered: registry_schema.Schema, source: DataSource) -> Any:
    from py4j.protocol import Py4JJavaError  # type: ignore[import-untyped]
    from pyspark.errors import PySparkException

    try:
        if declared == StorageFormat.CSV:
            return _load_csv(spark, path, registered, source)
        frame = spark.read.format(declared).load(path)
        # Reading the schema touches only the footers; make Spark open the data too, so that a truncated file
        # fails here, with its name, rather than halfway through a job.
        frame.limit(1).collect()
        return frame
    except DataError:
        raise
    except (PySparkException, Py4JJavaError) as error:
        raise _spark_failure(error, source, source.location, declared) from None


def _load_csv(spark: SparkSession, path: str, registered: registry_schema.Schema, source: DataSource) -> Any:
    """CSV has no types: read every field as text, check the header names, then cast, counting what fails to."""
    from pyspark.sql import functions as f

    raw = spark.read.option("header", True).option("inferSchema", False).option("mode", "FAILFAST").csv(path)
    _compare_columns({name: "string" for name in raw.columns}, registered, source, header=True)
    by_fold = {name.casefold(): name for name in raw.columns}
    casts = []
    checks = []
    for column in registered.columns:
        text = f.col(f"`{by_fold[column.name.casefold()]}`")
        if isinstance(column.type, registry_schema.ArrayType | registry_schema.MapType | registry_schema.StructType):
            raise DataError(f"{source}: column {column.name!r} is {column.type}, which CSV cannot hold.")
        typed = text.try_cast(spark_type(str(column.type)))
        casts.append(typed.alias(column.name))
        checks.append(f.sum(f.when(text.isNotNull() & typed.isNull(), 1).otherwise(0)).alias(column.name))
        checks.append(f.first(f.when(text.isNotNull() & typed.isNull(), text), ignorenulls=True))
    counts = raw.agg(*checks).collect()[0]
    for index, column in enumerate(registered.columns):
        bad, example = counts[2 * index], counts[2 * index + 1]
        if bad:
            raise DataError(
                f"{source}: column {column.name!r} holds {bad} value(s) that are not {column.type} "
                f"(the first: {str(example)[:80]!r})."
            )
    return raw.select(*casts)


def _compare_columns(
    found: dict[str, str], registered: registry_schema.Schema, source: DataSource, header: bool
) -> None:
    found_by_fold = {name.casefold(): (name, kind) for name, kind in found.items()}
    missing = [c for c in registered.columns if c.name.casefold() not in found_by_fold]
    registered_folds = {c.name.casefold() for c in registered.columns}
    extra = [name for name in found if name.casefold() not in registered_folds]
    differing = []
    if not header:
        for column in registered.columns:
            if column.name.casefold() in found_by_fold:
                name, kind = found_by_fold[column.name.casefold()]
                if _canonical(kind) != str(column.type):
                    differing.append(f"{name} is {kind}, registered as {column.type}")
    if not (missing or extra or differing):
        return
    problems = []
    if missing:
        problems.append("missing columns: " + ", ".join(f"{c.name} ({c.type})" for c in missing))
    if extra:
        problems.append(
            "columns not in the registered schema: "
            + ", ".join(name if header else f"{name} ({found[name]})" for name in extra)
        )
    if differing:
        problems.append("types differ: " + "; ".join(differing))
    where = "the CSV header" if header else "the data"
    raise DataError(f"{source}: {where} does not match the registered schema: {'; '.join(problems)}.")


def _check_schema(frame: Any, registered: registry_schema.Schema, source: DataSource) -> Any:
    from pyspark.sql import functions as f

    found = {field.name: registry_type(field.dataType) for field in frame.schema.fields}
    _compare_columns(found, registered, source, header=False)
    by_fold = {name.casefold(): name for name in frame.columns}
    frame = frame.select(*(f.col(f"`{by_fold[c.name.casefold()]}`").alias(c.name) for c in registered.columns))
    # Files written by Spark mark every column nullable, so "not nullable" is checked on the values themselves.
    required = [c.name for c in registered.columns if not c.nullable]
    if required:
        nulls = frame.agg(
            *(f.sum(f.when(f.col(f"`{name}`").isNull(), 1).otherwise(0)).alias(name) for name in required)
        ).collect()[0]
        offending = [f"{name} ({nulls[name]})" for name in required if nulls[name]]
        if offending:
            raise DataError(f"{source}: columns registered as not nullable hold nulls: {', '.join(offending)}.")
    return frame


def content_fingerprint(frame: DataFrame) -> str:
    """SHA-256 (hex) of a DataFrame's content, whatever its partitioning and the order of its rows.

    Each row is hashed (SHA-256 of its JSON, column names included); the row hashes are grouped into 256 buckets by
    their first two hex digits; each bucket's digest is the SHA-256 of its sorted row hashes; the fingerprint is the
    SHA-256 of the column list and the bucket digests in order. A changed, added, removed or duplicated row changes
    it. The work is spread over the cluster; only 256 short rows come back to the driver.
    """
    from pyspark.sql import functions as f

    hashed = frame.select(f.sha2(f.to_json(f.struct(*(f.col(f"`{c}`") for c in frame.columns))), 256).alias("h"))
    buckets = (
        hashed.groupBy(f.substring("h", 1, _FINGERPRINT_PREFIX).alias("bucket"))
        .agg(
            f.sha2(f.concat_ws("", f.array_sort(f.collect_list("h"))), 256).alias("digest"),
            f.count(f.lit(1)).alias("rows"),
        )
        .collect()
    )
    digest = hashlib.sha256()
    digest.update(("\x1e".join(f"{field.name}:{registry_type(field.dataType)}" for field in frame.schema)).encode())
    for row in sorted(buckets, key=lambda row: row["bucket"]):
        digest.update(f"\n{row['bucket']}:{row['rows']}:{row['digest']}".encode())
    return digest.hexdigest()


# --- Writing ------------------------------------------------------------------------------------------------------


def staging_root(artifact_root: Path) -> Path:
    """Where writes are staged: ``.staging`` under the artifact root (the ARTIFACT_ROOT setting)."""
    return Path(artifact_root) / ".staging"


def output_path(artifact_root: Path, category: str, key: str) -> Path:
    """Where a job's output lives: ARTIFACT_ROOT/<category>/<key>, keyed by the job, so that a retry of the same
    job writes the same place (and replaces what an interrupted attempt left) instead of a second copy."""
    for part in (category, key):
        if not part or "/" in part or part.startswith(".") or "\x00" in part:
            raise ValueError(f"Invalid output path part {part!r}.")
    return Path(artifact_root) / category / key


def write_parquet_atomically(
    frame: DataFrame, destination: Path, *, artifact_root: Path, owner: str, partition_by: Iterable[str] = ()
) -> Path:
    """Write ``frame`` as Parquet to ``destination`` (a folder under ``artifact_root``), all or nothing.

    Spark writes into ARTIFACT_ROOT/.staging/<owner>/<random>/; the finished folder is then renamed onto
    ``destination`` (same filesystem: one rename). An earlier folder at ``destination`` (a retried job's first
    attempt) is moved aside first and removed after. On failure the staging folder is removed and nothing appears
    at ``destination``. ``owner`` names who writes (the job's id), for ``remove_staging``.
    """
    root = Path(artifact_root).resolve()
    destination = Path(destination)
    resolved = destination.resolve()
    if not resolved.is_relative_to(root) or resolved.is_relative_to(staging_root(root)):
        raise ValueError(f"{destination} is not a place for job output under ARTIFACT_ROOT.")
    owner_dir = staging_root(artifact_root) / _owner_key(owner)
    owner_dir.mkdir(parents=True, exist_ok=True)
    staging = owner_dir / uuid.uuid4().hex
    try:
        writer = frame.write.mode("errorifexists")
        partitions = list(partition_by)
        if partitions:
            writer = writer.partitionBy(*partitions)
        writer.parquet(str(staging))
        destination.parent.mkdir(parents=True, exist_ok=True)
        replaced = None
        if destination.exists():
            replaced = owner_dir / f"replaced-{uuid.uuid4().hex}"
            os.rename(destination, replaced)
        os.rename(staging, destination)
        if replaced is not None:
            shutil.rmtree(replaced, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        _remove_if_empty(owner_dir)
    return destination


def _owner_key(owner: str) -> str:
    key = "".join(char if char.isalnum() or char in "-_" else "_" for char in str(owner))[:100]
    if not key:
        raise ValueError("A staging owner is required.")
    return key


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def remove_staging(artifact_root: Path, owner: str) -> bool:
    """Remove whatever ``owner`` left in the staging area (an attempt that died mid-write). True if anything was."""
    folder = staging_root(artifact_root) / _owner_key(owner)
    if not folder.exists():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


def clean_stale_staging(artifact_root: Path, is_live: Callable[[str], bool], *, older_than: float = 0.0) -> list[str]:
    """Remove the staging folders of owners that are no longer running (``is_live(owner)`` false) and that were
    last written more than ``older_than`` seconds ago. Returns the owners cleaned up."""
    root = staging_root(artifact_root)
    if not root.exists():
        return []
    removed = []
    now = time.time()
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or is_live(folder.name):
            continue
        if now - folder.stat().st_mtime < older_than:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    return removed
