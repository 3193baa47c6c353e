"""The per-process SparkSession (workers.spark): real Spark in local mode, configured from settings."""

from __future__ import annotations

from typing import Any

from workers import spark as spark_module


def test_the_session_runs_a_job_with_the_configured_settings(spark: Any, settings: Any) -> None:
    assert spark.range(1000).selectExpr("sum(id)").collect()[0][0] == 499500
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.sql.shuffle.partitions") == str(settings.SPARK_SHUFFLE_PARTITIONS)
    assert conf.get("spark.ui.showConsoleProgress") == "false"
    assert conf.get("spark.driver.host") == "127.0.0.1"


def test_the_session_is_reused_in_its_process(spark: Any) -> None:
    assert spark_module.get_spark() is spark
