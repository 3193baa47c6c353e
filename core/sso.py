"""Single sign-on through the organisation's OpenID Connect provider (mozilla-django-oidc), docs/sso.md.

A person is the provider's ``(iss, sub)``, never an email address: matching by email would let whoever controls an
address at the provider take over the local account that uses it. The groups the provider asserts become
memberships through the platform administrators' group mappings (core.actions.do_sso_sign_in); nothing the
provider says can make anyone a superuser or staff. Every refusal (a token that fails verification, a provider
error, a deactivated account) is written as ``auth.sso_refused`` and shown on the sign-in page.

The periodic re-check (``recheck_identity``, run by beat) spends each user's refresh token at the provider: when
the provider refuses it the user is deactivated, and core.tokens then refuses their API tokens.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.http import HttpRequest
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.middleware import SessionRefresh

from core import actions
from core.models import ExternalIdentity

log = logging.getLogger(__name__)


class SsoRefused(Exception):
    """A sign-in or re-check the provider's answer does not support. ``reason`` is a stable code for the audit
    log; ``message`` is what the sign-in page shows."""

    def __init__(self, reason: str, message: str, subject: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.subject = subject


def sso_enabled() -> bool:
    return bool(settings.OIDC_ISSUER)


# --- The provider's configuration ---------------------------------------------------------------------------------

_discovered: dict[str, dict[str, Any]] = {}


@dataclass(frozen=True)
class ProviderConfig:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str


def provider_config() -> ProviderConfig:
    """The endpoints from the settings, those left empty from the issuer's discovery document (fetched once per
    process). A discovery document that names another issuer is refused: its keys would vouch for someone else."""
    issuer = settings.OIDC_ISSUER
    configured = {
        "authorization_endpoint": settings.OIDC_OP_AUTHORIZATION_ENDPOINT,
        "token_endpoint": settings.OIDC_OP_TOKEN_ENDPOINT,
        "userinfo_endpoint": settings.OIDC_OP_USER_ENDPOINT,
        "jwks_uri": settings.OIDC_OP_JWKS_ENDPOINT,
    }
    if not all(configured.values()):
        document = _discovered.get(issuer)
        if document is None:
            response = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=settings.OIDC_TIMEOUT)
            response.raise_for_status()
            document = response.json()
            if str(document.get("issuer", "")).rstrip("/") != issuer:
                raise ImproperlyConfigured(
                    f"The discovery document of {issuer} names the issuer {document.get('issuer')!r}."
                )
            _discovered[issuer] = document
        configured = {key: value or str(document.get(key, "")) for key, value in configured.items()}
    return ProviderConfig(issuer=issuer, **configured)


def forget_discovery() -> None:
    """Drop the cached discovery documents (tests start providers on new ports)."""
    _discovered.clear()


# --- Sealing the refresh token ------------------------------------------------------------------------------------


def _fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"assay sso refresh token").derive(
        settings.SECRET_KEY.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode() if secret else ""


def unseal(sealed: str) -> str:
    """The sealed secret, or "" when there is none or it no longer opens (SECRET_KEY rotated)."""
    if not sealed:
        return ""
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return ""


# --- Claims -------------------------------------------------------------------------------------------------------


def groups_from(claims: dict[str, Any]) -> list[str]:
    """The groups claim as a sorted list of names; a provider sending a single string means one group."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise SsoRefused("malformed_groups", f"The provider's {settings.OIDC_GROUPS_CLAIM!r} claim is not a list.")
    return sorted({str(item) for item in value if str(item)})


