"""Single sign-on in a real browser against the real test provider (tests/sso/conftest.py): a platform admin maps
a group, a new person signs in at the provider's own login form and lands on the dashboard in the team and role
their group maps to; a group removed at the provider goes at the next sign-in; a person disabled at the provider is
deactivated by the periodic check and their API token refused."""

from __future__ import annotations

from typing import Any

import requests
from django.contrib.auth import get_user_model

from core import actions
from core.choices import AuditEventType, Role
from core.models import AuditEvent, ExternalIdentity, Membership
from tests.conftest import PASSWORD
from tests.sso.fixtures import PROVIDER_PASSWORD, RP_CALLBACK
from workers.tasks import recheck_sso_identity

User = get_user_model()


def _sign_in_at_provider(ui: Any, username: str) -> None:
    ui.go("/login/")
    with ui.page.expect_navigation():
        ui.page.click("#sso-sign-in")
    ui.page.wait_for_selector("#provider-sign-in")
    ui.page.fill("#provider-username", username)
    ui.page.fill("#provider-password", PROVIDER_PASSWORD)
    with ui.page.expect_navigation(url=f"{ui.base_url}/"):
        ui.page.click("#provider-sign-in")
    ui.page.wait_for_load_state("networkidle")


def test_sign_in_through_the_provider_lands_in_the_mapped_team(ui: Any, cast: Any, sso: Any, settings: Any) -> None:
    settings.OIDC_PROVIDER_NAME = "Test IdP"
    sso.client(RP_CALLBACK, f"{ui.base_url}/oidc/callback/")
    sso.user("nora", groups=["ml-engineers"], first_name="Nora", last_name="Field")

    # A platform admin maps the provider's group in the browser.
    ui.login(cast.superuser.username, PASSWORD)
    ui.go("/platform/group-mappings/")
    ui.page.fill("#id_idp_group", "ml-engineers")
    ui.page.select_option("#id_team", "team-a")
    ui.page.select_option("#id_role", Role.ENGINEER)
    with ui.page.expect_navigation():
        ui.page.click("#mapping-form button[type=submit]")
    assert "ml-engineers" in ui.page.inner_text("#mappings")
    ui.assert_styled()
    ui.shot("sso-group-mappings")
    ui.page.context.clear_cookies()

    # The sign-in page offers the provider; its own form signs Nora in; she lands on the dashboard.
    ui.go("/login/")
    assert ui.page.inner_text("#sso-sign-in") == "Sign in with Test IdP"
    ui.shot("sso-sign-in-page")
    with ui.page.expect_navigation():
        ui.page.click("#sso-sign-in")
    ui.page.wait_for_selector("#provider-sign-in")
    ui.shot("sso-provider-login")
    ui.page.fill("#provider-username", "nora")
    ui.page.fill("#provider-password", PROVIDER_PASSWORD)
    with ui.page.expect_navigation(url=f"{ui.base_url}/"):
        ui.page.click("#provider-sign-in")
    ui.page.wait_for_load_state("networkidle")
    ui.assert_styled()
    header = ui.page.inner_text(".site-header")
    assert "nora" in header
    assert "Engineer" in header
    ui.shot("sso-dashboard-after-sign-in")
    nora = User.objects.get(username="nora")
    assert set(Membership.objects.filter(user=nora).values_list("team__slug", "role", "source")) == {
        ("team-a", Role.ENGINEER, "sso")
    }
    ui.go("/teams/team-a/")
    ui.shot("sso-team-page-badge")

    # The provider stops asserting the group: the next sign-in removes the membership.
    sso.user("nora", groups=[])
    ui.page.context.clear_cookies()
    _sign_in_at_provider(ui, "nora")
    assert not Membership.objects.filter(user=nora).exists()
    assert "Engineer" not in ui.page.inner_text(".site-header")

    # Disabled at the provider: the periodic check deactivates her, and her API token gets 401.
    _, secret = actions.do_create_token(actor=nora, name="laptop")
    me = f"{ui.base_url}/api/v1/me/"
    assert requests.get(me, headers={"Authorization": f"Bearer {secret}"}, timeout=10).status_code == 200
    sso.control("deactivate", username="nora", revoke=True)
    assert recheck_sso_identity(ExternalIdentity.objects.get(user=nora).pk) == "deactivated"
    assert requests.get(me, headers={"Authorization": f"Bearer {secret}"}, timeout=10).status_code == 401
    assert AuditEvent.objects.filter(event_type=AuditEventType.USER_DEACTIVATED, target_repr="nora").exists()
    # And the browser session is gone with her account.
    ui.go("/")
    assert "/login/" in ui.page.url


def test_a_refused_sign_in_is_explained_on_the_sign_in_page(ui: Any, cast: Any, sso: Any) -> None:
    sso.client(RP_CALLBACK, f"{ui.base_url}/oidc/callback/")
    sso.user("oscar", groups=[])
    sso.misbehave("wrong_audience")

    ui.go("/login/")
    with ui.page.expect_navigation():
        ui.page.click("#sso-sign-in")
    ui.page.wait_for_selector("#provider-sign-in")
    ui.page.fill("#provider-username", "oscar")
    ui.page.fill("#provider-password", PROVIDER_PASSWORD)
    with ui.page.expect_navigation(url=f"{ui.base_url}/login/"):
        ui.page.click("#provider-sign-in")
    ui.page.wait_for_load_state("networkidle")

    assert "issued to another application" in ui.page.inner_text(".messages")
    ui.shot("sso-refused")
    assert not User.objects.filter(username="oscar").exists()
    assert AuditEvent.objects.filter(event_type=AuditEventType.SSO_LOGIN_REFUSED).count() == 1
