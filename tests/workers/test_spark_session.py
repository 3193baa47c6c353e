"""The per-process SparkSession (workers.spark): real Spark in local mode, configured from settings."""

from __future__ import annotations

import os
import subprocess
import sys
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


def test_the_driver_binds_to_the_loopback_only_when_the_master_is_on_this_machine(settings: Any) -> None:
    for master in ("local[*]", "local[2]", "spark://127.0.0.1:7077", "spark://localhost:7077,127.0.0.1:7078"):
        settings.SPARK_MASTER = master
        conf = spark_module.spark_conf()
        assert (conf["spark.driver.host"], conf["spark.driver.bindAddress"]) == ("127.0.0.1", "127.0.0.1"), master
    for master in ("spark://spark-master.internal:7077", "spark://127.0.0.1:7077,10.0.0.5:7077", "yarn"):
        settings.SPARK_MASTER = master
        conf = spark_module.spark_conf()
        # Spark's own choice (SPARK_LOCAL_IP, spark-defaults.conf): executors elsewhere must reach the driver.
        assert "spark.driver.host" not in conf, master
        assert "spark.driver.bindAddress" not in conf, master


def test_the_executors_python_is_pyspark_python_else_this_interpreter(monkeypatch: Any) -> None:
    monkeypatch.delenv("PYSPARK_PYTHON", raising=False)
    assert spark_module.spark_conf()["spark.pyspark.python"] == sys.executable
    monkeypatch.setenv("PYSPARK_PYTHON", "/opt/assay/venv/bin/python")
    assert spark_module.spark_conf()["spark.pyspark.python"] == "/opt/assay/venv/bin/python"
    assert spark_module.spark_conf()["spark.pyspark.driver.python"] == sys.executable


def test_the_web_process_loads_no_spark() -> None:
    """Django's start-up imports the job kinds (workers.tasks, in the web process too) and the request actions
    check training params (registry.pipelines.params): neither may load pyspark or onnxmltools."""
    code = (
        "import sys, django; django.setup(); import workers.tasks, registry.actions, registry.pipelines.params; "
        "print(sorted(m for m in ('pyspark', 'py4j', 'onnxmltools') if m in sys.modules))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "assay.settings"}
    command = [sys.executable, "-c", code]
    run = subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
