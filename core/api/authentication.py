"""Bearer-token authentication for the API (``Authorization: Bearer assay_…``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from core.api.throttling import FailedAuthenticationThrottle
from core.models import ApiToken
from core.tokens import TokenRefused, verify_token

if TYPE_CHECKING:
    from django.contrib.auth.models import User as AuthUser
    from drf_spectacular.openapi import AutoSchema

# Query parameters that clients commonly (and wrongly) use to carry a token.
_TOKEN_PARAMS = ("token", "access_token", "api_key")


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[AuthUser, ApiToken] | None:
        if self._token_in_url(request):
            # Tokens in URLs end up in access logs, proxies and browser history: refuse even with a valid header,
            # so that the client learns to stop before the token leaks for real.
            self._fail(request, "Send the token in the Authorization header, never in the URL.")
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            self._fail(request, "Malformed Authorization header: expected 'Bearer <token>'.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            self._fail(request, "Malformed token.")
        try:
            token = verify_token(raw)
        except TokenRefused as refused:
            self._fail(request, str(refused))
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'

    @staticmethod
    def _token_in_url(request: Request) -> bool:
        params = request.query_params
        if any(params.get(name) for name in _TOKEN_PARAMS):
            return True
        # Any parameter whose value has the shape of one of our tokens, whatever the parameter is called.
        return any(ApiToken.parse(value) is not None for _, values in params.lists() for value in values)

    @staticmethod
    def _fail(request: Request, message: str) -> NoReturn:
        # Bad credentials spend the anonymous budget of the address, so guessing tokens meets a 429, not
        # an endless series of 401s (DRF authenticates before its own throttles run).
        throttle = FailedAuthenticationThrottle()
        if not throttle.allow_request(request, None):  # type: ignore[arg-type]  # no view: we run before it
            raise exceptions.Throttled(throttle.wait())
        raise exceptions.AuthenticationFailed(message)


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "core.api.authentication.TokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "assay_<key id>_<secret>",
            "description": "An API token, created at POST /api/v1/tokens/. Never send it in the URL.",
        }
