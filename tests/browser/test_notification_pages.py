"""The notification pages in a real browser: a user chooses what is emailed to them; a reviewer receives the email
for a release awaiting her role (through a real SMTP server), follows its link and signs on the page it opens."""

from __future__ import annotations

import re
from typing import Any

import pytest

from core import mailer
from core.choices import AuditEventType
from core.models import AuditEvent, NotificationPreference
from governance import actions
from tests.conftest import PASSWORD
from tests.governance.factories import ReleaseWorld
from tests.mail_fixtures import Mailbox, body_of

pytestmark = pytest.mark.browser

PASSPHRASE = "a long signing passphrase"


def text_of(locator: Any) -> str:
    return " ".join(locator.inner_text().split())


def test_a_user_chooses_what_is_emailed_to_them(ui: Any, cast: Any, rw: ReleaseWorld) -> None:
    ui.login("erin-engineer", PASSWORD)
    with ui.page.expect_navigation():
        ui.page.click(".account__links a:text-is('Notifications')")
    with ui.page.expect_navigation():
        ui.page.click("a:text-is('Choose what is emailed to you')")
    assert ui.page.url == f"{ui.base_url}/notifications/preferences/"
    approved = ui.page.locator("tr", has=ui.page.locator("th:has-text('Your release is approved')"))
    assert approved.locator("input[value=immediate]").is_checked()
    approved.locator("input[value=digest]").check()
    deployed = ui.page.locator("tr", has=ui.page.locator("th:has-text('Your release is deployed')"))
    deployed.locator("input[value=off]").check()
    ui.shot("notification-preferences-choosing")
    with ui.page.expect_navigation():
        ui.page.click("#preferences-form button[type=submit]")
    assert "Your notification preferences are saved." in ui.page.inner_text("body")
    approved = ui.page.locator("tr", has=ui.page.locator("th:has-text('Your release is approved')"))
    assert approved.locator("input[value=digest]").is_checked()
    ui.shot("notification-preferences-saved")
    chosen = dict(NotificationPreference.objects.filter(user=cast.engineer_a).values_list("kind", "delivery"))
    assert chosen["governance.release_approved"] == "digest"
    assert chosen["serving.release_deployed"] == "off"
    event = AuditEvent.objects.get(event_type=AuditEventType.NOTIFICATION_PREFERENCES_SET)
    assert event.after == {"governance.release_approved": "digest", "serving.release_deployed": "off"}
    assert ui.csp_violations() == []


def test_a_reviewer_follows_the_emailed_link_and_signs(
    ui: Any, cast: Any, rw: ReleaseWorld, smtp_server: Mailbox, settings: Any
) -> None:
    # GIVEN a reviewer with a web-signing key, and the release awaiting her role (requested in the fixture)
    settings.SITE_URL = ui.base_url
    legal = cast.reviewers["legal"]
    actions.do_create_web_signing_key(actor=legal, passphrase=PASSPHRASE, name="web signing")
    # WHEN the worker's sweep sends the emails
    mailer.send_due()
    smtp_server.wait_for(2)
    (message,) = smtp_server.to(legal.email)
    assert message["Subject"].startswith(f"[Assay] Release {rw.release.pk} awaits your signature")
    link = re.search(r"Open: (\S+)", body_of(message))
    assert link is not None
    assert link[1] == f"{ui.base_url}/releases/{rw.release.pk}/"
    # THEN, signed in, the link opens the release page, where she signs
    ui.login("rita-legal", PASSWORD)
    ui.go(link[1].removeprefix(ui.base_url))
    assert ui.page.url == link[1]
    assert ui.page.locator("#sign-form").count() == 1
    ui.shot("notification-link-release-page")
    ui.page.check("input[name=decision][value=approve]")
    ui.page.fill("#id_comment", "Read from the email.")
    ui.page.fill("#id_passphrase", PASSPHRASE)
    with ui.page.expect_navigation():
        ui.page.click("#sign-form button[type=submit]")
    assert ui.page.url.endswith(f"/releases/{rw.release.pk}/#signatures")
    assert "Approve" in text_of(ui.page.locator(".table--signatures tr[data-signer='rita-legal']"))
    # Her inbox lists the notification; she marks it read
    ui.go("/notifications/")
    row = ui.page.locator("tr.row--unread", has_text=f"Release {rw.release.pk} awaits your signature")
    assert row.count() == 1
    ui.shot("notification-inbox")
    with ui.page.expect_navigation():
        row.locator("button:text-is('Mark read')").click()
    assert ui.page.locator("tr.row--unread").count() == 0
    assert ui.csp_violations() == []


def test_a_team_admin_adds_a_webhook_and_copies_its_secret(ui: Any, cast: Any, settings: Any) -> None:
    """GIVEN team A's admin WHEN she opens Webhooks from her inbox and adds an endpoint to an internal address THEN
    the refusal is on the URL; WHEN she gives a public one THEN the secret is shown once and the endpoint listed."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["*"]
    ui.login("alice-admin", PASSWORD)
    ui.page.goto(f"{ui.base_url}/notifications/")
    with ui.page.expect_navigation():
        ui.page.click("a:text-is('Webhooks')")
    ui.page.fill("#id_name", "Risk bridge")
    ui.page.fill("#id_url", "https://10.1.2.3/hook")
    ui.page.check("input[value='governance.release_awaiting_role']")
    with ui.page.expect_navigation():
        ui.page.click("#webhook-form button[type=submit]")
    assert "10.1.2.3" in text_of(ui.page.locator("#id_url_error"))
    ui.shot("webhooks-refused-url")
    ui.page.fill("#id_url", "https://hooks.example.com/assay")
    with ui.page.expect_navigation():
        ui.page.click("#webhook-form button[type=submit]")
    secret = text_of(ui.page.locator("#webhook-secret code"))
    assert len(secret) >= 40
    assert "Risk bridge" in text_of(ui.page.locator("#webhook-list"))
    ui.shot("webhooks-created")
