"""The Spark JVM's log (workers/log4j2.properties): warnings on the console, everything in DATA_DIR/logs/spark.log,
and the warnings that report nothing wrong (no native BLAS or Hadoop library, a long plan) in the file only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from workers.spark import LOG4J2_PROPERTIES, spark_conf


def test_the_driver_runs_with_assays_log_configuration() -> None:
    options = spark_conf()["spark.driver.extraJavaOptions"]
    assert f"-Dlog4j2.configurationFile=file:{LOG4J2_PROPERTIES}" in options
    assert f"-Dassay.spark.log={Path(settings.DATA_DIR) / 'logs' / 'spark.log'}" in options
    assert LOG4J2_PROPERTIES.is_file()


def test_the_jvm_sends_the_harmless_warnings_to_the_file_only(spark: Any) -> None:
    context = spark._jvm.org.apache.logging.log4j.LogManager.getContext(False)
    config = context.getConfiguration()
    assert config.getAppenders().containsKey("file")
    for name in (
        "dev.ludovic.netlib",
        "org.apache.hadoop.util.NativeCodeLoader",
        "org.apache.spark.util.SparkStringUtils",
    ):
        logger = config.getLoggers().get(name)
        assert logger is not None, name
        assert not logger.isAdditive(), name
        assert list(logger.getAppenders().keySet()) == ["file"], name
    log_file = Path(config.getAppenders().get("file").getFileName())
    assert log_file == Path(settings.DATA_DIR) / "logs" / "spark.log"
    assert log_file.exists()
