"""Verifying a presented bearer token (``assay_<key_id>_<secret>``): one rule for the REST API
(core.api.authentication) and the inference service (serving.inference.auth)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from core.models import ApiToken

# last_used_at is written at most once a minute per token, so reads do not become writes on every call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenRefused(Exception):
    """The presented token does not authenticate; the message says why (to its holder)."""


def verify_token(raw: str) -> ApiToken:
    """The token ``raw`` presents, with its user, after checking its secret, revocation, expiry and the user's
    account; ``TokenRefused`` otherwise. Stamps ``last_used_at`` (at most once a minute)."""
    parsed = ApiToken.parse(raw)
    if parsed is None:
        raise TokenRefused("Malformed token.")
    key_id, secret = parsed
    token = ApiToken.objects.select_related("user").filter(key_id=key_id).first()
    # One message for unknown, wrong, revoked and expired tokens would hide why a client fails; these states are not
    # secrets to the holder of the key id (and a wrong secret is "invalid", revealing nothing).
    if token is None or not token.matches(secret):
        raise TokenRefused("Invalid token.")
    if token.revoked_at is not None:
        raise TokenRefused("This token has been revoked.")
    now = timezone.now()
    if token.expires_at <= now:
        raise TokenRefused("This token has expired.")
    if not token.user.is_active:
        raise TokenRefused("This account is disabled.")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # A conditional update, so that concurrent requests write it once, not once each.
        ApiToken.objects.filter(pk=token.pk, last_used_at=token.last_used_at).update(last_used_at=now)
        token.last_used_at = now
    return token
