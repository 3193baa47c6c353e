"""`make run`'s process manager (assay/run.py): a stop signals each main process only, says what it stopped and
nothing else, and kills what does not stop in time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assay.run import parse_procfile

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable

QUIET = f"{PY} -c 'import time; print(\"quiet up\", flush=True); time.sleep(120)'"
# Says goodbye on SIGTERM, as Celery and gunicorn do: after the stop, that goes to the log only.
CHATTY = (
    f"{PY} -c 'import signal, sys, time; "
    'signal.signal(signal.SIGTERM, lambda *a: (print("chatty shutting down", flush=True), sys.exit(0))); '
    'print("chatty up", flush=True); time.sleep(120)\''
)
STUBBORN = (
    f"{PY} -c 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    'print("stubborn up", flush=True); time.sleep(120)\''
)


def start(tmp_path: Path, procfile: str) -> subprocess.Popen[str]:
    (tmp_path / "Procfile").write_text(procfile)
    env = {**os.environ, "ASSAY_DATA_DIR": str(tmp_path / "data")}
    return subprocess.Popen(
        [PY, "-m", "assay.run", "--procfile", str(tmp_path / "Procfile"), "--grace", "2"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_log(tmp_path: Path, *texts: str, timeout: float = 30) -> str:
    log = tmp_path / "data" / "logs" / "run.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text() if log.exists() else ""
        if all(text in content for text in texts):
            return content
        time.sleep(0.05)
    pytest.fail(f"not in the run log after {timeout}s: {texts}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_the_procfile_is_read_in_order_without_comments() -> None:
    assert parse_procfile("# c\nweb: gunicorn x --bind ${HOST:-1}\n\nworker: celery -A assay worker\n") == [
        ("web", "gunicorn x --bind ${HOST:-1}"),
        ("worker", "celery -A assay worker"),
    ]
    with pytest.raises(ValueError, match="line 1 is not 'name: command'"):
        parse_procfile("no colon here")


def test_ctrl_c_stops_each_process_and_says_only_what_it_stopped(tmp_path: Path) -> None:
    runner = start(tmp_path, f"quiet: {QUIET}\nchatty: {CHATTY}\nstubborn: {STUBBORN}\n")
    wait_for_log(tmp_path, "quiet up", "chatty up", "stubborn up")
    children = [int(pid) for pid in Path(f"/proc/{runner.pid}/task/{runner.pid}/children").read_text().split()]
    assert len(children) == 3
    runner.send_signal(signal.SIGINT)
    output, _ = runner.communicate(timeout=30)
    assert runner.returncode == 0
    stop = output[output.index("Stopping quiet, chatty, stubborn ...") :]
    assert stop.splitlines() == [
        "Stopping quiet, chatty, stubborn ...",
        "  quiet     stopped",
        "  chatty    stopped",
        "  stubborn  killed after 2 s (a job it was running resumes at the next start)",
        f"Their output is in {tmp_path / 'data' / 'logs' / 'run.log'}.",
    ]
    assert "chatty shutting down" not in output
    assert "chatty shutting down" in (tmp_path / "data" / "logs" / "run.log").read_text()
    assert not [pid for pid in children if alive(pid)]


def test_a_process_that_ends_stops_the_others_and_gives_its_status(tmp_path: Path) -> None:
    runner = start(tmp_path, f"quiet: {QUIET}\nfailing: {PY} -c 'import time, sys; time.sleep(1); sys.exit(3)'\n")
    output, _ = runner.communicate(timeout=60)
    assert runner.returncode == 3
    assert "failing exited with status 3: stopping the others ..." in output
    assert "  quiet    stopped" in output
    assert "  failing  exited with status 3" in output
