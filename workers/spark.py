"""One SparkSession per worker process, created on first use.

Never at import and never in a parent process before it forks: a session (its JVM and the py4j gateway) created
before Celery's prefork pool forks is shared by children that cannot use it. ``get_spark()`` checks the process id,
so a session inherited through a fork is never reused; ``stop_spark()`` ends it (on worker shutdown, at the end of
a test session). Configuration comes from settings (SPARK_*): the master (``local[*]`` or a cluster), memory,
shuffle partitions; the driver binds to 127.0.0.1 in local mode, the web UI and console progress bars are off, and
the Python workers Spark starts run this process's own interpreter.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_lock = threading.Lock()
_session: SparkSession | None = None
_owner_pid: int | None = None


def spark_conf() -> dict[str, str]:
    """The Spark configuration Assay's jobs run with, from settings."""
    conf = {
        "spark.executor.memory": settings.SPARK_EXECUTOR_MEMORY,
        "spark.driver.memory": settings.SPARK_DRIVER_MEMORY,
        "spark.sql.shuffle.partitions": str(settings.SPARK_SHUFFLE_PARTITIONS),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
    }
    if settings.SPARK_MASTER.startswith("local"):
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    return conf


def get_spark() -> SparkSession:
    """This process's SparkSession, started on first use (7 to 14 seconds here)."""
    global _session, _owner_pid
    with _lock:
        if _session is not None and _owner_pid == os.getpid():
            return _session
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        from pyspark.sql import SparkSession

        builder: Any = SparkSession.builder.master(settings.SPARK_MASTER).appName(f"assay-{os.getpid()}")
        for key, value in spark_conf().items():
            builder = builder.config(key, value)
        _session = builder.getOrCreate()
        _session.sparkContext.setLogLevel("WARN")
        _owner_pid = os.getpid()
        return _session


def stop_spark() -> None:
    """Stop this process's session, if it started one."""
    global _session, _owner_pid
    with _lock:
        if _session is not None and _owner_pid == os.getpid():
            _session.stop()
        _session = None
        _owner_pid = None
