"""Feature materialization on Spark: each aggregation against hand-computed values, windows, no look-ahead, out-of-fold
target encoding, statistics, refused definitions, the written Parquet, and registration of the result."""

from __future__ import annotations

import re
import statistics as pystats
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction

from core.canonical import canonical_digest
from core.choices import AuditEventType
from core.models import AuditEvent, Job
from registry import actions
from registry.models import FeatureSetVersion
from registry.pipelines import features as pipeline
from registry.pipelines.feature_definitions import check_feature_view, parse_window
from registry.pipelines.features import PARTITION_COLUMN, FeatureDefinitionError, MaterializedFeatures
from registry.pipelines.statistics import feature_statistics
from tests.registry.factories import EVENTS_SCHEMA, make_dataset, make_dataset_version, make_feature_view

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EVENT_COLUMNS = "customer_id long, event_time timestamp, amount double, channel string, merchant string"
SPINE_COLUMNS = "customer_id long, event_time timestamp"
T = datetime(2024, 1, 10)


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2024, 1, day, hour) if day > 0 else datetime(2023, 12, 31 + day, hour)


def view(*features: dict[str, Any]) -> dict[str, Any]:
    return {"entity": "customer", "event_time_column": "event_time", "features": list(features)}


def feature(name: str, definition: str, aggregation: str, window: str = "") -> dict[str, Any]:
    return {"name": name, "definition": definition, "aggregation": aggregation, "window": window, "description": ""}


ALL_FEATURES = view(
    feature("spend_7d", "amount", "sum", "7d"),
    feature("orders_30d", "1", "count", "30d"),
    feature("mean_amount_30d", "amount", "mean", "30d"),
    feature("min_amount_7d", "amount", "min", "7d"),
    feature("max_amount_90d", "amount", "max", "90d"),
    feature("channels_90d", "channel", "distinct_count", "90d"),
    feature("last_channel", "channel", "last", "90d"),
    feature("spend_24h", "amount", "sum", "24h"),
    feature("latest_amount", "amount", "none"),
)

# Customer 1: three events in the 30 days before T, one exactly at T and one after it (neither may count).
# Customer 2: one event exactly 24 hours before T (inside [T - 24h, T)) and one 40 days before (outside 30d).
# Customer 3: no events at all.
EVENTS = [
    (1, at(1, 10), 10.0, "web", "m1"),
    (1, at(5, 10), 20.0, "app", "m1"),
    (1, at(8, 9), 5.0, "web", "m2"),
    (1, T, 100.0, "store", "m3"),
    (1, at(11), 1000.0, "store", "m3"),
    (2, at(9), 7.0, "app", "m1"),
    (2, datetime(2023, 12, 1), 3.0, "web", "m1"),
]
SPINE = [(1, T), (2, T), (3, T)]


def materialize(*args: Any, **kwargs: Any) -> MaterializedFeatures:
    """The pipeline, writing under the test's ARTIFACT_ROOT (a job passes the setting the same way)."""
    return pipeline.materialize(*args, artifact_root=Path(settings.ARTIFACT_ROOT), **kwargs)


@pytest.fixture
def artifact_root(settings: Any, tmp_path: Path) -> Path:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    return settings.ARTIFACT_ROOT


def rows_by_entity(result: Any) -> dict[int, dict[str, Any]]:
    return {row["customer_id"]: row.asDict() for row in result.dataframe.collect()}


def jobs_in_group(spark: Any, group: str) -> int:
    return len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))


# --- Aggregations, windows, point in time -------------------------------------------------------------------------


def test_each_aggregation_matches_the_hand_computed_value(spark: Any, artifact_root: Path) -> None:
    result = materialize(
        spark,
        ALL_FEATURES,
        spark.createDataFrame(EVENTS, EVENT_COLUMNS),
        spark.createDataFrame(SPINE, SPINE_COLUMNS),
    )
    rows = rows_by_entity(result)
    one, two, three = rows[1], rows[2], rows[3]
    # [T - 7d, T) holds the events of Jan 5 and Jan 8 only.
    assert one["spend_7d"] == 25.0
    assert one["orders_30d"] == 3
    assert one["mean_amount_30d"] == pytest.approx(35.0 / 3)
    assert one["min_amount_7d"] == 5.0
    assert one["max_amount_90d"] == 20.0
    assert one["channels_90d"] == 2
    assert one["last_channel"] == "web"
    assert one["spend_24h"] is None  # nothing in [Jan 9, Jan 10)
    assert one["latest_amount"] == 5.0
    # The window's start is inclusive: the event exactly 24 hours before T counts; Dec 1 is outside 30 days.
    assert two["spend_24h"] == 7.0
    assert two["orders_30d"] == 1
    assert two["max_amount_90d"] == 7.0
    assert two["channels_90d"] == 2
    assert two["last_channel"] == "app"
    assert two["latest_amount"] == 7.0
    # No events: counts are 0, everything else is missing.
    assert three["orders_30d"] == 0
    assert three["channels_90d"] == 0
    assert three["spend_7d"] is None
    assert three["last_channel"] is None
    assert three["latest_amount"] is None
    assert result.row_count == 3


