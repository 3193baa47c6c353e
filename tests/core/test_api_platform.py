"""The API as a whole: throttling, query counts as lists grow, the OpenAPI schema and the offline docs page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from core import actions
from core.choices import Role
from core.jobs import dispatch_job
from tests.api_cases import assert_error_shape

User = get_user_model()


# --- Throttling ----------------------------------------------------------------------------------------------------


@pytest.fixture
def tight_rates(monkeypatch, settings):
    """Low anon and user rates for one test. DRF reads the rates once, into a class attribute, so patch both."""
    rates = {"anon": "3/min", "user": "5/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    return rates


def test_throttling_is_configured_from_settings():
    framework: dict[str, Any] = settings.REST_FRAMEWORK
    scopes = {cls.rsplit(".", 1)[1] for cls in framework["DEFAULT_THROTTLE_CLASSES"]}
    assert scopes == {"AnonRateThrottle", "UserRateThrottle"}
    assert set(framework["DEFAULT_THROTTLE_RATES"]) >= {"anon", "user"}


def test_the_anonymous_throttle_answers_429_with_retry_after(db, tight_rates):
    client = APIClient()
    for _ in range(3):
        assert client.get("/api/docs/").status_code == 200
    response = client.get("/api/docs/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def test_guessing_tokens_meets_the_anonymous_throttle(db, tight_rates):
    # GIVEN a client presenting made-up tokens
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer assay_ABCDEFGH_" + "x" * 43)
    for _ in range(3):
        assert client.get("/api/v1/me/").status_code == 401
    # WHEN it keeps going THEN it gets 429 with Retry-After, in the API's error shape
    response = client.get("/api/v1/me/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert assert_error_shape(response)["code"] == "throttled"
    # AND a forged X-Forwarded-For does not buy it a fresh budget
    response = client.get("/api/v1/me/", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert response.status_code == 429


def test_the_user_throttle_answers_429_with_retry_after(cast, api_as, tight_rates):
    client = api_as(cast.engineer_a)
    for _ in range(5):
        assert client.get("/api/v1/me/").status_code == 200
    response = client.get("/api/v1/me/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert_error_shape(response)
    # Another user has their own budget.
    assert api_as(cast.engineer_b).get("/api/v1/me/").status_code == 200


# --- Query counts stay flat as lists grow ----------------------------------------------------------------------------


def queries_for(client: APIClient, url: str, expected_rows: int) -> int:
    client.get(url)  # warm up: the first use of a token records last_used_at
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == expected_rows
    return len(captured.captured_queries)


def _grow_memberships(cast, count):
    start = User.objects.filter(username__startswith="member-").count()
    for i in range(start, start + count):
        user = User.objects.create_user(username=f"member-{i:03}")
        actions.do_grant_membership(cast.team_b, actor=cast.superuser, user=user, role=Role.REVIEWER, board_role="risk")


def _grow_jobs(cast, count):
    for _ in range(count):
        dispatch_job("audit.verify", actor=cast.engineer_b, team=cast.team_b)


def _grow_tokens(cast, count):
    for i in range(count):
        actions.do_create_token(actor=cast.engineer_b, name=f"t{i}")


def _grow_events(cast, count):
    for i in range(count):
        actions.do_update_team(cast.team_b, actor=cast.superuser, description=f"revision {i}")


@pytest.mark.parametrize(
    ("url", "grow", "rows"),
    [
        ("/api/v1/memberships/?team=team-b&role=reviewer", _grow_memberships, lambda n: n),
        ("/api/v1/jobs/", _grow_jobs, lambda n: n),
        ("/api/v1/tokens/?ordering=created_at", _grow_tokens, lambda n: n + 1),  # + the client's own token
        ("/api/v1/audit-events/?event_type=team.updated&team=team-b", _grow_events, lambda n: n),
    ],
)
def test_list_queries_do_not_grow_with_the_rows(cast, api_as, url, grow, rows):
    reader = cast.engineer_b if "tokens" in url or "jobs" in url else cast.superuser
    client = api_as(reader)
    sep = "&" if "?" in url else "?"
    url = f"{url}{sep}page_size=200"
    grow(cast, 5)
    few = queries_for(client, url, rows(5))
    grow(cast, 45)
    many = queries_for(client, url, rows(50))
    assert many == few, f"{url}: {few} queries for 5 rows, {many} for 50"


def test_job_detail_queries_do_not_grow_with_the_log(cast, api_as):
    job, _ = dispatch_job("audit.verify", actor=cast.engineer_a, team=cast.team_a)
    client = api_as(cast.engineer_a)
    url = f"/api/v1/jobs/{job.public_id}/"
    client.get(url)
    with CaptureQueriesContext(connection) as short:
        assert len(client.get(url).json()["log"]) == 1
    from core.jobs import append_log

    for i in range(30):
        append_log(job, f"step {i}")
    with CaptureQueriesContext(connection) as long:
        assert len(client.get(url).json()["log"]) == 31
    assert len(long.captured_queries) == len(short.captured_queries)


# --- Schema and docs -----------------------------------------------------------------------------------------------


def test_the_openapi_schema_generates_without_warnings(tmp_path: Path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    for path in ("/api/v1/me/", "/api/v1/tokens/{id}/revoke/", "/api/v1/audit-events/verify/", "/api/v1/jobs/"):
        assert f"{path}:" in text, path
    assert "bearerAuth" in text


def test_the_schema_is_served(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Assay API"


def test_the_docs_page_uses_only_local_assets(db):
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert references, html
    for reference in references:
        assert reference.startswith("/"), reference
        assert not reference.startswith("//"), reference
    assert not re.search(r"https?://", html.replace("http://www.w3.org", "")), "the page names a remote host"
    static = [ref for ref in references if ref.startswith(f"/{settings.STATIC_URL.strip('/')}/")]
    assert len(static) >= 3  # the Swagger UI bundle, its standalone preset and its stylesheet
    for reference in static:
        relative = reference.split(settings.STATIC_URL.strip("/") + "/", 1)[1].split("?")[0]
        assert finders.find(relative), f"{relative} is not a local static file"


def test_the_docs_page_runs_under_the_content_security_policy(db):
    # The CSP allows scripts from 'self' only: the page must carry no inline script, and its initialiser must be
    # served as a file from the same origin.
    client = APIClient()
    response = client.get("/api/docs/")
    html = response.content.decode()
    inline_scripts = [body for body in re.findall(r"<script[^>]*>(.*?)</script>", html, re.S) if body.strip()]
    assert inline_scripts == []
    policy = response.get("Content-Security-Policy", "")
    assert "script-src 'self'" in policy
    sources = re.findall(r"""<script[^>]*src=["']([^"']+)["']""", html)
    initialiser = [src for src in sources if not src.startswith(f"/{settings.STATIC_URL.strip('/')}/")]
    assert len(initialiser) == 1, sources
    script = client.get(initialiser[0].replace("&amp;", "&"))
    assert script.status_code == 200
    assert "javascript" in script["Content-Type"]
    assert "SwaggerUIBundle" in script.content.decode()
    assert not re.search(r"https?://", script.content.decode())
