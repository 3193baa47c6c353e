"""The periodic re-check: a user disabled at the provider loses API access at the next check.

What django-oauth-toolkit really does (measured here, docs/sso.md): a refresh grant for a user whose ``is_active``
was merely switched off still succeeds, and so does its user info endpoint; the provider refuses (``invalid_grant``)
once the user's tokens are revoked, which is what disabling a user does at Keycloak, Entra ID and Okta. The check
therefore spends the refresh token and deactivates on the provider's refusal, and does nothing on an outage."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from core import actions
from core.choices import AuditEventType, Role
from core.models import AuditEvent, ExternalIdentity, Membership
from core.sso import recheck_identity, unseal
from tests.sso.fixtures import Provider, provider_sign_in
from workers.tasks import recheck_sso_identity

pytestmark = pytest.mark.django_db
User = get_user_model()


def _signed_in(cast: Any, sso: Provider, username: str, groups: list[str]) -> tuple[Any, ExternalIdentity, str]:
    sso.user(username, groups=groups)
    provider_sign_in(Client(), sso, username)
    user = User.objects.get(username=username)
    _, secret = actions.do_create_token(actor=user, name="ci")
    return user, ExternalIdentity.objects.get(user=user), secret


def _api(secret: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return int(client.get("/api/v1/me/").status_code)


def test_api_tokens_keep_working_while_the_provider_vouches(cast: Any, sso: Provider) -> None:
    actions.do_create_group_mapping(actor=cast.superuser, idp_group="ml", team=cast.team_a, role=Role.ENGINEER)
    _user, identity, secret = _signed_in(cast, sso, "tess", ["ml"])
    before = identity.refresh_token_sealed

    assert recheck_sso_identity(identity.pk) == "kept"

    identity.refresh_from_db()
    assert unseal(identity.refresh_token_sealed)
    assert identity.refresh_token_sealed != before
    assert _api(secret) == 200


def test_a_user_disabled_at_the_provider_is_deactivated_and_their_token_refused(cast: Any, sso: Provider) -> None:
    user, identity, secret = _signed_in(cast, sso, "uma", [])
    assert _api(secret) == 200
    sso.control("deactivate", username="uma", revoke=True)

    assert recheck_identity(identity.pk) == "deactivated"

    user.refresh_from_db()
    identity.refresh_from_db()
    assert not user.is_active
    assert identity.refresh_token_sealed == ""
    (event,) = AuditEvent.objects.filter(event_type=AuditEventType.USER_DEACTIVATED)
    assert event.target_repr == "uma"
    assert event.metadata["reason"] == "refresh_refused"
    assert event.actor_id is None
    assert _api(secret) == 401
    # A second check has nothing to do and writes nothing.
    assert recheck_identity(identity.pk) == "skipped"
    assert AuditEvent.objects.filter(event_type=AuditEventType.USER_DEACTIVATED).count() == 1


def test_django_oauth_toolkit_still_refreshes_a_user_only_marked_inactive(cast: Any, sso: Provider) -> None:
    """The real behaviour the check is designed around: is_active=False alone does not stop DOT's refresh grant
    (its validate_refresh_token never looks at the user). Disabling there must revoke the user's tokens."""
    user, identity, secret = _signed_in(cast, sso, "vic", [])
    sso.control("deactivate", username="vic", revoke=False)

    assert recheck_identity(identity.pk) == "kept"
    user.refresh_from_db()
    assert user.is_active
    assert _api(secret) == 200


def test_the_recheck_follows_the_groups_too(cast: Any, sso: Provider) -> None:
    actions.do_create_group_mapping(actor=cast.superuser, idp_group="ml", team=cast.team_a, role=Role.ENGINEER)
    user, identity, _ = _signed_in(cast, sso, "wes", ["ml"])
    sso.user("wes", groups=[])

    assert recheck_identity(identity.pk) == "kept"

    assert not Membership.objects.filter(user=user).exists()
    identity.refresh_from_db()
    assert identity.groups == []


def test_an_unreachable_provider_changes_nothing(cast: Any, sso: Provider, settings: Any) -> None:
    user, identity, secret = _signed_in(cast, sso, "xia", [])
    settings.OIDC_OP_TOKEN_ENDPOINT = "http://127.0.0.1:9/token"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{sso.issuer}/authorize/"
    settings.OIDC_OP_USER_ENDPOINT = f"{sso.issuer}/userinfo/"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{sso.issuer}/.well-known/jwks.json"

    assert recheck_identity(identity.pk) == "provider_unreachable"

    user.refresh_from_db()
    assert user.is_active
    assert _api(secret) == 200
    assert not AuditEvent.objects.filter(event_type=AuditEventType.USER_DEACTIVATED).exists()