def test_no_look_ahead_an_event_at_or_after_t_changes_nothing(spark: Any, artifact_root: Path) -> None:
    # GIVEN the events strictly before T, and the same events plus one exactly at T and one after T
    before = [event for event in EVENTS if event[1] < T]
    later = [(1, T, 1e6, "phone", "m9"), (2, T, 1e6, "phone", "m9"), (1, at(10, 1), 1e6, "phone", "m9")]
    spine = spark.createDataFrame(SPINE, SPINE_COLUMNS)
    # WHEN both are materialized at T
    without = rows_by_entity(materialize(spark, ALL_FEATURES, spark.createDataFrame(before, EVENT_COLUMNS), spine))
    with_later = rows_by_entity(
        materialize(spark, ALL_FEATURES, spark.createDataFrame(before + later, EVENT_COLUMNS), spine)
    )
    # THEN every feature of every entity is the same: nothing at or after T was seen
    assert with_later == without
    assert without[1]["max_amount_90d"] == 20.0
    assert without[1]["channels_90d"] == 2


def test_default_spine_is_each_entity_at_the_end_of_each_active_day(spark: Any, artifact_root: Path) -> None:
    events = [
        (1, at(1, 10), 1.0, "web", "m1"),
        (1, at(1, 12), 2.0, "web", "m1"),
        (1, at(3, 8), 4.0, "app", "m1"),
        (2, at(3, 23), 8.0, "app", "m2"),
    ]
    result = materialize(
        spark,
        view(feature("orders_30d", "1", "count", "30d"), feature("spend_30d", "amount", "sum", "30d")),
        spark.createDataFrame(events, EVENT_COLUMNS),
    )
    got = sorted(
        (row["customer_id"], row["event_time"], row["orders_30d"], row["spend_30d"])
        for row in result.dataframe.collect()
    )
    assert got == [(1, at(2), 2, 3.0), (1, at(4), 3, 7.0), (2, at(4), 1, 8.0)]


# --- Target encoding ----------------------------------------------------------------------------------------------

TE_VIEW = view(feature("merchant_te", "target_encode(merchant, churned)", "last", "30d"))
TE_SPINE_COLUMNS = "customer_id long, event_time timestamp, churned int"


def te_data(spark: Any, labels: dict[int, int]) -> tuple[Any, Any]:
    merchants = ["m1", "m2", "m3"]
    events = [(c, at(1), 1.0, "web", merchants[c % 3]) for c in range(60)]
    spine = [(c, at(2), labels[c]) for c in range(60)]
    return spark.createDataFrame(events, EVENT_COLUMNS), spark.createDataFrame(spine, TE_SPINE_COLUMNS)


def test_target_encoding_is_out_of_fold_and_smoothed(spark: Any, artifact_root: Path) -> None:
    from pyspark.sql import functions as F

    labels = {c: 1 if c % 3 == 0 or c % 7 == 0 else 0 for c in range(60)}
    events, spine = te_data(spark, labels)
    result = materialize(spark, TE_VIEW, events, spine, folds=5, smoothing=4.0)
    encoded = {row["customer_id"]: row["merchant_te"] for row in result.dataframe.collect()}
    folds = {
        row["c"]: row["f"]
        for row in spark.range(60)
        .select(F.col("id").alias("c"), F.pmod(F.xxhash64(F.col("id").cast("string")), F.lit(5)).alias("f"))
        .collect()
    }
    assert len(set(folds.values())) > 1
    for customer in (0, 1, 2, 7, 59):
        outside = [c for c in range(60) if folds[c] != folds[customer]]
        prior = sum(labels[c] for c in outside) / len(outside)
        same = [c for c in outside if c % 3 == customer % 3]
        expected = (sum(labels[c] for c in same) + 4.0 * prior) / (len(same) + 4.0)
        assert encoded[customer] == pytest.approx(expected)


