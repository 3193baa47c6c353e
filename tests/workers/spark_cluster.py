"""A real Spark standalone cluster on this machine, for tests: one Master and one Worker started from the pyspark
install's own ``bin/spark-class`` (nothing downloaded), bound to 127.0.0.1 on ports the JVMs choose.

``StandaloneCluster(root).start()`` starts the master, reads its RPC and web UI ports from its log, starts the
worker and waits until the master's ``/json/`` lists it alive (``start(wait=False)`` and ``wait_for_worker()`` let
the worker's start overlap other work). ``stop()`` kills both process groups, which hold the
executors the worker launched and their Python workers too. docs/spark-jobs.md ("On a cluster") says how to do the
same by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pyspark

SPARK_HOME = Path(pyspark.__file__).resolve().parent
SPARK_CLASS = SPARK_HOME / "bin" / "spark-class"
START_TIMEOUT = 60

_MASTER_URL = re.compile(r"Starting Spark master at (spark://\S+)")
_MASTER_UI = re.compile(r"MasterWebUI: Bound MasterWebUI to \S+, and started at http://[^:/\s]+:(\d+)")


class ClusterError(RuntimeError):
    """The cluster did not come up; the message holds the tail of the process's log."""


class StandaloneCluster:
    """A Master and one Worker (``cores`` cores, ``memory`` for executors) under ``root`` (logs, work dir, conf)."""

    def __init__(self, root: Path, *, cores: int = 1, memory: str = "1g") -> None:
        self.root = root
        self.cores = cores
        self.memory = memory
        self.work_dir = root / "work"
        self.master_log = root / "master.log"
        self.worker_log = root / "worker.log"
        self.master_url = ""
        self.web_url = ""
        self.worker: subprocess.Popen[bytes] | None = None  # its pid is the worker JVM's, the executors' parent
        self._processes: list[subprocess.Popen[bytes]] = []

    def _env(self) -> dict[str, str]:
        conf_dir = self.root / "conf"  # empty: no spark-defaults.conf or spark-env.sh of the machine's leaks in
        conf_dir.mkdir(parents=True, exist_ok=True)
        return {
            **os.environ,
            "SPARK_HOME": str(SPARK_HOME),
            "SPARK_CONF_DIR": str(conf_dir),
            # Every socket on the loopback (the web UIs too, which otherwise listen on 0.0.0.0), whatever address
            # the host name resolves to.
            "SPARK_LOCAL_IP": "127.0.0.1",
            # The master's REST submission server would take the fixed port 6066: off, so that clusters of
            # concurrent test runs do not collide. Only `spark-submit --deploy-mode cluster` uses it.
            "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
        }

    def _launch(self, log: Path, *args: str) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            # spark-class execs the JVM: the process is the JVM, in a process group of its own.
            process = subprocess.Popen(
                [str(SPARK_CLASS), *args],
                cwd=self.root,
                env=self._env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._processes.append(process)
        return process

    def start(self, *, wait: bool = True) -> StandaloneCluster:
        """Start the master, then the worker; with ``wait=False`` return once the worker JVM is launched (its ~5 s
        start can overlap other set-up) and call ``wait_for_worker()`` before using the cluster."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.work_dir.mkdir(exist_ok=True)
        try:
            master = self._launch(
                self.master_log,
                "org.apache.spark.deploy.master.Master",
                "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
            )  # fmt: skip
            url, ui_port = self._wait_for(master, self.master_log, _MASTER_URL, _MASTER_UI)
            self.master_url = url
            self.web_url = f"http://127.0.0.1:{ui_port}"
            self.worker = self._launch(
                self.worker_log,
                "org.apache.spark.deploy.worker.Worker",
                "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                "--cores", str(self.cores), "--memory", self.memory, "--work-dir", str(self.work_dir),
                self.master_url,
            )  # fmt: skip
            if wait:
                self.wait_for_worker()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_for_worker(self) -> None:
        """Until the master's JSON lists the worker alive (registered, its cores offered to applications)."""
        assert self.worker is not None, "start() first"
        deadline = time.monotonic() + START_TIMEOUT
        while not any(worker["state"] == "ALIVE" for worker in self.state()["workers"]):
            if self.worker.poll() is not None or time.monotonic() > deadline:
                raise ClusterError(f"the Spark worker did not register:\n{_tail(self.worker_log)}")
            time.sleep(0.2)

    def _wait_for(self, process: subprocess.Popen[bytes], log: Path, *patterns: re.Pattern[str]) -> list[str]:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            text = log.read_text(errors="replace")
            found = [pattern.search(text) for pattern in patterns]
            if all(found):
                return [match.group(1) for match in found if match]
            if process.poll() is not None or time.monotonic() > deadline:
                raise ClusterError(f"the Spark master did not start:\n{_tail(log)}")
            time.sleep(0.1)

    def state(self) -> dict[str, Any]:
        """The master's JSON: workers, active and completed applications."""
        with urllib.request.urlopen(f"{self.web_url}/json/", timeout=10) as response:  # noqa: S310 (our http URL)
            state: dict[str, Any] = json.load(response)
        return state

    def applications(self) -> list[dict[str, Any]]:
        """Every application the master knows, running or finished."""
        state = self.state()
        return [*state["activeapps"], *state["completedapps"]]

    def executor_dirs(self, app_id: str) -> list[Path]:
        """The work folders of the application's executors on the worker (each holds the executor's stderr)."""
        return sorted(path for path in (self.work_dir / app_id).glob("*") if path.is_dir())

    def stop(self) -> None:
        """Kill the worker's and the master's process groups: the executors the worker launched and their Python
        workers are in the worker's group, and are killed even when the worker JVM itself already died."""
        for process in reversed(self._processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        self._processes.clear()


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
