"""registry.pipelines.io: lake locations, reading dataset versions with every check, atomic Parquet writes.

Real Spark (the session-wide ``spark`` fixture) on tiny files written here. The reader takes plain data
(``io.DataSource``): no database.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.orc as orc  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from core.canonical import canonical_digest
from registry.models.validators import validate_location
from registry.pipelines import io
from registry.pipelines.io import DataError

SCHEMA: dict[str, Any] = {
    "columns": [
        {"name": "customer_id", "type": "int64", "nullable": False},
        {"name": "event_time", "type": "timestamp", "nullable": False},
        {"name": "amount", "type": "float64", "nullable": True},
        {"name": "channel", "type": "string", "nullable": True},
    ]
}


def table(rows: int = 20, **overrides: Any) -> pa.Table:
    columns: dict[str, Any] = {
        "customer_id": pa.array([i % 5 for i in range(rows)], pa.int64()),
        "event_time": pa.array(
            [1_700_000_000_000_000 + i * 3_600_000_000 for i in range(rows)], pa.timestamp("us", "UTC")
        ),
        "amount": pa.array([float(i) * 1.5 for i in range(rows)], pa.float64()),
        "channel": pa.array(["web" if i % 2 else "shop" for i in range(rows)], pa.string()),
    }
    columns.update(overrides)
    return pa.table(columns)


@pytest.fixture
def lake(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    root.mkdir()
    settings.DATA_LAKE_ROOT = str(root)
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    return root


def artifacts() -> Path:
    return Path(settings.ARTIFACT_ROOT)


def read(spark: Any, source: io.DataSource) -> io.DatasetRead:
    return io.read_dataset_version(spark, source, lake_root=str(settings.DATA_LAKE_ROOT))


def version_of(
    location: str, storage_format: str = "parquet", schema: dict[str, Any] | None = None, **fields: Any
) -> io.DataSource:
    return io.DataSource(
        name="Events v1", location=location, storage_format=storage_format, schema=schema or SCHEMA, **fields
    )


# --- lake:// locations --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("location", ["lake://events", "lake://events/2024/month=2024-01", "lake://a_b/c.d-e+f/"])
def test_lake_locations_are_accepted(location: str) -> None:
    validate_location(location)


@pytest.mark.parametrize(
    ("location", "says"),
    [
        ("lake://../etc", "'..'"),
        ("lake://events/../../etc", "'..'"),
        ("lake://events/./x", "'.'"),
        ("lake:///etc/passwd", "not absolute"),
        ("lake://", "not absolute"),
        ("lake://%2e%2e/etc", "percent-encoded"),
        ("lake://events%2F..%2Fetc", "percent-encoded"),
        ("lake://events\x00/x", "visible"),
        ("lake://events//x", "empty"),
        ("lake://events?x=1", "query"),
        ("lake://ev ents", "without spaces"),
        ("lake://.hidden", "starting with a letter"),
        ("lake://a\\b", "without spaces or backslashes"),
    ],
)
def test_lake_locations_that_could_escape_are_refused(location: str, says: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(says)) as refused:
        validate_location(location)
    assert says in " ".join(refused.value.messages)


def test_a_lake_location_resolves_under_the_root(lake: Path) -> None:
    resolved = io.resolve_location("lake://events/2024", lake_root=str(lake))
    assert resolved == str(lake.resolve() / "events" / "2024")


def test_a_symbolic_link_out_of_the_lake_is_refused(lake: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    pq.write_table(table(), outside / "part-0.parquet")
    (lake / "escape").symlink_to(outside)
    with pytest.raises(DataError, match="resolves outside DATA_LAKE_ROOT"):
        io.resolve_location("lake://escape", lake_root=str(lake))


def test_a_linked_file_out_of_the_lake_is_refused(lake: Path, tmp_path: Path, spark: Any) -> None:
    pq.write_table(table(), tmp_path / "secret.parquet")
    (lake / "events").mkdir()
    (lake / "events" / "part-0.parquet").symlink_to(tmp_path / "secret.parquet")
    with pytest.raises(DataError, match="outside DATA_LAKE_ROOT"):
        read(spark, version_of("lake://events"))


def test_a_cluster_lake_root_is_joined_as_a_uri() -> None:
    resolved = io.resolve_location("lake://events/2024", lake_root="s3a://bucket/prefix")
    assert resolved == "s3a://bucket/prefix/events/2024"


def test_other_schemes_go_to_spark_as_they_are_and_https_is_refused() -> None:
    assert io.resolve_location("s3a://bucket/events", lake_root="/srv/lake") == "s3a://bucket/events"
    with pytest.raises(DataError, match="does not read https"):
        io.resolve_location("https://example.org/data.csv", lake_root="/srv/lake")


# --- reading ------------------------------------------------------------------------------------------------------


def test_parquet_reads_with_the_registered_columns(lake: Path, spark: Any) -> None:
    (lake / "events").mkdir()
    pq.write_table(table(), lake / "events" / "part-0.parquet")
    (lake / "events" / "_SUCCESS").write_text("")
    found = read(spark, version_of("lake://events"))
    assert found.frame.columns == ["customer_id", "event_time", "amount", "channel"]
    assert found.frame.count() == 20
    # The digest of the files read (not _SUCCESS), for the caller to hold to the version's pin.
    listing = io.file_listing([lake / "events" / "part-0.parquet"], lake / "events")
    assert found.files_digest == canonical_digest(listing)
    pq.write_table(table(rows=19), lake / "events" / "part-0.parquet")
    assert read(spark, version_of("lake://events")).files_digest != found.files_digest


def test_orc_reads(lake: Path, spark: Any) -> None:
    (lake / "events").mkdir()
    orc.write_table(table(), str(lake / "events" / "part-0.orc"))
    frame = read(spark, version_of("lake://events", "orc")).frame
    assert frame.count() == 20


def test_csv_reads_with_the_registered_types(lake: Path, spark: Any) -> None:
    (lake / "events.csv").write_text(
        "customer_id,event_time,amount,channel\n1,2024-01-01 10:00:00,2.5,web\n2,2024-01-02 11:00:00,,shop\n"
    )
    frame = read(spark, version_of("lake://events.csv", "csv")).frame
    assert [io.registry_type(field.dataType) for field in frame.schema] == ["int64", "timestamp", "float64", "string"]
    assert frame.count() == 2


def test_missing_data_names_the_path(lake: Path, spark: Any) -> None:
    with pytest.raises(DataError, match=r"Events v1: no data at lake://nowhere \(.*nowhere does not exist\)"):
        read(spark, version_of("lake://nowhere"))


def test_an_empty_folder_holds_no_data(lake: Path, spark: Any) -> None:
    (lake / "events").mkdir()
    (lake / "events" / "_SUCCESS").write_text("")
    with pytest.raises(DataError, match="holds no data files"):
        read(spark, version_of("lake://events"))


def test_an_unreadable_file_is_named(lake: Path, spark: Any) -> None:
    (lake / "events").mkdir()
    pq.write_table(table(), lake / "events" / "part-0.parquet")
    # A dangling link stands for a file that cannot be opened (tests run as root, where chmod 000 still reads).
    (lake / "events" / "part-1.parquet").symlink_to(lake / "events" / "gone.parquet")
    with pytest.raises(DataError, match=r"part-1.parquet cannot be read: No such file or directory"):
        read(spark, version_of("lake://events"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_without_read_permission_is_named(lake: Path, spark: Any) -> None:  # pragma: no cover - not root
    (lake / "events").mkdir()
    pq.write_table(table(), lake / "events" / "part-0.parquet")
    (lake / "events" / "part-0.parquet").chmod(0)
    with pytest.raises(DataError, match="cannot be read: Permission denied"):
        read(spark, version_of("lake://events"))


def test_csv_bytes_declared_parquet_are_refused(lake: Path, spark: Any) -> None:
    (lake / "events").mkdir()
    (lake / "events" / "part-0.parquet").write_text("customer_id,amount\n1,2.0\n")
    with pytest.raises(DataError, match=r"^Events v1: part-0\.parquet is not a Parquet file") as refused:
        read(spark, version_of("lake://events"))
    assert refused.value.message == (
        "Events v1: part-0.parquet is not a Parquet file (it looks like a CSV file); "
        "the version declares storage_format 'parquet'."
    )


def test_parquet_declared_csv_is_refused(lake: Path, spark: Any) -> None:
    (lake / "events").mkdir()
    pq.write_table(table(), lake / "events" / "part-0.csv")
    with pytest.raises(DataError, match="is not a CSV file \\(it looks like a Parquet file\\)"):
        read(spark, version_of("lake://events", "csv"))


def test_a_truncated_parquet_file_fails_with_spark_s_reason(lake: Path, spark: Any) -> None:
    (lake / "events").mkdir()
    pq.write_table(table(), lake / "events" / "part-0.parquet")
    data = (lake / "events" / "part-0.parquet").read_bytes()
    (lake / "events" / "part-0.parquet").write_bytes(data[:20] + data[-8:])
    with pytest.raises(DataError, match="Spark could not read lake://events as Parquet"):
        read(spark, version_of("lake://events"))


def test_a_schema_that_differs_names_the_columns_and_types(lake: Path, spark: Any) -> None:
    (lake / "events").mkdir()
    data = table().drop(["channel"]).append_column("country", pa.array(["de"] * 20))
    data = data.set_column(2, "amount", pa.array([str(i) for i in range(20)]))
    pq.write_table(data, lake / "events" / "part-0.parquet")
    with pytest.raises(DataError, match=r"^Events v1: the data does not match the registered schema: ") as refused:
        read(spark, version_of("lake://events"))
    assert refused.value.message == (
        "Events v1: the data does not match the registered schema: missing columns: channel (string); "
        "columns not in the registered schema: country (string); types differ: amount is string, registered as "
        "float64."
    )


def test_a_csv_header_that_differs_is_named(lake: Path, spark: Any) -> None:
    (lake / "events.csv").write_text("customer_id,event_time,amount\n1,2024-01-01 10:00:00,2.5\n")
    with pytest.raises(DataError, match=r"the CSV header does not match .*missing columns: channel \(string\)"):
        read(spark, version_of("lake://events.csv", "csv"))


def test_csv_values_of_another_type_are_counted(lake: Path, spark: Any) -> None:
    (lake / "events.csv").write_text(
        "customer_id,event_time,amount,channel\n1,2024-01-01 10:00:00,2.5,web\nx7,2024-01-02 11:00:00,1,shop\n"
    )
    with pytest.raises(
        DataError, match=r"column 'customer_id' holds 1 value\(s\) that are not int64 \(the first: 'x7'\)"
    ):
        read(spark, version_of("lake://events.csv", "csv"))


def test_nulls_in_a_column_registered_not_nullable_are_counted(lake: Path, spark: Any) -> None:
    (lake / "events").mkdir()
    pq.write_table(table(customer_id=pa.array([None, None, *range(18)], pa.int64())), lake / "events" / "p.parquet")
    with pytest.raises(DataError, match=r"registered as not nullable hold nulls: customer_id \(2\)"):
        read(spark, version_of("lake://events"))


@pytest.mark.parametrize("storage_format", ["avro", "delta"])
def test_avro_and_delta_are_refused_with_the_reason(lake: Path, spark: Any, storage_format: str) -> None:
    with pytest.raises(DataError, match=r"not bundled|does not bundle"):
        read(spark, version_of("lake://events", storage_format))


def test_spark_has_no_avro_source_without_a_download(lake: Path, spark: Any) -> None:
    """The claim behind refusing Avro: pyspark 4.3's wheel has no Avro data source."""
    from pyspark.errors import AnalysisException

    with pytest.raises(AnalysisException, match="avro"):
        spark.read.format("avro").load(str(lake))


