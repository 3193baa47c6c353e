"""The prediction log and decision record pages without a browser: who sees them, a bad filter (400, nothing shown),
the deployment filter, and a flat number of queries however many rows a page shows."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from serving.decisions import Decision, store_decision_records
from tests.serving.factories import deploy, make_prediction

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged(rw: Any) -> dict[str, Any]:
    deployment = deploy(rw)
    prediction = make_prediction(deployment, quality={"unseen": {"region": 1}})
    (record,) = store_decision_records([(prediction, Decision("Approved", 0.1, [], None, None, False))])
    url = f"/environments/{rw.environment.slug}/models/{deployment.model_id}/predictions/"
    return {"deployment": deployment, "prediction": prediction, "record": record, "url": url}


def test_team_members_read_the_pages_and_others_get_404(client, cast, logged):
    # GIVEN a logged, decided request of team A's model
    for user, status in ((cast.engineer_a, 200), (cast.auditor, 200), (cast.engineer_b, 404)):
        client.force_login(user)
        # WHEN each reads the log and the decision
        log = client.get(logged["url"])
        decision = client.get(f"/decisions/{logged['record'].uid}/")
        # THEN team A reads both, with the data quality flag; team B's engineer gets 404s
        assert (log.status_code, decision.status_code) == (status, status), user
        if status == 200:
            assert "region: 1 unseen category" in log.content.decode()
            assert "region: 1 unseen category" in decision.content.decode()
    client.logout()
    assert client.get(logged["url"]).status_code == 302  # to the login page


def test_a_bad_filter_shows_nothing_and_says_why(client, cast, logged):
    client.force_login(cast.engineer_a)
    # WHEN the role or the date is not one
    for query in ("role=leader", "logged_after=yesterday", "deployment=x"):
        response = client.get(f"{logged['url']}?{query}")
        # THEN a 400 page naming the filter, with no row
        assert response.status_code == 400, query
        assert "The filter is not valid" in response.content.decode()
        assert f'data-prediction="{logged["prediction"].pk}"' not in response.content.decode()
    # AND the deployment filter narrows the list
    other = client.get(f"{logged['url']}?deployment={logged['deployment'].pk + 1000}")
    assert other.status_code == 200
    assert 'id="prediction-count">0<' in other.content.decode()


def test_the_log_runs_a_fixed_number_of_queries(client, cast, logged):
    client.force_login(cast.engineer_a)
    with CaptureQueriesContext(connection) as few:
        client.get(logged["url"])
    for _ in range(10):
        make_prediction(logged["deployment"], quality={"missing": {"x": 1}})
    with CaptureQueriesContext(connection) as many:
        response = client.get(logged["url"])
    assert response.content.decode().count("data-prediction=") == 11
    assert len(many) == len(few)