def verify_id_token(token: str, key: Any, *, nonce: str | None) -> dict[str, Any]:
    """Signature (the provider's JWKS key, the configured algorithm only), issuer, audience (our client id),
    expiry and nonce. mozilla-django-oidc checks only the signature and nonce (its expiry error escapes as a 500),
    so this replaces its check."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[settings.OIDC_RP_SIGN_ALGO],
            audience=settings.OIDC_RP_CLIENT_ID,
            issuer=settings.OIDC_ISSUER,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            leeway=30,
        )
    except jwt.ExpiredSignatureError as exc:
        raise SsoRefused("token_expired", "The provider's sign-in token has expired. Try again.") from exc
    except jwt.InvalidAudienceError as exc:
        raise SsoRefused("wrong_audience", "The provider's sign-in token was issued to another application.") from exc
    except jwt.InvalidIssuerError as exc:
        raise SsoRefused("wrong_issuer", "The sign-in token comes from another provider.") from exc
    except jwt.InvalidSignatureError as exc:
        raise SsoRefused("bad_signature", "The provider's sign-in token has an invalid signature.") from exc
    except jwt.InvalidTokenError as exc:
        raise SsoRefused("invalid_token", f"The provider's sign-in token is invalid: {exc}.") from exc
    if nonce is None or claims.get("nonce") != nonce:
        raise SsoRefused("wrong_nonce", "The provider's sign-in token does not answer this sign-in (nonce).")
    return claims


# --- The authentication backend -----------------------------------------------------------------------------------


class SsoBackend(OIDCAuthenticationBackend):
    """Answers the provider's callback only (the code flow with PKCE and a nonce). Users are found by
    ``(iss, sub)`` and created on first sign-in by core.actions.do_sso_sign_in, which also follows their groups."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The library reads its endpoints at construction; ours may come from discovery, so they are read at
        # authenticate() instead, and constructing the backend never needs the network.
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.OIDC_OP_TOKEN_ENDPOINT = ""
        self.OIDC_OP_USER_ENDPOINT = ""
        self.OIDC_OP_JWKS_ENDPOINT = ""
        self.UserModel = get_user_model()
        self.token_info: dict[str, Any] = {}

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> Any:
        if request is None or not sso_enabled() or "code" not in request.GET or "state" not in request.GET:
            return None
        try:
            config = provider_config()
            self.OIDC_OP_TOKEN_ENDPOINT = config.token_endpoint
            self.OIDC_OP_USER_ENDPOINT = config.userinfo_endpoint
            self.OIDC_OP_JWKS_ENDPOINT = config.jwks_uri
            user = super().authenticate(request, **kwargs)
        except SsoRefused as refusal:
            return refuse(request, refusal)
        except SuspiciousOperation as exc:
            return refuse(request, SsoRefused("invalid_token", f"The provider's answer was refused: {exc}"))
        except (requests.RequestException, ValueError, ImproperlyConfigured) as exc:
            log.warning("single sign-on: the provider could not be used: %s", exc)
            return refuse(request, SsoRefused("provider_error", "The identity provider could not be reached."))
        return user

    def get_user(self, user_id: Any) -> Any:
        # The library's get_user returns inactive users too, which would keep a deactivated person's browser session
        # alive; Django's ModelBackend refuses them, as we must.
        user = super().get_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    def get_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.token_info = super().get_token(payload)
        return self.token_info

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        if not token:
            raise SsoRefused("invalid_token", "The provider sent no sign-in token.")
        try:
            key = self.retrieve_matching_jwk(token)
        except (jwt.InvalidTokenError, KeyError, SuspiciousOperation) as exc:
            # No key of the provider's JWKS carries the token's kid and algorithm.
            raise SsoRefused(
                "bad_signature", "The sign-in token is not signed by a key the provider publishes."
            ) from exc
        return verify_id_token(token, key, nonce=kwargs.get("nonce"))

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if str(userinfo.get("sub", "")) != str(payload["sub"]):
            raise SsoRefused("userinfo_mismatch", "The provider's user information names someone else.")
        # The verified ID token wins over the user information for every claim it carries.
        claims = {**userinfo, **payload}
        try:
            return actions.do_sso_sign_in(
                issuer=settings.OIDC_ISSUER,
                subject=str(payload["sub"]),
                claims=claims,
                groups=groups_from(claims),
                refresh_token_sealed=seal(str(self.token_info.get("refresh_token", ""))),
            )
        except actions.SsoSignInRefused as exc:
            raise SsoRefused(exc.reason, exc.message, subject=str(payload["sub"])) from exc