def test_a_rows_own_label_does_not_influence_its_encoding(spark: Any, artifact_root: Path) -> None:
    # GIVEN the same data twice, differing only in customer 5's label
    labels = {c: c % 2 for c in range(60)}
    flipped = {**labels, 5: 1 - labels[5]}
    # WHEN both are encoded
    first = materialize(spark, TE_VIEW, *te_data(spark, labels))
    second = materialize(spark, TE_VIEW, *te_data(spark, flipped))
    one = {row["customer_id"]: row["merchant_te"] for row in first.dataframe.collect()}
    two = {row["customer_id"]: row["merchant_te"] for row in second.dataframe.collect()}
    # THEN customer 5's encoding is unchanged, while rows of other folds with its merchant did see the new label
    assert two[5] == one[5]
    assert any(one[c] != two[c] for c in range(60) if c % 3 == 5 % 3)


# --- Statistics ---------------------------------------------------------------------------------------------------


def test_statistics_values(spark: Any) -> None:
    values = [(float(v), "x" if v % 2 else "y") for v in range(1, 11)] + [(None, None)]
    frame = spark.createDataFrame(values, "score double, label string")
    stats, rows = feature_statistics(frame, ["score", "label"])
    assert rows == 11
    score = stats["score"]
    assert score["count"] == 10
    assert score["nulls"] == 1
    assert score["mean"] == pytest.approx(5.5)
    assert score["std"] == pytest.approx(pystats.stdev(range(1, 11)))
    assert (score["min"], score["max"]) == (1.0, 10.0)
    assert score["quantiles"]["0.5"] == 5.0
    assert score["quantiles"]["0.99"] == 10.0
    assert score["histogram"]["counts"] == [1] * 10, score["histogram"]
    assert score["histogram"]["edges"][0] == 1.0
    assert score["histogram"]["edges"][-1] == 10.0
    assert stats["label"] == {"count": 10, "nulls": 1, "distinct": 2}


def test_statistics_take_two_spark_jobs_whatever_the_number_of_features(spark: Any) -> None:
    frame = spark.createDataFrame(
        [(float(i), float(i * 2), i % 3, float(-i)) for i in range(50)], "a double, b double, c int, d double"
    )
    counts = []
    for group, names in (("stats-one", ["a"]), ("stats-four", ["a", "b", "c", "d"])):
        spark.sparkContext.setJobGroup(group, group)
        try:
            feature_statistics(frame, names)
        finally:
            spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
        counts.append(jobs_in_group(spark, group))
    assert counts[0] == counts[1]


# --- Bad definitions ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            feature("spend_7d", "amount * discount", "sum", "7d"),
            "feature 'spend_7d': definition 'amount * discount' reads 'discount'",
        ),
        (feature("spend_7d", "amount", "sum", "7x"), "feature 'spend_7d': window '7x' must be a count and a unit"),
        (feature("spend_7d", "amount", "sum", ""), "feature 'spend_7d': window '' must be"),
        (feature("spend_7d", "amount", "sum", "9999999d"), "window '9999999d'"),
        (feature("top_channel", "channel", "sum", "7d"), "aggregation 'sum' does not apply to a string value"),
        (feature("mean_time", "event_time", "mean", "7d"), "aggregation 'mean' does not apply to a temporal value"),
        (feature("spend", "amount", "none", "7d"), "aggregation 'none' takes no window"),
        (feature("spend", "amount", "median", "7d"), "aggregation 'median' is not one of"),
        (feature("te", "target_encode(channel, churned)", "last", "7d"), "label column 'churned' is not a column"),
        (feature("te", "target_encode(channel, amount)", "sum", "7d"), "its aggregation must be 'last', not 'sum'"),
        (feature("te", "target_encode(channel)", "last", "7d"), "target_encode takes exactly two column names"),
    ],
)
def test_check_feature_view_names_the_feature_and_the_problem(bad: dict[str, Any], message: str) -> None:
    problems = check_feature_view(view(feature("fine", "amount", "sum", "7d"), bad), EVENTS_SCHEMA)
    assert len(problems) == 1, problems
    assert message in problems[0], problems


def test_check_feature_view_reads_identifiers_not_strings_or_functions() -> None:
    good = view(
        feature("big_web", "case when channel = 'web' and amount > 1e3 then 1 else 0 end", "sum", "7d"),
        feature("rounded", "round(cast(amount as double), 2)", "max", "24h"),
        feature("quoted", "`amount`", "mean", "1w"),
    )
    assert check_feature_view(good, EVENTS_SCHEMA) == []
    assert parse_window("24h") == 86400
    assert parse_window("1w") == 7 * 86400