# --- content fingerprint ------------------------------------------------------------------------------------------


def test_the_fingerprint_ignores_row_order_and_partitioning_but_not_content(spark: Any) -> None:
    frame = spark.createDataFrame(table().to_pandas())
    first = io.content_fingerprint(frame)
    assert io.content_fingerprint(frame.orderBy("amount", ascending=False).repartition(3)) == first
    assert io.content_fingerprint(frame.limit(19)) != first
    assert io.content_fingerprint(frame.union(frame.limit(1))) != first
    assert io.content_fingerprint(frame.withColumn("amount", frame.amount + 1)) != first


def test_a_computed_fingerprint_that_no_longer_matches_fails(lake: Path, spark: Any) -> None:
    (lake / "events").mkdir()
    pq.write_table(table(), lake / "events" / "part-0.parquet")
    good = io.content_fingerprint(read(spark, version_of("lake://events")).frame)
    computed = version_of("lake://events", content_fingerprint=good)
    first = read(spark, computed)
    io.check_content_fingerprint(first.frame, computed)
    assert first.frame.count() == 20
    pq.write_table(table(rows=21), lake / "events" / "part-0.parquet")
    changed = read(spark, computed)
    with pytest.raises(DataError, match=f"content fingerprint is [0-9a-f]{{64}}, not the registered {good}"):
        io.check_content_fingerprint(changed.frame, computed)
    io.check_content_fingerprint(changed.frame, version_of("lake://events"))  # a supplied one is not recomputed


