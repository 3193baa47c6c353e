"""What every benchmark's child process runs with: the caller's environment without its database, broker and Assay
settings (a benchmark never touches the user's own data), then a throwaway data folder and, when given, the
throwaway database the launcher created (``throwaway_postgres``)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from bench._server import ROOT


def child_env(data_dir: str, database_url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_BROKER_URL", "ASSAY_"))}
    env.update(
        ASSAY_ENV="development",
        ASSAY_DATA_DIR=data_dir,
        CELERY_BROKER_URL="filesystem://",
        DJANGO_SETTINGS_MODULE="assay.settings",
        LOG_LEVEL="warning",
        **extra,
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


@contextmanager
def throwaway_postgres(server_url: str, prefix: str) -> Iterator[str]:
    """A new database named ``<prefix>_<random>`` on the PostgreSQL server of ``server_url``: yields its URL, and
    drops it (closing what is still connected) however the benchmark ends."""
    import psycopg  # only the PostgreSQL runs need the driver

    parts = urlsplit(server_url)
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_server() -> str:
    """``DATABASE_URL`` when it names a PostgreSQL server (to create throwaway databases on), else ""."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else ""


def run_child(module: str, forwarded: list[str], *, backend: str = "auto", child: bool = True, **extra: str) -> int:
    """Run ``python -m <module> [--child] <forwarded>`` in a throwaway data folder; its exit status. ``backend``:
    ``sqlite`` (the embedded default), ``postgresql`` (a throwaway database on the server ``DATABASE_URL`` names),
    or ``auto`` (PostgreSQL when there is a server, else SQLite). ``extra`` are more settings for the child. The data
    folder and the database go however it ends."""
    name = module.rsplit(".", 1)[-1]
    data_dir = tempfile.mkdtemp(prefix=f"assay-bench-{name}-")
    args = [sys.executable, "-m", module, *(["--child"] if child else []), *forwarded]
    server_url = postgres_server()
    try:
        if backend == "postgresql" or (backend == "auto" and server_url):
            if not server_url:
                raise ValueError(
                    "a PostgreSQL run needs DATABASE_URL=postgres://... (a server to create a database on)"
                )
            with throwaway_postgres(server_url, f"assay_bench_{name}") as database_url:
                env = child_env(data_dir, database_url, **extra)
                return subprocess.run(args, cwd=ROOT, env=env, check=False).returncode
        return subprocess.run(args, cwd=ROOT, env=child_env(data_dir, None, **extra), check=False).returncode
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def run_backends(module: str, forwarded: list[str], backend: str, *, child: bool = True, **extra: str) -> int:
    """``run_child`` on each backend the ``--backend`` option names: ``all`` (SQLite, then PostgreSQL when
    ``DATABASE_URL`` names a server), ``sqlite`` or ``postgresql``; 0 when every run succeeded, 2 when PostgreSQL
    is asked for without a server."""
    server_url = postgres_server()
    if backend == "postgresql" and not server_url:
        print("--backend postgresql needs DATABASE_URL=postgres://user@host:port/db (a server to create a database on)")
        return 2
    failures = 0
    if backend in ("all", "sqlite"):
        failures += run_child(module, forwarded, backend="sqlite", child=child, **extra) != 0
    if backend in ("all", "postgresql") and server_url:
        failures += run_child(module, forwarded, backend="postgresql", child=child, **extra) != 0
    elif backend == "all":
        print("\n(PostgreSQL skipped: set DATABASE_URL=postgres://... to measure it too.)")
    return 1 if failures else 0