def test_check_feature_view_entity_and_event_time() -> None:
    schema = {
        "columns": [
            {"name": "client", "type": "int64", "nullable": False},
            {"name": "event_time", "type": "string", "nullable": False},
        ]
    }
    problems = check_feature_view(view(feature("n", "1", "count", "7d")), schema)
    assert problems == [
        "entity 'customer': the data has neither a column 'customer' nor 'customer_id'",
        "event_time_column 'event_time' must be a timestamp or a date",
    ]


def test_bad_definitions_are_refused_before_spark_runs_a_job(spark: Any, artifact_root: Path) -> None:
    events = spark.createDataFrame(EVENTS, EVENT_COLUMNS)
    spark.sparkContext.setJobGroup("bad-definitions", "bad-definitions")
    try:
        with pytest.raises(
            FeatureDefinitionError, match=r"^feature 'spend_7d': definition 'amount \+ tip' reads 'tip'"
        ) as missing:
            materialize(spark, view(feature("spend_7d", "amount + tip", "sum", "7d")), events)
        # Types only Spark's analysis knows (the result of a function) are still checked before any job.
        with pytest.raises(
            FeatureDefinitionError, match=r"^feature 'loud': aggregation 'sum' does not apply to a string"
        ) as typed:
            materialize(spark, view(feature("loud", "upper(channel)", "sum", "7d")), events)
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    assert "reads 'tip', not a column of the data" in str(missing.value)
    assert typed.value.problems == [
        "feature 'loud': aggregation 'sum' does not apply to a string value (upper(channel))"
    ]
    assert jobs_in_group(spark, "bad-definitions") == 0
    assert not (artifact_root / "features").exists()


# --- Output -------------------------------------------------------------------------------------------------------


def test_output_is_partitioned_parquet_with_a_fingerprint_of_its_files(spark: Any, artifact_root: Path) -> None:
    import hashlib

    spine = spark.createDataFrame([(1, T), (2, T), (1, at(12))], SPINE_COLUMNS)
    result = materialize(spark, ALL_FEATURES, spark.createDataFrame(EVENTS, EVENT_COLUMNS), spine, output_key="job-41")
    assert result.path == artifact_root / "features" / "job-41"
    assert result.storage_location == "features/job-41"
    partitions = sorted(path.name for path in result.path.iterdir() if path.is_dir())
    assert partitions == [f"{PARTITION_COLUMN}=2024-01-10", f"{PARTITION_COLUMN}=2024-01-12"]
    files = [
        [path.relative_to(result.path).as_posix(), path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest()]
        for path in sorted(result.path.rglob("*.parquet"))
    ]
    assert files
    assert result.files == files
    assert result.fingerprint == canonical_digest(files)
    assert spark.read.parquet(str(result.path)).count() == result.row_count == 3
    assert set(result.statistics) == {item["name"] for item in ALL_FEATURES["features"]}
    assert result.statistics["orders_30d"]["count"] == 3
    assert not list((artifact_root / ".staging").glob("*/*"))


def test_a_failure_midway_leaves_no_files(spark: Any, artifact_root: Path) -> None:
    # GIVEN a definition that fails while Spark computes it (analysis accepts it), after the job has started writing
    failing = view(feature("spend_7d", "if(amount > 500, raise_error('corrupt row'), amount)", "sum", "7d"))
    # WHEN it is materialized
    with pytest.raises(Exception, match="corrupt row"):
        materialize(spark, failing, spark.createDataFrame(EVENTS, EVENT_COLUMNS), output_key="job-42")
    # THEN nothing is at the output path and nothing is left in staging
    assert not (artifact_root / "features" / "job-42").exists()
    assert not [path for path in (artifact_root / ".staging").rglob("*") if path.is_file()]


def test_progress_is_reported_and_a_callback_that_stops_the_job_before_the_write_leaves_nothing(
    spark: Any, artifact_root: Path
) -> None:
    stages: list[str] = []
    events = spark.createDataFrame(EVENTS, EVENT_COLUMNS)
    materialize(spark, ALL_FEATURES, events, progress=lambda fraction, stage: stages.append(stage))
    assert stages == [
        "checking definitions",
        "computing features",
        "writing parquet",
        "output written",
        "computing statistics",
        "done",
    ]

    def cancel(fraction: float, stage: str) -> None:
        if stage == "writing parquet":
            raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError, match="cancelled"):
        materialize(spark, ALL_FEATURES, events, output_key="job-43", progress=cancel)
    assert not (artifact_root / "features" / "job-43").exists()