# --- writing ------------------------------------------------------------------------------------------------------


def test_parquet_is_written_atomically_and_a_retry_replaces_it(lake: Path, spark: Any, settings: Any) -> None:
    frame = spark.createDataFrame(table().to_pandas())
    destination = io.output_path(artifacts(), "features", "job-1")
    io.write_parquet_atomically(frame, destination, artifact_root=artifacts(), owner="job-1", partition_by=["channel"])
    assert spark.read.parquet(str(destination)).count() == 20
    io.write_parquet_atomically(frame.limit(3), destination, artifact_root=artifacts(), owner="job-1")
    assert spark.read.parquet(str(destination)).count() == 3
    assert not io.staging_root(artifacts()).exists() or not any(io.staging_root(artifacts()).iterdir())


def test_a_failed_write_leaves_nothing_behind(lake: Path, spark: Any) -> None:
    from pyspark.sql import functions as f

    frame = spark.createDataFrame(table().to_pandas()).withColumn(
        "boom", f.raise_error(f.lit("the job broke mid-write"))
    )
    destination = io.output_path(artifacts(), "features", "job-2")
    with pytest.raises(Exception, match="the job broke mid-write"):
        io.write_parquet_atomically(frame, destination, artifact_root=artifacts(), owner="job-2")
    assert not destination.exists()
    assert not (io.staging_root(artifacts()) / "job-2").exists()


def test_output_outside_the_artifact_root_is_refused(lake: Path, spark: Any, tmp_path: Path) -> None:
    frame = spark.range(1)
    with pytest.raises(ValueError, match="not a place for job output"):
        io.write_parquet_atomically(frame, tmp_path / "elsewhere", artifact_root=artifacts(), owner="job-3")
    with pytest.raises(ValueError, match="not a place for job output"):
        io.write_parquet_atomically(frame, io.staging_root(artifacts()) / "x", artifact_root=artifacts(), owner="job-3")


def test_staging_of_dead_jobs_is_cleaned_up(lake: Path) -> None:
    for owner in ("live-job", "dead-job"):
        (io.staging_root(artifacts()) / owner / "abc").mkdir(parents=True)
    assert io.clean_stale_staging(artifacts(), lambda owner: owner == "live-job") == ["dead-job"]
    assert (io.staging_root(artifacts()) / "live-job").exists()
    assert io.remove_staging(artifacts(), "live-job")
    assert not (io.staging_root(artifacts()) / "live-job").exists()
