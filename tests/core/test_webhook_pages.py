"""The webhooks page (core.webhook_views), as a team admin and a platform administrator use it: the endpoints they
manage, a new one with its secret shown once, refusals on the field they name, deletion. GIVEN / WHEN / THEN."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from core.choices import AuditEventType
from core.models import AuditEvent, WebhookEndpoint

pytestmark = pytest.mark.django_db

KIND = "governance.release_awaiting_role"
URL = "/notifications/webhooks/"


@pytest.fixture(autouse=True)
def _allowed(settings: Any) -> None:
    settings.WEBHOOK_ALLOWED_HOSTS = ["*"]


def as_user(user: Any, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def body(name: str = "Risk bridge", url: str = "https://hooks.example.com/assay", team: str = "team-a") -> dict:
    return {"team": team, "name": name, "url": url, "kinds": [KIND]}


def test_a_team_admin_creates_an_endpoint_and_sees_its_secret_once(cast: Any) -> None:
    # GIVEN team A's admin on the page: she may create for team A only, not for the organisation
    client = as_user(cast.admin_a)
    page = client.get(URL)
    assert page.status_code == 200
    assert b'<option value="team-a">Team A</option>' in page.content
    assert b"The organisation</option>" not in page.content
    # WHEN she creates one THEN 201 shows the secret, not cached; the endpoint and its event exist
    created = client.post(URL, body())
    assert created.status_code == 201, created.content
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.team, endpoint.name, endpoint.kinds) == (cast.team_a, "Risk bridge", [KIND])
    assert endpoint.secret.encode() in created.content
    assert "no-store" in created["Cache-Control"]
    assert AuditEvent.objects.filter(event_type=AuditEventType.WEBHOOK_CREATED, target_id=str(endpoint.pk)).exists()
    # AND the list shows it afterwards without the secret
    again = client.get(URL)
    assert b"Risk bridge" in again.content
    assert endpoint.secret.encode() not in again.content


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"url": "https://169.254.169.254/latest"}, "url", "metadata"),
        ({"url": "https://10.0.0.8/hook"}, "url", "10.0.0.8"),
        ({"url": "ftp://hooks.example.com/x"}, "url", "The scheme 'ftp' is not allowed"),
        ({"name": "x" * 200}, "name", "at most 128 characters"),
        ({"team": "team-b"}, "team", "Select a valid choice."),
        ({"kinds": ["no.such_kind"]}, "kinds", "Select a valid choice."),
    ],
)
def test_refusals_name_the_field_and_write_nothing(cast: Any, changes: dict, field: str, message: str) -> None:
    response = as_user(cast.admin_a).post(URL, {**body(), **changes})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert not WebhookEndpoint.objects.exists()
    assert not AuditEvent.objects.filter(event_type=AuditEventType.WEBHOOK_CREATED).exists()


def test_only_admins_and_platform_administrators_reach_the_page(cast: Any) -> None:
    # engineers, compliance officers and auditors manage no webhooks: 403 and no form
    for person in (cast.engineer_a, cast.compliance, cast.auditor):
        assert as_user(person).get(URL).status_code == 403
        assert as_user(person).post(URL, body()).status_code == 403
    assert not WebhookEndpoint.objects.exists()
    # the platform administrator may create the organisation's
    response = as_user(cast.superuser).post(URL, body(team="*"))
    assert response.status_code == 201, response.content
    assert WebhookEndpoint.objects.get().team is None


def test_deleting_is_for_the_owner_s_admins_and_needs_the_csrf_token(cast: Any) -> None:
    as_user(cast.admin_a).post(URL, body())
    endpoint = WebhookEndpoint.objects.get()
    delete = f"{URL}{endpoint.pk}/delete/"
    # another team's engineer: 404, as if it did not exist; a form without its token: 403
    assert as_user(cast.engineer_b).post(delete).status_code == 404
    assert as_user(cast.admin_a, csrf=True).post(delete).status_code == 403
    assert as_user(cast.admin_a, csrf=True).post(URL, body(name="Other")).status_code == 403
    assert WebhookEndpoint.objects.count() == 1
    # WHEN its admin deletes it THEN it is gone and the deletion is recorded
    response = as_user(cast.admin_a).post(delete)
    assert response.status_code == 302
    assert not WebhookEndpoint.objects.exists()
    assert AuditEvent.objects.filter(event_type=AuditEventType.WEBHOOK_DELETED).count() == 1
