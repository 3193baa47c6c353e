"""Fixtures for the whole suite: the personas, API clients that authenticate with real tokens, and the guard that
keeps the audit table's triggers in place for every test that touches the database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient

from core import actions, audit_triggers
from core.choices import BoardRole, Role
from core.models import Team
from tests.mail_fixtures import smtp_server, webhook_receiver  # noqa: F401 (fixtures for every test)

User = get_user_model()
# The real OpenID Connect provider of the single sign-on tests (also used by the browser and worker tests).
pytest_plugins = ["tests.sso.fixtures"]

PASSWORD = "correct horse battery staple"
TESTS = Path(__file__).resolve().parent

# The slow kinds, marked by what a test uses (see pyproject's markers; `make test-fast` leaves them out).
SPARK_FIXTURES = frozenset({"spark", "spark_worker", "spark_cluster"})
WORKER_FIXTURES = frozenset({"start_worker", "worker", "spark_worker"})
# Tests on the session's SparkSession share one xdist worker (``--dist loadgroup``), and so one JVM.
SPARK_GROUP = "spark-session"


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the xdist_group marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the slow kinds: ``browser`` (tests/browser), ``spark`` (a SparkSession in this process or a Spark
    worker or cluster beside it), ``worker`` (a real Celery worker process)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        folder = item.path.relative_to(TESTS).parts[0] if item.path.is_relative_to(TESTS) else ""
        if folder == "browser":
            item.add_marker(pytest.mark.browser)
        if fixtures & SPARK_FIXTURES:
            item.add_marker(pytest.mark.spark)
        if fixtures & WORKER_FIXTURES:
            item.add_marker(pytest.mark.worker)
        if "spark" in fixtures:
            item.add_marker(pytest.mark.xdist_group(SPARK_GROUP))


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _audit_triggers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test sees the audit table append-only, as production does.

    Tests that commit (transactional_db, live_server) are emptied afterwards by a flush, which the triggers would
    refuse; they are removed just for that flush and installed again by the next test.
    """
    uses_db = "_django_db_helper" in request.fixturenames or request.node.get_closest_marker("django_db")
    if not uses_db:
        yield
        return
    request.getfixturevalue("_django_db_helper")  # set up first, so torn down after us
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0]))) or (
        "transactional_db" in request.fixturenames or "live_server" in request.fixturenames
    )
    audit_triggers.install(connection)
    yield
    if transactional:
        audit_triggers.remove(connection)


@dataclass
class Cast:
    """The fixed personas every permission test tries."""

    team_a: Team
    team_b: Team
    superuser: Any
    admin_a: Any
    engineer_a: Any
    engineer_b: Any
    compliance: Any
    auditor: Any
    reviewers: dict[str, Any]

    def all(self) -> dict[str, Any]:
        people = {
            "superuser": self.superuser,
            "admin_a": self.admin_a,
            "engineer_a": self.engineer_a,
            "engineer_b": self.engineer_b,
            "compliance": self.compliance,
            "auditor": self.auditor,
        }
        people.update({f"reviewer_{role}": user for role, user in self.reviewers.items()})
        return people


def make_user(username: str, **extra: Any) -> Any:
    return User.objects.create_user(username=username, password=PASSWORD, email=f"{username}@example.com", **extra)


@pytest.fixture
def cast(db: None) -> Cast:
    superuser = User.objects.create_superuser(username="root", password=PASSWORD, email="root@example.com")
    team_a = actions.do_create_team(actor=superuser, slug="team-a", name="Team A")
    team_b = actions.do_create_team(actor=superuser, slug="team-b", name="Team B")
    admin_a = make_user("alice-admin")
    engineer_a = make_user("erin-engineer")
    engineer_b = make_user("bob-engineer")
    compliance = make_user("carol-compliance")
    auditor = make_user("dave-auditor")
    actions.do_grant_membership(team_a, actor=superuser, user=admin_a, role=Role.ADMIN)
    actions.do_grant_membership(team_a, actor=superuser, user=engineer_a, role=Role.ENGINEER)
    actions.do_grant_membership(team_b, actor=superuser, user=engineer_b, role=Role.ENGINEER)
    actions.do_grant_membership(team_a, actor=superuser, user=compliance, role=Role.COMPLIANCE_OFFICER)
    actions.do_grant_membership(team_a, actor=superuser, user=auditor, role=Role.AUDITOR)
    reviewers = {}
    for board_role in BoardRole.values:
        reviewer = make_user(f"rita-{board_role}")
        actions.do_grant_membership(team_a, actor=superuser, user=reviewer, role=Role.REVIEWER, board_role=board_role)
        reviewers[board_role] = reviewer
    return Cast(team_a, team_b, superuser, admin_a, engineer_a, engineer_b, compliance, auditor, reviewers)


@pytest.fixture
def api_client() -> APIClient:
    """An anonymous API client."""
    return APIClient()


@pytest.fixture
def api_as(db: None) -> Callable[[Any], APIClient]:
    """``api_as(user)``: an API client that sends a freshly created bearer token of ``user``."""

    def make(user: Any) -> APIClient:
        _, token = actions.do_create_token(actor=user, name="test")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return make


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local SparkSession for the whole test session (starting one costs 7 to 14 seconds here), built by the
    same code the workers use (workers.spark)."""
    from workers.spark import get_spark, stop_spark

    session = get_spark()
    yield session
    stop_spark()
