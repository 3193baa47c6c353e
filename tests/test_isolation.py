"""Parallel runs (tests/isolation.py): each xdist worker on its own data folder, database and broker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings

from tests.isolation import isolate


def test_outside_xdist_nothing_changes(tmp_path: Path) -> None:
    environ = {"ASSAY_DATA_DIR": str(tmp_path), "CELERY_BROKER_URL": "redis://127.0.0.1:6379/9"}
    isolate(environ)
    assert environ == {"ASSAY_DATA_DIR": str(tmp_path), "CELERY_BROKER_URL": "redis://127.0.0.1:6379/9"}
    assert not list(tmp_path.iterdir())


def test_a_worker_gets_its_own_data_folder_stores_and_redis_database(tmp_path: Path) -> None:
    environ = {
        "PYTEST_XDIST_WORKER": "gw2",
        "ASSAY_DATA_DIR": str(tmp_path),
        "CELERY_BROKER_URL": "redis://:secret@127.0.0.1:6379/9",
        "ARTIFACT_ROOT": str(tmp_path / "artifacts"),
        "DATA_LAKE_ROOT": "s3a://bucket/lake",
    }
    isolate(environ)
    assert environ["ASSAY_DATA_DIR"] == str(tmp_path / "gw2")
    assert (tmp_path / "gw2").is_dir()
    assert environ["CELERY_BROKER_URL"] == "redis://:secret@127.0.0.1:6379/11"
    assert environ["ARTIFACT_ROOT"] == str(tmp_path / "artifacts" / "gw2")
    assert environ["DATA_LAKE_ROOT"] == "s3a://bucket/lake"  # a URI is the operator's to share


def test_a_worker_without_a_data_folder_uses_var_and_the_filesystem_broker_stays(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("tests.isolation.REPO", tmp_path)
    environ = {"PYTEST_XDIST_WORKER": "gw0", "CELERY_BROKER_URL": "filesystem://"}
    isolate(environ)
    assert environ == {
        "PYTEST_XDIST_WORKER": "gw0",
        "ASSAY_DATA_DIR": str(tmp_path / "var" / "gw0"),
        "CELERY_BROKER_URL": "filesystem://",  # its folder is under the worker's data folder
    }


def test_a_redis_url_without_a_database_starts_at_0_and_past_the_last_one_is_refused(tmp_path: Path) -> None:
    environ = {"PYTEST_XDIST_WORKER": "gw1", "ASSAY_DATA_DIR": str(tmp_path), "CELERY_BROKER_URL": "redis://h:6379"}
    isolate(environ)
    assert environ["CELERY_BROKER_URL"] == "redis://h:6379/1"
    environ = {"PYTEST_XDIST_WORKER": "gw3", "ASSAY_DATA_DIR": str(tmp_path), "CELERY_BROKER_URL": "redis://h:6379/14"}
    with pytest.raises(pytest.UsageError, match="would use Redis database 17"):
        isolate(environ)


def test_this_process_runs_on_its_worker_s_own_folder_and_database(db: None) -> None:
    """Under xdist (as `make test` runs), the settings this process loaded are its worker's."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        pytest.skip("runs under pytest-xdist only (make test, or pytest -n 2)")
    assert settings.DATA_DIR.name == worker
    assert settings.DATABASES["default"]["NAME"].endswith(f"_{worker}")
    assert str(settings.BROKER_DATA_DIR).startswith(str(settings.DATA_DIR))
