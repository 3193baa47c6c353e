"""The notifications API, tried by every persona of the cast and by an anonymous client (tests/api_cases.py): your
own notifications and preferences; webhook endpoints and deliveries for team admins and platform administrators."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from core import actions
from core.choices import AuditEventType
from core.models import Notification, NotificationPreference, WebhookEndpoint
from core.notifications import Kind, notify, register_kind
from tests.api_cases import PERSONAS, ApiCase, World, matrix, run_case

API_PING = register_kind(Kind("tests.api_ping", "An API test ping"))
EVERYONE = dict.fromkeys(PERSONAS, 200)
WEBHOOK_ADMINS = ("superuser", "admin_a")


@pytest.fixture(autouse=True)
def _webhook_hosts(settings: Any) -> None:
    settings.WEBHOOK_ALLOWED_HOSTS = ["hooks.example.com"]


def _notification(world: World) -> dict[str, Any]:
    with transaction.atomic():
        (row,) = notify(
            API_PING.name,
            recipients=[world.cast.engineer_a],
            subject="For erin only",
            body="Private.",
            link="/releases/1/",
            dedupe_key="api:1",
            team=world.cast.team_a,
        )
    return {"notification": row}


def _endpoint(world: World) -> dict[str, Any]:
    endpoint, _ = actions.do_create_webhook(
        actor=world.cast.admin_a,
        team=world.cast.team_a,
        name="team-a-hook",
        url="https://hooks.example.com/a",
        kinds=[API_PING.name],
    )
    return {"endpoint": endpoint, **_notification(world)}


CASES = [
    ApiCase(
        "notifications.list",
        "get",
        lambda w: "/api/v1/notifications/",
        setup=_notification,
        statuses=EVERYONE,
        listed=lambda w: '"subject":"For erin only"',
        visible_to=("engineer_a",),
    ),
    ApiCase(
        "notifications.detail",
        "get",
        lambda w: f"/api/v1/notifications/{w.notification.pk}/",
        setup=_notification,
        statuses={"engineer_a": 200},
        default=404,
    ),
    ApiCase(
        "notifications.read",
        "post",
        lambda w: f"/api/v1/notifications/{w.notification.pk}/read/",
        setup=_notification,
        statuses={"engineer_a": 200},
        default=404,
        counted=(Notification,),
    ),
    ApiCase("preferences.get", "get", lambda w: "/api/v1/notification-preferences/", statuses=EVERYONE),
    ApiCase(
        "preferences.put",
        "put",
        lambda w: "/api/v1/notification-preferences/",
        data=lambda w: {"preferences": {API_PING.name: "digest"}},
        statuses=EVERYONE,
        event=AuditEventType.NOTIFICATION_PREFERENCES_SET,
        counted=(NotificationPreference,),
    ),
    ApiCase(
        "webhooks.list",
        "get",
        lambda w: "/api/v1/webhooks/",
        setup=_endpoint,
        statuses=EVERYONE,
        listed=lambda w: '"name":"team-a-hook"',
        visible_to=WEBHOOK_ADMINS,
    ),
    ApiCase(
        "webhooks.detail",
        "get",
        lambda w: f"/api/v1/webhooks/{w.endpoint.pk}/",
        setup=_endpoint,
        statuses=dict.fromkeys(WEBHOOK_ADMINS, 200),
        default=404,
    ),
    ApiCase(
        "webhooks.create",
        "post",
        lambda w: "/api/v1/webhooks/",
        data=lambda w: {
            "team": "team-a",
            "name": "new",
            "url": "https://hooks.example.com/n",
            "kinds": [API_PING.name],
        },
        # A team the caller does not administer reads as absent: the field is refused.
        statuses=dict.fromkeys(WEBHOOK_ADMINS, 201),
        default=400,
        event=AuditEventType.WEBHOOK_CREATED,
        counted=(WebhookEndpoint,),
    ),
    ApiCase(
        "webhooks.create_org",
        "post",
        lambda w: "/api/v1/webhooks/",
        data=lambda w: {"name": "org", "url": "https://hooks.example.com/o", "kinds": [API_PING.name]},
        statuses={"superuser": 201},
        default=403,
        event=AuditEventType.WEBHOOK_CREATED,
        counted=(WebhookEndpoint,),
    ),
    ApiCase(
        "webhooks.create_private_url",
        "post",
        lambda w: "/api/v1/webhooks/",
        data=lambda w: {"team": "team-a", "name": "bad", "url": "http://10.0.0.1/", "kinds": [API_PING.name]},
        default=400,
        counted=(WebhookEndpoint,),
    ),
    ApiCase(
        "webhooks.delete",
        "delete",
        lambda w: f"/api/v1/webhooks/{w.endpoint.pk}/",
        setup=_endpoint,
        statuses=dict.fromkeys(WEBHOOK_ADMINS, 204),
        default=404,
        event=AuditEventType.WEBHOOK_DELETED,
        counted=(WebhookEndpoint,),
    ),
    ApiCase(
        "webhook_deliveries.list",
        "get",
        lambda w: "/api/v1/webhook-deliveries/",
        setup=_endpoint,
        statuses=EVERYONE,
        listed=lambda w: f'"kind":"{API_PING.name}"',
        visible_to=WEBHOOK_ADMINS,
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)


def test_the_secret_is_shown_once_and_only_own_notifications_are_marked_read(world: World) -> None:
    client = world.client("admin_a")
    created = client.post(
        "/api/v1/webhooks/",
        {"team": "team-a", "name": "once", "url": "https://hooks.example.com/x", "kinds": [API_PING.name]},
        format="json",
    )
    assert created.status_code == 201
    assert created["Cache-Control"] == "no-store"
    secret = created.json()["secret"]
    assert WebhookEndpoint.objects.get(pk=created.json()["id"]).secret == secret
    shown = client.get(f"/api/v1/webhooks/{created.json()['id']}/").json()
    assert "secret" not in shown
    row = _notification(world)["notification"]
    read = world.client("engineer_a").post(f"/api/v1/notifications/{row.pk}/read/")
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    bad = world.client("engineer_a").put(
        "/api/v1/notification-preferences/", {"preferences": {API_PING.name: "weekly"}}, format="json"
    )
    assert bad.status_code == 400
    assert "preferences" in bad.json()["error"]["message"] or bad.json()["error"].get("fields")
