"""`make run`'s process manager: the Procfile's processes in the foreground, their output prefixed with their name.

    python -m assay.run [--procfile Procfile] [--port 8000] [NAME ...]   # NAME: only these (e.g. spark)

Ctrl-C (SIGINT) or SIGTERM stops them all. Each process's main process gets SIGTERM, and only it: Celery and
gunicorn stop their own children (a signal to the whole process group, as honcho sends, also hits Celery's pool
processes and the Spark worker's JVM in the middle of their work, which is where the tracebacks of a stop came from).
A Celery worker waits for its running job; a process still running after ``--grace`` seconds is killed with its
process group, and the job it was running is taken up again when that worker next starts
(workers.signals.sweep_on_start). From the stop on, the processes' output goes to the log file only
(``$ASSAY_DATA_DIR/logs/run.log``, which has all of it) and the console says what was stopped, and how.

Exit status: 0 after a stop that was asked for; otherwise that of the process that ended first (the others are
stopped then too).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent
GRACE_SECONDS = 10.0
_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9_-]+):\s*(?P<command>.+)$")


def parse_procfile(text: str) -> list[tuple[str, str]]:
    """``name: command`` lines, in order; blank lines and ``#`` comments are skipped."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ENTRY.match(line.strip())
        if match is None:
            raise ValueError(f"Procfile line {number} is not 'name: command': {line!r}")
        entries.append((match["name"], match["command"]))
    return entries


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    reader: threading.Thread | None = None
    outcome: str = ""
    stopped_at: float = field(default=0.0)


class Runner:
    def __init__(self, entries: list[tuple[str, str]], env: dict[str, str], log: IO[str], console: IO[str]) -> None:
        self.entries = entries
        self.env = env
        self.log = log
        self.console = console
        self.width = max(len(name) for name, _ in entries)
        self.children: list[Child] = []
        self.stop_requested = threading.Event()
        self.quiet = threading.Event()  # set once stopping: output goes to the log only
        self.lock = threading.Lock()

    def say(self, text: str) -> None:
        """A line of the runner's own, on the console and in the log."""
        with self.lock:
            self.console.write(text + "\n")
            self.console.flush()
            self.log.write(f"{time.strftime('%H:%M:%S')} run | {text}\n")
            self.log.flush()

    def _relay(self, child: Child) -> None:
        assert child.process.stdout is not None
        prefix = child.name.ljust(self.width)
        for raw in iter(child.process.stdout.readline, b""):
            line = f"{time.strftime('%H:%M:%S')} {prefix} | {raw.decode(errors='replace').rstrip()}\n"
            with self.lock:
                self.log.write(line)
                self.log.flush()
                if not self.quiet.is_set():
                    self.console.write(line)
                    self.console.flush()

    def start(self) -> None:
        for name, command in self.entries:
            # Its own session, so that a terminal's Ctrl-C reaches this runner only; exec, so that the main process
            # is the command itself and not a shell that would not pass the signal on.
            process = subprocess.Popen(  # noqa: S603  (the Procfile's commands, as honcho runs them)
                ["/bin/sh", "-c", f"exec {command}"],
                env=self.env,
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            child = Child(name, process)
            child.reader = threading.Thread(target=self._relay, args=(child,), name=f"relay-{name}", daemon=True)
            child.reader.start()
            self.children.append(child)

    def wait(self) -> Child | None:
        """Until a stop is asked for (None) or a process ends by itself (that one)."""
        while not self.stop_requested.wait(0.2):
            for child in self.children:
                if child.process.poll() is not None:
                    return child
        return None

    def stop(self, grace: float) -> None:
        self.quiet.set()
        for child in self.children:
            if child.process.poll() is not None and not child.outcome:
                child.outcome = f"had exited with status {child.process.returncode}"
        running = [child for child in self.children if child.process.poll() is None]
        for child in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in running:
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
                child.outcome = "stopped"
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
                child.outcome = f"killed after {grace:g} s (a job it was running resumes at the next start)"
        for child in self.children:
            if child.reader is not None:
                child.reader.join(timeout=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assay.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--procfile", default=str(REPO / "Procfile"))
    parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
    parser.add_argument("--grace", type=float, default=GRACE_SECONDS, help="seconds before a process is killed")
    parser.add_argument("names", nargs="*", metavar="NAME", help="run only these of the Procfile's processes")
    args = parser.parse_args(argv)

    entries = parse_procfile(Path(args.procfile).read_text(encoding="utf-8"))
    unknown = set(args.names) - {name for name, _ in entries}
    if unknown:
        parser.error(f"not in {args.procfile}: {', '.join(sorted(unknown))}")
    if args.names:
        entries = [(name, command) for name, command in entries if name in args.names]
    data_dir = Path(os.environ.get("ASSAY_DATA_DIR") or REPO / "var")
    log_path = data_dir / "logs" / "run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PORT": str(args.port), "PYTHONUNBUFFERED": "1"}

    with log_path.open("a", encoding="utf-8") as log:
        runner = Runner(entries, env, log, sys.stdout)
        names = ", ".join(name for name, _ in entries)

        def request_stop(signum: int, frame: object) -> None:
            runner.stop_requested.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        runner.start()
        ended = runner.wait()
        print()  # after the terminal's ^C
        if ended is None:
            runner.say(f"Stopping {names} ...")
        else:
            runner.say(f"{ended.name} exited with status {ended.process.returncode}: stopping the others ...")
            ended.outcome = f"exited with status {ended.process.returncode}"
        runner.stop(args.grace)
        for child in runner.children:
            runner.say(f"  {child.name.ljust(runner.width)}  {child.outcome}")
        runner.say(f"Their output is in {log_path}.")
    return 0 if ended is None else (ended.process.returncode or 1)


if __name__ == "__main__":
    sys.exit(main())
