from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api_cases import World


@pytest.fixture
def lake(tmp_path: Path, settings: Any) -> Path:
    """An empty data lake of this test's own (DATA_LAKE_ROOT)."""
    root = tmp_path / "lake"
    root.mkdir()
    settings.DATA_LAKE_ROOT = root
    return root


@pytest.fixture
def world(cast: Any, api_as: Any, lake: Path) -> World:
    return World(cast=cast, make_client=api_as)
