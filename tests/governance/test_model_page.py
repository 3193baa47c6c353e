"""The registry's model page lists the model's releases (governance's panel) and deployments (serving's panel), both
registered through registry.panels; each reads only what the user may see, at a fixed number of queries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from serving.actions import do_deploy
from tests.governance.factories import ReleaseWorld
from tests.governance.test_ui import add_releases
from tests.registry.factories import make_model
from tests.registry.test_ui import row_of, text
from tests.serving.factories import approve, new_version, request


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def model_page(rw: ReleaseWorld) -> str:
    return f"/models/{rw.version.model_id}/"


def test_the_model_page_lists_its_releases_and_deployments(cast: Any, rw: ReleaseWorld, tmp_path: Path) -> None:
    # GIVEN release 1 deployed as production's primary and release 2 of v2 open
    deployment = do_deploy(approve(rw)[0].release, actor=cast.engineer_a)
    waiting = request(rw, new_version(rw, tmp_path, 2))
    # WHEN a compliance officer of team A opens the model's page
    response = client_for(cast.compliance).get(model_page(rw))
    assert response.status_code == 200
    # THEN both releases are listed, newest first, with status, version, environment and requester
    open_row = row_of(response, f'data-release="{waiting.pk}"')
    assert open_row.startswith(f"#{waiting.pk} Open v2 Production")
    assert "by erin-engineer" in open_row
    assert row_of(response, f'data-release="{rw.release.pk}"').startswith(f"#{rw.release.pk} Deployed v1 Production")
    body = response.content.decode()
    assert body.index(f'data-release="{waiting.pk}"') < body.index(f'data-release="{rw.release.pk}"')
    assert "All releases of Limit scorer" in text(response)
    # AND the deployment with environment, version, role, traffic, who, and that it serves now
    row = row_of(response, f'data-deployment="{deployment.pk}"')
    assert "Production v1 Primary Serving now 100% erin-engineer" in row
    assert "data-serving-now" in body


def test_engineer_b_cannot_reach_the_model_page(cast: Any, rw: ReleaseWorld) -> None:
    assert client_for(cast.engineer_b).get(model_page(rw)).status_code == 404


def test_a_model_never_released_says_so(cast: Any, rw: ReleaseWorld) -> None:
    model = make_model(cast.team_a, cast.engineer_a, name="Fresh")
    page = text(client_for(cast.engineer_a).get(f"/models/{model.pk}/"))
    assert "No release requested yet." in page
    assert "Never deployed." in page


def count_queries(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def test_the_model_page_costs_the_same_queries_however_many_releases(cast: Any, rw: ReleaseWorld) -> None:
    client = client_for(cast.compliance)
    add_releases(rw, 1)
    before = count_queries(client, model_page(rw))
    add_releases(rw, 12)
    assert count_queries(client, model_page(rw)) == before
