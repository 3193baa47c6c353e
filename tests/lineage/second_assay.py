"""A second Assay instance, as the external OpenLineage backend of the forwarding tests: its own data folder and
SQLite database (migrated), team ``team-a`` with a service account and its API token, served by Django's server on a
port of its own in a subprocess. Its database is read directly to see what arrived."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 60

# Run by `manage.py shell` in the second instance: the team, a service account and its token (printed).
SETUP = """
from django.contrib.auth.models import User
from core import actions
root = User.objects.create_superuser(username="root", password="unused-Password-1", email="root@example.com")
team = actions.do_create_team(actor=root, slug="team-a", name="Team A")
account = actions.do_create_service_account(team, actor=root, username="lineage-sink")
_, raw = actions.do_create_token(actor=root, owner=account.user, name="forwarding")
print(raw)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SecondAssay:
    home: Path
    port: int
    token: str
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.home / "assay.sqlite3") as db:
            return list(db.execute(sql, params).fetchall())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_second_assay(home: Path) -> SecondAssay:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OPENLINEAGE", "DATABASE_URL"))}
    env.update(
        {
            "ASSAY_DATA_DIR": str(home),
            "DATABASE_URL": f"sqlite:///{home / 'assay.sqlite3'}",
            "CELERY_BROKER_URL": "filesystem://",
            "DJANGO_SETTINGS_MODULE": "assay.settings",
            "PYTHONUNBUFFERED": "1",
        }
    )
    manage = [sys.executable, str(REPO / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, cwd=REPO, check=True, capture_output=True)
    setup = subprocess.run(
        [*manage, "shell", "-c", SETUP], env=env, cwd=REPO, check=True, capture_output=True, text=True
    )
    token = setup.stdout.strip().splitlines()[-1]
    port = free_port()
    log = (home / "server.log").open("ab")
    process = subprocess.Popen(
        [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"], env=env, cwd=REPO, stdout=log, stderr=log
    )
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log_text = (home / "server.log").read_text()[-3000:]
                raise RuntimeError(f"the second Assay did not start:\n{log_text}") from None
            time.sleep(0.1)
    return SecondAssay(home, port, token, process)
