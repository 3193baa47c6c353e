"""The rows a classifier is trained on: checked, rounded to float32, balanced across partitions, split, weighted.

Steps 1 to 4 of ``registry.pipelines.training.train`` (see that module's docstring): ``prepare_rows`` refuses, before
anything is fitted, what cannot be trained on and adds the internal columns; ``measure_skew`` and ``rebalance`` even
out the partitions; ``split_rows`` divides the rows into train, validation and test (by time when there is an event
time); ``weigh_classes`` balances the classes. ``TrainingError`` is defined here, below the other training modules,
because every one of them raises it; ``registry.pipelines.training`` exports it with ``train``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# A partition holding more than this many times its even share of the rows counts as skew.
SKEW_RATIO = 2.0

# Internal columns: a feature may not be named like one.
LABEL_COL = "__label"
WEIGHT_COL = "__weight"
SPLIT_COL = "__split"
VALIDATION_COL = "__is_validation"
FEATURES_COL = "__features"
POSITIVE_COL = "__p"
TIME_COL = "__event_time"


class TrainingError(Exception):
    """The input cannot be trained on, or the result fails a check: the job fails with this message."""


# --- Input checks -------------------------------------------------------------------------------------------------


def prepare_rows(
    df: DataFrame, *, label: str, features: tuple[str, ...], event_time_column: str | None
) -> tuple[DataFrame, dict[str, int]]:
    """The rows to train on: label as 0.0/1.0, features as float32-valued doubles, the event time as seconds.
    Refuses, before any fit, what cannot be trained on. Returns the frame and the class counts."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if not features:
        raise TrainingError("Name at least one feature.")
    duplicates = sorted({name for name in features if features.count(name) > 1})
    if duplicates:
        raise TrainingError(f"Features named twice: {', '.join(duplicates)}.")
    reserved = sorted(name for name in (label, *features) if name.startswith("__"))
    if reserved:
        raise TrainingError(f"Column names starting with '__' are reserved: {', '.join(reserved)}.")
    types = {f.name: f.dataType for f in df.schema.fields}
    wanted = (label, *features, *([event_time_column] if event_time_column is not None else []))
    missing = [name for name in wanted if name not in types]
    if missing:
        raise TrainingError(
            f"Column{'s' if len(missing) > 1 else ''} not in the data: {', '.join(missing)} "
            f"(the data has {', '.join(sorted(types))})."
        )
    if label in features:
        raise TrainingError(f"The label {label!r} is also named as a feature.")
    numeric = (T.NumericType, T.BooleanType)
    not_numeric = [
        f"{name} ({types[name].simpleString()})" for name in features if not isinstance(types[name], numeric)
    ]
    if not_numeric:
        raise TrainingError(
            "Features must be numeric or boolean; encode these in the feature view first (e.g. target encoding): "
            + ", ".join(not_numeric)
            + "."
        )
    if not isinstance(types[label], numeric):
        raise TrainingError(
            f"The label {label!r} must be numeric or boolean (0/1); it is {types[label].simpleString()}."
        )
    time_expr = None
    if event_time_column is not None:
        time_type = types[event_time_column]
        if isinstance(time_type, (T.TimestampType, T.TimestampNTZType)):
            time_expr = F.col(event_time_column).cast("double")
        elif isinstance(time_type, T.DateType):
            time_expr = F.unix_timestamp(F.col(event_time_column).cast("timestamp")).cast("double")
        elif isinstance(time_type, T.NumericType):
            time_expr = F.col(event_time_column).cast("double")
        else:
            raise TrainingError(
                f"event_time_column {event_time_column!r} must be a timestamp, a date or a number; "
                f"it is {time_type.simpleString()}."
            )

    columns = [F.col(label).cast("double").alias(LABEL_COL)]
    # float32 first: the ONNX model takes float32, so Spark trains on exactly the values ONNX will be given.
    columns += [F.col(name).cast("float").cast("double").alias(name) for name in features]
    if time_expr is not None:
        columns.append(time_expr.alias(TIME_COL))
    prepared = df.select(*columns)

    # One pass: class counts (grouped by label) and nulls per column.
    checked = [LABEL_COL, *features, *([TIME_COL] if time_expr is not None else [])]
    counts = (
        prepared.groupBy(LABEL_COL)
        .agg(F.count(F.lit(1)).alias("rows"), *[F.count_if(F.col(c).isNull()).alias(c) for c in checked[1:]])
        .collect()
    )
    nulls = {name: sum(int(row[name]) for row in counts) for name in checked[1:]}
    class_counts = {row[LABEL_COL]: int(row["rows"]) for row in counts}
    if None in class_counts:
        raise TrainingError(f"The label {label!r} is null in {class_counts[None]} rows.")
    null_columns = [f"{name} ({count} rows)" for name, count in nulls.items() if count]
    if null_columns:
        shown = [item.replace(TIME_COL, str(event_time_column)) for item in null_columns]
        raise TrainingError("Null values where the model needs numbers: " + ", ".join(shown) + ".")
    if not class_counts:
        raise TrainingError("The data has no rows.")
    other = sorted(value for value in class_counts if value not in (0.0, 1.0))
    if other:
        raise TrainingError(
            f"The label {label!r} must be 0 or 1 (binary classification); "
            f"it also holds {', '.join(map(str, other[:5]))}."
        )
    if len(class_counts) == 1:
        (only,) = class_counts
        raise TrainingError(
            f"The label {label!r} has one class only ({only:g} in all {class_counts[only]} rows): "
            "a classifier needs examples of both 0 and 1."
        )
    return prepared, {str(int(value)): count for value, count in sorted(class_counts.items())}


