"""Per-worker isolation for parallel runs (pytest-xdist), loaded with ``-p tests.isolation`` (pyproject's addopts).

Each xdist worker (``gw0``, ``gw1``...) gets its own data folder, and through it its own SQLite files, filesystem
broker, artifact store, data lake and local keys: ``$ASSAY_DATA_DIR/gw0`` (``var/gw0`` when ASSAY_DATA_DIR is not
set). With a Redis broker it gets its own Redis database, the number in CELERY_BROKER_URL plus the worker's index
(``redis://host:6379/9`` gives gw0 database 9 and gw1 database 10). pytest-django names each worker's test database
itself (``test_assay_gw0``). ARTIFACT_ROOT and DATA_LAKE_ROOT, when set to local folders, get the same suffix.

Settings read these variables once, at import, so they are set here before pytest-django loads the settings: this
hook wraps every other ``pytest_load_initial_conftests`` (pytest-django's among them). Celery workers and other
subprocesses that the tests start inherit them. Outside xdist (a plain ``pytest`` run) nothing changes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, MutableMapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

REPO = Path(__file__).resolve().parents[1]
REDIS_DATABASES = 16  # Redis's default number of databases
_WORKER = re.compile(r"gw(\d+)")


def worker_index(environ: MutableMapping[str, str]) -> int | None:
    """The xdist worker's index (``gw3`` is 3), or None outside an xdist worker."""
    match = _WORKER.fullmatch(environ.get("PYTEST_XDIST_WORKER", ""))
    return int(match[1]) if match else None


def redis_url_for(url: str, index: int) -> str:
    """``url`` with its database number moved up by ``index``; an error when that passes Redis's last database."""
    parts = urlsplit(url)
    path = parts.path.strip("/")
    base = int(path) if path.isdigit() else 0
    database = base + index
    if database >= REDIS_DATABASES:
        raise pytest.UsageError(
            f"xdist worker {index} would use Redis database {database} ({url} plus its index), past the last one "
            f"({REDIS_DATABASES - 1}): name a lower database in CELERY_BROKER_URL or run fewer workers (-n)."
        )
    return urlunsplit(parts._replace(path=f"/{database}"))


def isolate(environ: MutableMapping[str, str]) -> None:
    """Point this process's data folder, broker and local stores at the worker's own (no-op outside xdist)."""
    index = worker_index(environ)
    if index is None:
        return
    name = environ["PYTEST_XDIST_WORKER"]
    base = Path(environ.get("ASSAY_DATA_DIR") or REPO / "var")
    data_dir = base / name
    data_dir.mkdir(parents=True, exist_ok=True)
    environ["ASSAY_DATA_DIR"] = str(data_dir)
    for variable in ("ARTIFACT_ROOT", "DATA_LAKE_ROOT"):
        value = environ.get(variable)
        if value and "://" not in value:  # a local folder; a URI (s3a://...) is the operator's to share
            environ[variable] = str(Path(value) / name)
    broker = environ.get("CELERY_BROKER_URL", "")
    if broker.startswith(("redis://", "rediss://")):
        environ["CELERY_BROKER_URL"] = redis_url_for(broker, index)


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> Generator[None, None, None]:
    isolate(os.environ)
    return (yield)
