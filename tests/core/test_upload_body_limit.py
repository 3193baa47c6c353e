"""The body-size guard lets artifact uploads through, and only them."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from core.middleware import BodySizeLimitMiddleware

MIB = 1024 * 1024


@pytest.fixture
def guard():
    return BodySizeLimitMiddleware(lambda request: HttpResponse("reached the view"))


def post(path: str, length: int, method: str = "post"):
    return getattr(RequestFactory(), method)(
        path, data=b"", content_type="application/octet-stream", CONTENT_LENGTH=str(length)
    )


@pytest.mark.parametrize(
    ("path", "method", "length", "status"),
    [
        ("/api/v1/models/7/versions/", "post", 5 * MIB, 200),  # an upload above the general limit
        ("/api/v1/models/7/versions/", "post", 64 * MIB + 2 * MIB, 413),  # above the artifact limit and its framing
        ("/api/v1/models/7/versions/", "put", 5 * MIB, 413),  # only POST carries an upload
        ("/api/v1/models/7/versions/1/", "post", 5 * MIB, 413),  # not the upload path
        ("/api/v1/models/x/versions/", "post", 5 * MIB, 413),
        ("/api/v1/teams/", "post", 5 * MIB, 413),
    ],
)
def test_only_artifact_uploads_may_exceed_the_general_limit(guard, settings, path, method, length, status):
    """GIVEN a 1 MiB general limit and a 64 MiB artifact limit
    WHEN a request declares a body of the given length
    THEN only a POST to the upload path under the artifact limit reaches the view; the rest answer 413."""
    settings.MAX_REQUEST_BODY_BYTES = MIB
    settings.MAX_ARTIFACT_BYTES = 64 * MIB
    response = guard(post(path, length, method))
    assert response.status_code == status