# --- Skew ---------------------------------------------------------------------------------------------------------


def measure_skew(df: DataFrame) -> dict[str, Any]:
    """Rows per partition (counted in the JVM, one pass): ``{"partitions", "rows", "max_rows", "ratio"}``, where
    ratio is the largest partition's rows over an even share (1.0: perfectly even)."""
    from pyspark.sql import functions as F

    partitions = max(df.rdd.getNumPartitions(), 1)
    sizes = [int(row["count"]) for row in df.groupBy(F.spark_partition_id()).count().collect()]
    rows = sum(sizes)
    largest = max(sizes, default=0)
    ratio = largest / (rows / partitions) if rows else 1.0
    return {"partitions": partitions, "rows": rows, "max_rows": largest, "ratio": round(ratio, 3)}


def rebalance(
    df: DataFrame, *, partitions: int, key: str | None = None, salt_buckets: int = 64, seed: int = 42
) -> DataFrame:
    """Repartition ``df`` into ``partitions`` on a salted key: ``(key, salt)`` where the salt is a random bucket in
    ``[0, salt_buckets)``, so a hot key's rows spread over up to ``salt_buckets`` partitions instead of one (and
    with no key, the salt alone spreads all rows evenly)."""
    from pyspark.sql import functions as F

    salt = "__salt"
    buckets = salt_buckets if key is not None else max(salt_buckets, partitions) * 4
    salted = df.withColumn(salt, F.floor(F.rand(seed) * buckets).cast("int"))
    by = [F.col(key), F.col(salt)] if key is not None else [F.col(salt)]
    return salted.repartition(partitions, *by).drop(salt)


# --- Split and weights --------------------------------------------------------------------------------------------


def split_rows(
    prepared: DataFrame, *, by_time: bool, validation_fraction: float, test_fraction: float, seed: int
) -> tuple[DataFrame, dict[str, Any]]:
    from pyspark.sql import functions as F

    train_end = 1.0 - validation_fraction - test_fraction
    validation_end = 1.0 - test_fraction
    info: dict[str, Any]
    if by_time:
        # Cut points in time: train strictly before the first, validation from it to strictly before the second,
        # test from the second on. Rows of one instant never straddle a cut.
        first, second = prepared.approxQuantile(TIME_COL, [train_end, validation_end], 0.0001)
        position = F.col(TIME_COL)
        info = {"kind": "time", "validation_from": first, "test_from": second}
        if first >= second:
            raise TrainingError(
                "The event times are too few to split in time (validation and test would start at the same instant)."
            )
        cut_first, cut_second = F.lit(first), F.lit(second)
    else:
        position = F.rand(seed)
        cut_first, cut_second = F.lit(train_end), F.lit(validation_end)
        info = {"kind": "random", "seed": seed}
    split = prepared.withColumn(
        SPLIT_COL,
        F.when(position < cut_first, "train").when(position < cut_second, "validation").otherwise("test"),
    )
    counts: dict[str, dict[str, int]] = {"train": {}, "validation": {}, "test": {}}
    # Materialised once here (the rand column must not be drawn again by a later pass), then counted.
    split = split.persist()
    for row in split.groupBy(SPLIT_COL, LABEL_COL).count().collect():
        counts[row[SPLIT_COL]][str(int(row[LABEL_COL]))] = int(row["count"])
    for name, by_class in counts.items():
        missing = [value for value in ("0", "1") if not by_class.get(value)]
        if missing:
            raise TrainingError(
                f"The {name} split has no rows of class {' or '.join(missing)}: too few rows "
                f"({sum(by_class.values())} in it) to train, validate and test on."
            )
    info["class_counts"] = counts
    info["rows"] = {name: sum(by_class.values()) for name, by_class in counts.items()}
    return split, info


def weigh_classes(train_counts: dict[str, int], mode: str) -> dict[str, float]:
    """Balanced weights, ``n / (classes * n_class)``: each class then carries half of the total weight."""
    if mode == "none":
        return {"0": 1.0, "1": 1.0}
    total = sum(train_counts.values())
    return {value: total / (2 * train_counts[value]) for value in ("0", "1")}
