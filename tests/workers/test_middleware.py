"""ServiceUnavailableMiddleware on its own: which errors become a 503, and in which shape."""

from __future__ import annotations

from django.db import OperationalError
from django.http import HttpResponse
from django.test import RequestFactory

from core.jobs import BrokerUnavailable
from core.middleware import ServiceUnavailableMiddleware

middleware = ServiceUnavailableMiddleware(lambda request: HttpResponse())


def test_a_lost_database_on_a_page_answers_a_plain_503():
    """GIVEN a web page whose view loses the database connection
    WHEN the error reaches the middleware
    THEN the browser gets a plain-text 503 with Retry-After."""
    request = RequestFactory().get("/jobs/", HTTP_ACCEPT="text/html")

    response = middleware.process_exception(request, OperationalError("server closed the connection unexpectedly"))

    assert response is not None
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/plain")
    assert response["Retry-After"] == "5"


def test_a_broken_query_is_not_mistaken_for_an_outage():
    """GIVEN an OperationalError that is a bug (a missing table), not an outage
    WHEN it reaches the middleware
    THEN it is left alone, to be reported as the 500 it is."""
    request = RequestFactory().get("/api/v1/jobs/")

    assert middleware.process_exception(request, OperationalError("no such table: core_job")) is None
    assert middleware.process_exception(request, ValueError("connection")) is None


def test_a_broker_outage_on_the_api_answers_json_503():
    """GIVEN an API view that cannot reach the broker
    WHEN the error reaches the middleware
    THEN the client gets the API's JSON error shape with status 503."""
    request = RequestFactory().post("/api/v1/audit-verifications/")

    response = middleware.process_exception(request, BrokerUnavailable("refused"))

    assert response is not None
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert b'"broker_unavailable"' in response.content
