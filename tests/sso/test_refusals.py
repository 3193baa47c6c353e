"""Every answer from the provider that does not hold up is refused: recorded as auth.sso_refused, shown on the
sign-in page, and nothing written (no user, no identity, no membership)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client, override_settings

from core import actions
from core.checks import check_single_sign_on
from core.choices import AuditEventType, Role
from core.models import AuditEvent, ExternalIdentity, Membership
from tests.sso.fixtures import Provider, provider_sign_in

pytestmark = pytest.mark.django_db
User = get_user_model()


def _assert_refused(client: Client, response: Any, reason: str, shown: str) -> None:
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    refusal = AuditEvent.objects.filter(event_type=AuditEventType.SSO_LOGIN_REFUSED).get()
    assert refusal.metadata["reason"] == reason
    assert not ExternalIdentity.objects.exists()
    assert not User.objects.filter(username="sam").exists()
    assert not Membership.objects.filter(source="sso").exists()
    assert "_auth_user_id" not in client.session
    assert shown in client.get("/login/").content.decode()


@pytest.mark.parametrize(
    ("mode", "reason", "shown"),
    [
        ("wrong_key", "bad_signature", "invalid signature"),
        ("wrong_audience", "wrong_audience", "issued to another application"),
        ("wrong_nonce", "wrong_nonce", "does not answer this sign-in"),
        ("expired", "token_expired", "has expired"),
    ],
)
def test_a_bad_id_token_is_refused(cast: Any, sso: Provider, mode: str, reason: str, shown: str) -> None:
    actions.do_create_group_mapping(actor=cast.superuser, idp_group="ml", team=cast.team_a, role=Role.ENGINEER)
    sso.user("sam", groups=["ml"])
    sso.misbehave(mode)
    client = Client()

    response = provider_sign_in(client, sso, "sam")

    _assert_refused(client, response, reason, shown)


def test_a_callback_this_browser_did_not_start_is_refused(cast: Any, sso: Provider) -> None:
    client = Client()
    client.get("/oidc/authenticate/")  # a real flow started, with its own state

    response = client.get("/oidc/callback/?code=stolen&state=forged")

    _assert_refused(client, response, "unknown_state", "was not started here")


def test_the_provider_saying_no_is_recorded(cast: Any, sso: Provider) -> None:
    client = Client()
    client.get("/oidc/authenticate/")
    state = next(iter(client.session["oidc_states"]))

    response = client.get(f"/oidc/callback/?error=access_denied&state={state}")

    _assert_refused(client, response, "provider_refused", "access_denied")


def test_an_unreachable_provider_is_a_refusal_not_an_error(cast: Any, sso: Provider, settings: Any) -> None:
    settings.OIDC_OP_TOKEN_ENDPOINT = "http://127.0.0.1:9/token"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{sso.issuer}/authorize/"
    settings.OIDC_OP_USER_ENDPOINT = f"{sso.issuer}/userinfo/"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{sso.issuer}/.well-known/jwks.json"
    sso.user("sam", groups=[])
    client = Client()

    response = provider_sign_in(client, sso, "sam")

    _assert_refused(client, response, "provider_error", "could not be reached")


# --- The sign-in page and password sign-in ----------------------------------------------------------------------


def test_the_sign_in_page_offers_the_provider_when_configured(db: None, sso: Provider, settings: Any) -> None:
    settings.OIDC_PROVIDER_NAME = "Example Corp"
    page = Client().get("/login/").content.decode()
    assert "Sign in with Example Corp" in page
    assert 'name="password"' in page


def test_without_sso_there_is_no_button_and_the_flow_is_404(db: None) -> None:
    assert "Sign in with" not in Client().get("/login/").content.decode()
    assert Client().get("/oidc/authenticate/").status_code == 404
    assert Client().get("/oidc/callback/?code=x&state=y").status_code == 404


def test_local_sign_in_off_hides_the_form_and_refuses_a_posted_password(
    cast: Any, sso: Provider, settings: Any
) -> None:
    settings.LOCAL_SIGN_IN = False
    client = Client()
    page = client.get("/login/").content.decode()
    assert 'name="password"' not in page
    assert "Password sign-in is turned off" in page

    response = client.post("/login/", {"username": cast.engineer_a.username, "password": "whatever-it-is"})

    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


@override_settings(LOCAL_SIGN_IN=False, OIDC_ISSUER="")
def test_check_nobody_can_sign_in() -> None:
    with pytest.raises(Exception, match=r"assay\.E020"):
        call_command("check", fail_level="ERROR")


@pytest.mark.parametrize(
    ("overrides", "check_id"),
    [
        ({"OIDC_RP_CLIENT_ID": "", "OIDC_RP_CLIENT_SECRET": ""}, "assay.E021"),
        ({"PRODUCTION": True}, "assay.E022"),
        ({"OIDC_OP_TOKEN_ENDPOINT": "https://idp.example/token"}, "assay.W020"),
        ({"OIDC_RP_SCOPES": "email profile"}, "assay.E023"),
        ({"OIDC_GROUPS_CLAIM": " "}, "assay.E024"),
    ],
)
def test_sso_configuration_mistakes_are_system_checks(settings: Any, overrides: dict[str, Any], check_id: str) -> None:
    settings.OIDC_ISSUER = "http://idp.example"
    settings.OIDC_RP_CLIENT_ID = "assay"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    for name, value in overrides.items():
        setattr(settings, name, value)
    assert check_id in [message.id for message in check_single_sign_on(None)]


def test_a_complete_sso_configuration_passes_the_checks(settings: Any) -> None:
    settings.OIDC_ISSUER = "https://idp.example"
    settings.OIDC_RP_CLIENT_ID = "assay"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    assert check_single_sign_on(None) == []