def refuse(request: HttpRequest, refusal: SsoRefused) -> None:
    """Record the refusal and leave its message for the sign-in page; the sign-in then fails."""
    actions.do_record_sso_refusal(
        reason=refusal.reason,
        subject=refusal.subject,
        remote_addr=str(request.META.get("REMOTE_ADDR", "")),
    )
    request.sso_refusal = refusal.message  # type: ignore[attr-defined]
    return None


class SsoSessionRefresh(SessionRefresh):
    """mozilla-django-oidc's silent re-authentication (prompt=none) of browser sessions, for sessions that signed in
    through the provider only: a password session has nothing to refresh at the provider."""

    def is_refreshable_url(self, request: HttpRequest) -> bool:
        return (
            sso_enabled()
            and "oidc_id_token_expiration" in request.session
            and not request.path.startswith("/api/")
            and bool(super().is_refreshable_url(request))
        )

    def process_request(self, request: HttpRequest) -> Any:
        if not self.is_refreshable_url(request):
            return None
        try:
            self.OIDC_OP_AUTHORIZATION_ENDPOINT = provider_config().authorization_endpoint
        except (requests.RequestException, ValueError, ImproperlyConfigured):
            return None  # the provider is unreachable: the session stays until it can be asked again
        return super().process_request(request)


# --- The periodic re-check ----------------------------------------------------------------------------------------


def recheck_identity(identity_id: int) -> str:
    """Ask the provider whether it still vouches for one user, by spending their refresh token.

    What the provider answers decides: 200 keeps the user (the rotated refresh token and the groups the user info
    now asserts are stored, memberships follow); 400 ``invalid_grant`` (revoked or expired, as Keycloak, Entra and
    Okta answer for a disabled user, and django-oauth-toolkit once the user's tokens are revoked) or a user info
    endpoint that turns the new access token away deactivates the user. Anything else (the provider down, our client
    refused) changes nothing: an outage must not lock everyone out. Returns what happened, for the log.
    """
    identity = ExternalIdentity.objects.select_related("user").filter(pk=identity_id).first()
    if identity is None or not identity.user.is_active:
        return "skipped"
    refresh_token = unseal(identity.refresh_token_sealed)
    if not refresh_token:
        return "no_refresh_token"
    config = provider_config()
    try:
        response = requests.post(
            config.token_endpoint,
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": settings.OIDC_RP_CLIENT_ID,
                "client_secret": settings.OIDC_RP_CLIENT_SECRET,
            },
            timeout=settings.OIDC_TIMEOUT,
        )
    except requests.RequestException as exc:
        log.warning("single sign-on re-check of %s: provider unreachable: %s", identity, exc)
        return "provider_unreachable"
    if response.status_code == 400 and _oauth_error(response) == "invalid_grant":
        actions.do_deactivate_user(identity.user, reason="refresh_refused")
        return "deactivated"
    if response.status_code != 200:
        log.warning("single sign-on re-check of %s: provider answered %s", identity, response.status_code)
        return "provider_error"
    tokens = response.json()
    info = requests.get(
        config.userinfo_endpoint,
        headers={"Authorization": f"Bearer {tokens.get('access_token', '')}"},
        timeout=settings.OIDC_TIMEOUT,
    )
    if info.status_code in (401, 403):
        actions.do_deactivate_user(identity.user, reason="userinfo_refused")
        return "deactivated"
    if info.status_code != 200 or str(info.json().get("sub", "")) != identity.subject:
        return "provider_error"
    try:
        groups = groups_from(info.json())
    except SsoRefused:
        return "provider_error"
    actions.do_sso_recheck_passed(
        identity, groups=groups, refresh_token_sealed=seal(str(tokens.get("refresh_token", "")) or refresh_token)
    )
    return "kept"


def _oauth_error(response: requests.Response) -> str:
    try:
        return str(response.json().get("error", ""))
    except ValueError:
        return ""
