"""A bounded, schema-driven fuzz run of the whole API (schemathesis against the live OpenAPI schema at /api/schema/).

Every operation gets valid and invalid requests generated from its schema, sent through Django's WSGI application
with a real bearer token of the demo's superuser, over the seeded demo data (so ids and slugs exist). It fails on
any 5xx, on any status an operation does not document, and on any response that does not match its schema.

Bounded: ``FUZZ_EXAMPLES`` examples per operation and generation mode (``ASSAY_FUZZ_EXAMPLES`` overrides it), no
Hypothesis database, every write inside the test's own transaction and artifacts in a temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, Phase, given, settings

from core import actions
from core.management.commands.seed_demo import ADMIN

schemathesis = pytest.importorskip("schemathesis")

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

FUZZ_EXAMPLES = int(os.environ.get("ASSAY_FUZZ_EXAMPLES", "5"))

# Operations left out, each for a reason: revoking tokens could revoke the fuzzer's own and turn the rest of the
# run into 401s.
SKIPPED = {("POST", "/api/v1/tokens/{id}/revoke/"), ("DELETE", "/api/v1/tokens/{id}/")}


@pytest.fixture
def demo(settings: Any, tmp_path: Path) -> str:
    """The seeded demo (people, registry, releases), its files in a temporary folder; returns a superuser token."""
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.DATA_LAKE_ROOT = tmp_path / "lake"
    settings.DEFAULT_THROTTLE_RATES = {}
    call_command("seed_demo", "--quiet-logins", stdout=StringIO())
    call_command("seed_registry_demo", stdout=StringIO())
    call_command("seed_release_demo", stdout=StringIO())
    from django.contrib.auth import get_user_model

    _, token = actions.do_create_token(actor=get_user_model().objects.get(username=ADMIN), name="fuzz")
    return str(token)


def _checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def hypothesis_home(tmp_path: Path) -> Iterator[Path]:
    """Hypothesis keeps what it learns (examples, constants) in a folder: the test's own, not the working tree."""
    from hypothesis.configuration import set_hypothesis_home_dir

    home = tmp_path / "hypothesis"
    set_hypothesis_home_dir(home)
    try:
        yield home
    finally:
        set_hypothesis_home_dir(None)


@pytest.fixture
def wsgi_app() -> Iterator[Any]:
    """Django's WSGI application, kept on the test's connection: a request's end closes the database connection
    otherwise (and with it the test's transaction), which Django's own test client prevents the same way."""
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def fuzz(operation: Any, mode: Any, headers: dict[str, str], seen: set[int]) -> None:
    """Up to ``FUZZ_EXAMPLES`` generated requests to one operation; raises on the first failing check."""
    checks = _checks()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,  # nothing written outside the test database: no .hypothesis folder
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        seen.add(response.status_code)
        case.validate_response(response, checks=checks, headers=headers)

    run()


def test_the_api_survives_schema_driven_fuzzing(demo: str, wsgi_app: Any, hypothesis_home: Path) -> None:
    from schemathesis import GenerationMode

    headers = {"Authorization": f"Bearer {demo}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app, headers=headers)
    failures: list[str] = []
    statuses: dict[tuple[str, str], set[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if key in SKIPPED:
            continue
        seen = statuses.setdefault(key, set())
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation, mode, headers, seen)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # every failure is collected, then reported together
                failures.append(f"{key[0]} {key[1]} ({mode.value}): {exc}")
    assert len(statuses) > 50, f"only {len(statuses)} operations in the schema"
    assert not failures, "\n\n".join(failures)
    # The run reached the API rather than its front door: no operation answered only 401, and most reads succeeded.
    assert not [key for key, seen in statuses.items() if seen <= {401}]
    reads = [key for key in statuses if key[0] == "GET"]
    succeeded = [key for key in reads if any(200 <= status < 300 for status in statuses[key])]
    assert len(succeeded) >= len(reads) * 0.6, sorted(set(reads) - set(succeeded))
