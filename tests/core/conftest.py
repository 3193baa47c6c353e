"""Fixtures for the core API tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from core import actions
from tests.api_cases import World


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Throttle counters live in the cache: every test starts and ends with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(cast: Any, api_as: Any) -> World:
    return World(cast=cast, make_client=api_as)


@pytest.fixture
def service_account(cast: Any) -> Any:
    """An engineer service account of team A, made by its admin."""
    return actions.do_create_service_account(cast.team_a, actor=cast.admin_a, username="svc-ci", description="CI")


@pytest.fixture
def service_client(cast: Any, service_account: Any) -> APIClient:
    """A client with a service token of ``svc-ci`` (created by team A's admin: accounts cannot make their own)."""
    _, token = actions.do_create_token(actor=cast.admin_a, owner=service_account.user, name="ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client
