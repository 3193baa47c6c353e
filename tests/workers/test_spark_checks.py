"""The Java look-up behind the Spark jobs and its system check (assay.W010)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from workers.checks import check_java_for_spark
from workers.spark import SparkUnavailable, find_java, get_spark


def test_the_system_java_is_found() -> None:
    runtime, problem = find_java()
    assert runtime is not None, problem
    assert runtime.major >= 17
    assert check_java_for_spark(None) == []


def test_an_empty_java_home_is_a_warning_naming_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    [warning] = check_java_for_spark(None)
    assert warning.id == "assay.W010"
    assert f"JAVA_HOME={tmp_path} holds no bin/java" in warning.msg
    assert "openjdk-17-jre-headless" in (warning.hint or "")


def test_no_java_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    runtime, problem = find_java()
    assert runtime is None
    assert problem == "no java on PATH and JAVA_HOME is not set"


def test_an_old_java_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "java"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    runtime, problem = find_java()
    assert runtime is None
    assert "is Java 11; Spark 4 needs Java 17 or newer" in problem


def test_starting_spark_without_java_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    # A process that has a session already would return it: this asks as a fresh process would.
    monkeypatch.setattr("workers.spark._session", None)
    with pytest.raises(SparkUnavailable, match="apt-get install openjdk-17-jre-headless"):
        get_spark()
    assert os.environ["JAVA_HOME"] == str(tmp_path)
