"""Request throttles for the API.

DRF's throttles identify a client by the last ``X-Forwarded-For`` entry unless ``NUM_PROXIES`` is set, so a client
could pick a fresh identity per request. Like the login lockout (``AXES_IPWARE_META_PRECEDENCE_ORDER``), these
identify the client by ``REMOTE_ADDR`` only; a deployment behind a proxy sets the address there (e.g. gunicorn's
``--forwarded-allow-ips`` with a proxy-fix), not from a header every client can write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from rest_framework import throttling
from rest_framework.request import Request

if TYPE_CHECKING:
    from rest_framework.views import APIView


def client_address(request: Request | HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR") or "unknown")


class AnonRateThrottle(throttling.AnonRateThrottle):
    def get_ident(self, request: Request) -> str:
        return client_address(request)


class UserRateThrottle(throttling.UserRateThrottle):
    def get_ident(self, request: Request) -> str:
        return client_address(request)


class FailedAuthenticationThrottle(throttling.AnonRateThrottle):
    """Counts requests that present bad credentials against the anonymous rate of their address.

    DRF authenticates before it throttles, so without this a client guessing tokens would meet only 401s, never
    a 429. It shares the ``anon`` scope and cache key with ``AnonRateThrottle``: one budget per address.
    """

    def get_cache_key(self, request: Request, view: APIView | None) -> str:
        # Deliberately not ``request.user``: this runs inside authentication, where reading it would recurse.
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}

    def get_ident(self, request: Request) -> str:
        return client_address(request)