# --- Registration -------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_job_registers_one_immutable_version_with_its_output(spark: Any, cast: Any, artifact_root: Path) -> None:
    actor = cast.engineer_a
    dataset = make_dataset(cast.team_a, actor, name="Events")
    dataset_version = make_dataset_version(dataset, actor, schema=EVENTS_SCHEMA)
    features = [
        feature("spend_7d", "amount", "sum", "7d"),
        feature("orders_30d", "1", "count", "30d"),
        feature("last_channel", "channel", "last", "90d"),
    ]
    feature_view = make_feature_view(cast.team_a, actor, dataset, features=features)
    job = Job.objects.create(kind="registry.materialize_features", team=cast.team_a, requested_by=actor)
    result = materialize(
        spark,
        feature_view,
        spark.createDataFrame(EVENTS, EVENT_COLUMNS),
        spark.createDataFrame(SPINE, SPINE_COLUMNS),
        output_key=str(job.public_id),
    )

    def register() -> FeatureSetVersion:
        return actions.do_register_feature_set_version(
            feature_view,
            actor=actor,
            dataset_versions=[dataset_version.pk],
            statistics=result.statistics,
            job=job,
            features=features,
            storage_location=result.storage_location,
            output_fingerprint=result.fingerprint,
            row_count=result.row_count,
        )

    version = register()
    assert (version.number, version.row_count, version.output_fingerprint) == (1, 3, result.fingerprint)
    assert version.storage_location == f"features/{job.public_id}"
    assert version.statistics["spend_7d"]["histogram"]["counts"]
    assert list(version.dataset_versions.all()) == [dataset_version]
    # A retried job registers nothing twice.
    assert register().pk == version.pk
    assert FeatureSetVersion.objects.filter(feature_view=feature_view).count() == 1
    assert AuditEvent.objects.filter(event_type=AuditEventType.FEATURE_SET_VERSION_REGISTERED).count() == 1
    # The new columns are frozen like the others.
    frozen = r"registry_featuresetversion rows are immutable: UPDATE refused"
    with pytest.raises(DatabaseError, match=frozen), transaction.atomic():
        FeatureSetVersion.objects.filter(pk=version.pk).update(storage_location="features/elsewhere")
    with pytest.raises(DatabaseError, match=frozen), transaction.atomic():
        FeatureSetVersion.objects.filter(pk=version.pk).update(row_count=4)


@pytest.mark.django_db
def test_registration_refuses_an_incomplete_or_foreign_output(cast: Any) -> None:
    actor = cast.engineer_a
    dataset = make_dataset(cast.team_a, actor, name="Events")
    dataset_version = make_dataset_version(dataset, actor, schema=EVENTS_SCHEMA)
    feature_view = make_feature_view(cast.team_a, actor, dataset)
    own = Job.objects.create(kind="registry.materialize_features", team=cast.team_a, requested_by=actor)
    foreign = Job.objects.create(kind="registry.materialize_features", team=cast.team_b, requested_by=cast.engineer_b)
    output: dict[str, Any] = {"storage_location": "features/x", "output_fingerprint": "a" * 64, "row_count": 3}
    cases: list[tuple[dict[str, Any], str, str]] = [
        (
            {"job": own, "storage_location": "features/x"},
            "output_fingerprint",
            "A materialized version records output_fingerprint, row_count too.",
        ),
        ({**output}, "job", "A materialized version names the job that wrote it."),
        ({**output, "job": foreign}, "job", "object does not exist."),
        (
            {**output, "job": own, "storage_location": "../outside"},
            "storage_location",
            "Must be a folder relative to the artifact root.",
        ),
        ({**output, "job": own, "output_fingerprint": "not-a-digest"}, "__all__", "feature_set_version_output_sha256"),
        (
            {**output, "job": own, "statistics": {"spend_7d": {"histogram": {"counts": ["many"]}}}},
            "statistics",
            "['counts'] must be a list of finite numbers.",
        ),
    ]
    for fields, field, message in cases:
        with pytest.raises(ValidationError, match=re.escape(message)) as refused:
            actions.do_register_feature_set_version(
                feature_view, actor=actor, dataset_versions=[dataset_version.pk], **fields
            )
        assert field in refused.value.message_dict, (fields, refused.value.message_dict)
    assert not FeatureSetVersion.objects.exists()
