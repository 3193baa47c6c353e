"""Fixtures of the retention and legal-hold tests: an artifact root and a lake per test, a second compliance
officer, and a small estate of records (a dataset version with files in the lake, a retired model version)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from core import actions as core_actions
from core.choices import Role
from registry import actions as registry_actions
from tests.api_cases import World
from tests.conftest import make_user
from tests.governance.factories import write_onnx
from tests.registry.factories import make_dataset, make_dataset_version, make_model, make_model_version


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
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
def lake(settings: Any, tmp_path: Path) -> Path:
    settings.DATA_LAKE_ROOT = tmp_path / "lake"
    Path(settings.DATA_LAKE_ROOT).mkdir()
    return Path(settings.DATA_LAKE_ROOT)


@pytest.fixture
def officer_2(cast: Any) -> Any:
    """A second compliance officer of team A: a release takes two."""
    user = make_user("olga-compliance")
    core_actions.do_grant_membership(cast.team_a, actor=cast.superuser, user=user, role=Role.COMPLIANCE_OFFICER)
    return user


@dataclass
class Estate:
    dataset: Any
    version: Any
    files: Path
    model: Any
    model_version: Any


def make_estate(cast: Any, lake: Path, onnx_path: Path, *, name: str = "Credit applications") -> Estate:
    files = lake / name.lower().replace(" ", "-")
    files.mkdir()
    (files / "part-0.parquet").write_bytes(b"PAR1 rows PAR1")
    dataset = make_dataset(
        cast.team_a, cast.engineer_a, name=name, location=f"lake://{files.name}", classification="confidential"
    )
    version = make_dataset_version(dataset, cast.engineer_a)
    model = make_model(cast.team_a, cast.engineer_a, name=f"{name} scorer")
    model_version = make_model_version(model, cast.engineer_a, onnx_path)
    registry_actions.do_change_version_status(
        model_version, actor=cast.admin_a, to_status="retired", reason="Replaced by v2."
    )
    model_version.refresh_from_db()
    return Estate(dataset, version, files, model, model_version)


@pytest.fixture
def estate(cast: Any, lake: Path, artifact_root: Path, onnx_path: Path) -> Estate:
    return make_estate(cast, lake, onnx_path)


@pytest.fixture
def world(cast: Any, api_as: Any, artifact_root: Path, lake: Path) -> World:
    return World(cast=cast, make_client=api_as)
