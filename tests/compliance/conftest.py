"""Fixtures of the compliance tests: the API world and, for the gate, a release ready to be signed
(tests/governance/factories.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from tests.api_cases import World
from tests.governance.factories import ReleaseWorld, make_release_world, write_onnx


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Throttle counters live in the cache: every test starts and ends with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(scope="session")
def onnx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_onnx(tmp_path_factory.mktemp("onnx") / "add.onnx")


@pytest.fixture
def artifact_root(settings: Any, tmp_path: Path) -> Path:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    return Path(settings.ARTIFACT_ROOT)


@pytest.fixture
def world(cast: Any, api_as: Any, artifact_root: Path) -> World:
    return World(cast=cast, make_client=api_as)


@pytest.fixture
def rw(cast: Any, artifact_root: Path, onnx_path: Path) -> ReleaseWorld:
    """A release of team A's model to production, awaiting signatures."""
    return make_release_world(cast, onnx_path)
