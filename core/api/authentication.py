"""Bearer-token authentication for the API (``Authorization: Bearer assay_…``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from core.models import ApiToken

# last_used_at is written at most once a minute per token, so reads do not become writes on every call.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            if request.query_params.get("token") or request.query_params.get("access_token"):
                # Tokens in URLs end up in logs and browser history.
                raise exceptions.AuthenticationFailed("Send the token in the Authorization header, not the URL.")
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Bearer <token>'.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Malformed token.") from None
        parsed = ApiToken.parse(raw)
        if parsed is None:
            raise exceptions.AuthenticationFailed("Malformed token.")
        key_id, secret = parsed
        token = ApiToken.objects.select_related("user").filter(key_id=key_id).first()
        # One message for unknown, wrong, revoked and expired tokens would hide why a client fails; these states
        # are not secrets to the holder of the key id, so say which.
        if token is None or not token.matches(secret):
            raise exceptions.AuthenticationFailed("Invalid token.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This token has been revoked.")
        now = timezone.now()
        if token.expires_at <= now:
            raise exceptions.AuthenticationFailed("This token has expired.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("This account is disabled.")
        if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'
