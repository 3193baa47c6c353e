"""The notification layer (core.notifications, core.mailer, core.webhooks): raising, preferences, idempotency,
after-commit enqueueing, email through a real SMTP server, retries, the digest, and signed webhooks to a real HTTP
receiver (and the URLs they may never reach)."""

from __future__ import annotations

import hashlib
import hmac
import socket
import time
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from assay.celery import app
from core import actions, mailer, notifications, webhooks
from core.choices import AuditEventType, NotificationDelivery, NotificationStatus, WebhookStatus
from core.models import AuditEvent, Notification, NotificationPreference, WebhookDelivery, WebhookEndpoint
from core.notifications import Kind, notify, register_kind
from tests.mail_fixtures import Mailbox, Receiver, body_of, free_port

PING = register_kind(Kind("tests.ping", "A test ping", "Raised by the tests."))
QUIET = register_kind(
    Kind(
        "tests.quiet", "A quiet test kind", "Digest by default, never to webhooks.", NotificationDelivery.DIGEST, False
    )
)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[Any]]]:
    """The tasks asked of the broker (recorded instead of sent)."""
    calls: list[tuple[str, list[Any]]] = []
    monkeypatch.setattr(notifications.app, "send_task", lambda name, args: calls.append((name, args)))
    return calls


def ping(recipients: list[Any], *, key: str = "ping:1", kind: str = PING.name, team: Any = None) -> list[Any]:
    return notify(
        kind,
        recipients=recipients,
        subject="Release 7 awaits your signature",
        body="Please read the evidence and sign.",
        link="/governance/releases/7/",
        dedupe_key=key,
        team=team,
        payload={"release": 7},
    )


# --- Raising ------------------------------------------------------------------------------------------------------


def test_each_recipient_gets_the_delivery_they_chose(cast: Any, sent: Any) -> None:
    # GIVEN one reviewer who wants a digest, one who turned the kind off, an inactive user and a service account
    legal, risk, privacy = cast.reviewers["legal"], cast.reviewers["risk"], cast.reviewers["privacy"]
    actions.do_set_notification_preferences(actor=risk, preferences={PING.name: "digest"})
    actions.do_set_notification_preferences(actor=privacy, preferences={PING.name: "off"})
    cast.auditor.is_active = False
    cast.auditor.save()
    robot = actions.do_create_service_account(cast.team_a, actor=cast.admin_a, username="ci-bot", role="engineer")
    # WHEN a notification is raised to all of them
    with transaction.atomic():
        written = ping([legal, risk, privacy, cast.auditor, robot.user])
    # THEN the inactive user and the service account get nothing; the others get what they chose
    by_user = {row.recipient_id: row for row in written}
    assert set(by_user) == {legal.pk, risk.pk, privacy.pk}
    assert (by_user[legal.pk].delivery, by_user[legal.pk].status) == ("immediate", "pending")
    assert (by_user[risk.pk].delivery, by_user[risk.pk].status) == ("digest", "pending")
    assert (by_user[privacy.pk].delivery, by_user[privacy.pk].status) == ("off", "skipped")


def test_a_repeated_dedupe_key_writes_nothing_more(
    cast: Any, sent: Any, django_capture_on_commit_callbacks: Any
) -> None:
    legal = cast.reviewers["legal"]
    with django_capture_on_commit_callbacks(execute=True):
        first = ping([legal])
    with django_capture_on_commit_callbacks(execute=True):
        again = ping([legal])
    assert len(first) == 1
    assert again == []
    assert Notification.objects.filter(recipient=legal).count() == 1
    assert sent == [(notifications.EMAIL_TASK, [first[0].pk])]


def test_nothing_is_enqueued_before_commit_nor_after_a_rollback(
    cast: Any, sent: Any, django_capture_on_commit_callbacks: Any
) -> None:
    legal = cast.reviewers["legal"]

    # GIVEN a change that raises a notification and then fails
    def failing_change() -> None:
        with transaction.atomic():
            ping([legal])
            raise RuntimeError("the change failed")

    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(RuntimeError, match="the change failed"),
    ):
        failing_change()
    # THEN nothing is written and nothing asked of the worker
    assert callbacks == []
    assert not Notification.objects.exists()
    # WHEN a change commits THEN the task is asked for only when the commit runs its callbacks
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        (row,) = ping([legal])
    assert sent == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert sent == [(notifications.EMAIL_TASK, [row.pk])]


def test_notify_refuses_an_unknown_kind(cast: Any) -> None:
    with pytest.raises(notifications.UnknownKind, match=r"No notification kind 'tests\.nope'"):
        ping([cast.engineer_a], kind="tests.nope")


# --- Email ----------------------------------------------------------------------------------------------------------


def test_the_email_arrives_with_subject_recipient_and_an_absolute_link(
    cast: Any, smtp_server: Mailbox, sent: Any
) -> None:
    legal = cast.reviewers["legal"]
    with transaction.atomic():
        (row,) = ping([legal])
    assert mailer.send_notification(row.pk)
    ((recipients, message),) = smtp_server.wait_for(1)
    assert recipients == [legal.email]
    assert message["Subject"] == "[Assay] Release 7 awaits your signature"
    assert message["To"] == legal.email
    assert "Open: https://assay.example.org/governance/releases/7/" in body_of(message)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.sent_at is not None) == ("sent", 1, True)
    # A repeat of the task (a broker redelivery) or a sweep sends nothing more
    assert not mailer.send_notification(row.pk)
    assert mailer.send_due() == (0, 0)
    time.sleep(0.2)
    assert len(smtp_server.received) == 1


def test_an_smtp_server_that_is_down_is_retried_then_the_notification_fails(
    cast: Any, settings: Any, sent: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    with transaction.atomic():
        (row,) = ping([cast.reviewers["legal"]])
    # WHEN the first send fails THEN it is recorded and waits for its backoff (the sweep does not retry it at once)
    assert not mailer.send_notification(row.pk)
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("pending", 1)
    assert "ConnectionRefusedError" in row.last_error
    assert row.next_attempt_at is not None
    assert mailer.send_due() == (0, 0)
    # WHEN the backoff has passed, twice more THEN the notification is failed after the third attempt
    settings.NOTIFICATION_BACKOFF_SECONDS = 0
    Notification.objects.filter(pk=row.pk).update(next_attempt_at=None)
    assert mailer.send_due() == (0, 1)
    assert mailer.send_due() == (0, 1)
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 3)
    assert mailer.send_due() == (0, 0)


def test_the_daily_digest_sends_one_mail_per_user(cast: Any, smtp_server: Mailbox, sent: Any) -> None:
    risk = cast.reviewers["risk"]
    actions.do_set_notification_preferences(actor=risk, preferences={PING.name: "digest"})
    with transaction.atomic():
        ping([risk], key="ping:1")
        ping([risk], key="ping:2")
        notify(QUIET.name, recipients=[risk], subject="Quiet news", body="Low key.", link="", dedupe_key="quiet:1")
    # Digest rows are not emailed one by one
    assert mailer.send_due() == (0, 0)
    assert mailer.send_digests() == 1
    ((recipients, message),) = smtp_server.wait_for(1)
    assert recipients == [risk.email]
    assert message["Subject"] == "[Assay] Your daily digest: 3 notifications"
    assert body_of(message).count("Release 7 awaits your signature") == 2
    assert "Quiet news" in body_of(message)
    assert set(Notification.objects.filter(recipient=risk).values_list("status", flat=True)) == {"digested"}
    assert mailer.send_digests() == 0


def test_preferences_are_set_through_the_action_with_an_event(cast: Any) -> None:
    user = cast.engineer_a
    settings_after = actions.do_set_notification_preferences(actor=user, preferences={PING.name: "off"})
    assert settings_after[PING.name] == "off"
    assert settings_after[QUIET.name] == "digest"  # the kind's default
    event = AuditEvent.objects.get(event_type=AuditEventType.NOTIFICATION_PREFERENCES_SET)
    assert (event.actor_id, event.after, event.before) == (user.pk, {PING.name: "off"}, {PING.name: "immediate"})
    # The same again changes nothing and records nothing
    actions.do_set_notification_preferences(actor=user, preferences={PING.name: "off"})
    assert AuditEvent.objects.filter(event_type=AuditEventType.NOTIFICATION_PREFERENCES_SET).count() == 1
    with pytest.raises(ValidationError, match="No notification kind 'nope'"):
        actions.do_set_notification_preferences(actor=user, preferences={"nope": "off"})
    with pytest.raises(ValidationError, match="'weekly' is not one of"):
        actions.do_set_notification_preferences(actor=user, preferences={PING.name: "weekly"})
    assert NotificationPreference.objects.get(user=user).delivery == "off"


# --- Webhooks -------------------------------------------------------------------------------------------------------


@pytest.fixture
def loopback_webhooks(settings: Any) -> None:
    """The test-only override that lets webhooks reach the local receiver (production refuses loopback)."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_ALLOW_LOOPBACK = True


def test_a_signed_webhook_reaches_the_receiver(
    cast: Any, loopback_webhooks: None, webhook_receiver: Receiver, sent: Any
) -> None:
    # GIVEN team A's admin subscribes an endpoint to the kind
    endpoint, secret = actions.do_create_webhook(
        actor=cast.admin_a, team=cast.team_a, name="chatops", url=webhook_receiver.url, kinds=[PING.name]
    )
    created = AuditEvent.objects.get(event_type=AuditEventType.WEBHOOK_CREATED)
    assert secret not in str([created.after, created.metadata])
    # WHEN a notification of that kind is raised for team A (twice: one delivery)
    with transaction.atomic():
        ping([cast.reviewers["legal"]], team=cast.team_a)
        ping([cast.reviewers["legal"]], team=cast.team_a)
    (delivery,) = WebhookDelivery.objects.all()
    assert webhooks.send_delivery(delivery.pk)
    # THEN the receiver got one POST whose HMAC verifies with the secret, naming the delivery and kind
    ((headers, body),) = webhook_receiver.requests
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-assay-signature"], expected)
    assert headers["x-assay-delivery"] == str(delivery.uid)
    assert headers["x-assay-kind"] == PING.name
    payload = webhook_receiver.json()
    assert payload["delivery"] == str(delivery.uid)
    assert abs(payload["timestamp"] - time.time()) < 60  # signed with the body: a replay shows its age
    assert payload["kind"] == PING.name
    assert payload["data"] == {"release": 7}
    assert payload["team"] == "team-a"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_status, delivery.attempts) == ("sent", 200, 1)
    # A body changed in transit no longer verifies
    assert not hmac.compare_digest(
        expected, "sha256=" + hmac.new(secret.encode(), body.replace(b"7", b"8"), hashlib.sha256).hexdigest()
    )
    # Sent once: a repeat does nothing
    assert not webhooks.send_delivery(delivery.pk)
    assert len(webhook_receiver.requests) == 1
    # Team B's notifications and kinds it does not subscribe to make no delivery
    with transaction.atomic():
        ping([cast.engineer_b], key="ping:b", team=cast.team_b)
        notify(QUIET.name, recipients=[], subject="q", body="q", link="", dedupe_key="q", team=cast.team_a)
    assert WebhookDelivery.objects.count() == 1
    actions.do_delete_webhook(endpoint, actor=cast.admin_a)
    assert AuditEvent.objects.filter(event_type=AuditEventType.WEBHOOK_DELETED).count() == 1
    assert not WebhookEndpoint.objects.exists()


def test_a_redirect_is_not_followed_and_the_delivery_is_retried_then_failed(
    cast: Any, loopback_webhooks: None, webhook_receiver: Receiver, settings: Any, sent: Any
) -> None:
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    settings.NOTIFICATION_BACKOFF_SECONDS = 0
    webhook_receiver.status = 302
    actions.do_create_webhook(
        actor=cast.admin_a, team=cast.team_a, name="redirecting", url=webhook_receiver.url, kinds=[PING.name]
    )
    with transaction.atomic():
        ping([], team=cast.team_a)
    (delivery,) = WebhookDelivery.objects.all()
    assert not webhooks.send_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_status, delivery.attempts) == ("pending", 302, 1)
    assert "redirects are not followed" in delivery.last_error
    assert webhooks.send_due() == (0, 1)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookStatus.FAILED, 2)
    # The receiver saw the two POSTs only: never a request to the redirect's target
    assert len(webhook_receiver.requests) == 2


def test_production_refuses_the_loopback_receiver_at_save_and_at_send(
    cast: Any, settings: Any, webhook_receiver: Receiver, sent: Any
) -> None:
    # Production's settings: any public host, loopback never
    settings.WEBHOOK_ALLOWED_HOSTS = ["*"]
    with pytest.raises(ValidationError, match=r"127\.0\.0\.1 is not a public address"):
        actions.do_create_webhook(
            actor=cast.admin_a, team=cast.team_a, name="local", url=webhook_receiver.url, kinds=[PING.name]
        )
    # An endpoint saved while loopback was allowed is refused at send time, by address
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    actions.do_create_webhook(
        actor=cast.admin_a, team=cast.team_a, name="local", url=webhook_receiver.url, kinds=[PING.name]
    )
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    with transaction.atomic():
        ping([], team=cast.team_a)
    (delivery,) = WebhookDelivery.objects.all()
    assert not webhooks.send_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert "not a public address" in delivery.last_error
    assert webhook_receiver.requests == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.0.0.7/hook", "not a public address"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata service"),
        ("http://metadata.google.internal/computeMetadata/v1/", "is internal"),
        ("http://[::ffff:127.0.0.1]/hook", "not a public address"),
        ("http://0x7f000001/hook", "not a public address"),
        ("http://localhost:8000/hook", "is internal"),
        ("http://127.0.0.1.nip.io/hook", "is internal"),
        ("ftp://hooks.example.com/hook", "scheme 'ftp' is not allowed"),
        ("https://user:pw@hooks.example.com/hook", "must not contain credentials"),
    ],
)
def test_hostile_webhook_urls_are_refused_at_save(cast: Any, settings: Any, url: str, message: str) -> None:
    settings.WEBHOOK_ALLOWED_HOSTS = ["*"]
    with pytest.raises(ValidationError, match=message):
        actions.do_create_webhook(actor=cast.admin_a, team=cast.team_a, name="bad", url=url, kinds=[PING.name])
    assert not WebhookEndpoint.objects.exists()
    assert not AuditEvent.objects.filter(event_type=AuditEventType.WEBHOOK_CREATED).exists()


def test_the_allow_list_decides_and_empty_refuses_every_host(cast: Any, settings: Any) -> None:
    settings.WEBHOOK_ALLOWED_HOSTS = []
    with pytest.raises(ValidationError, match="Webhooks are off on this server"):
        actions.do_create_webhook(
            actor=cast.admin_a, team=cast.team_a, name="x", url="https://hooks.example.com/a", kinds=[PING.name]
        )
    settings.WEBHOOK_ALLOWED_HOSTS = [".example.com"]
    with pytest.raises(ValidationError, match=r"'hooks\.example\.net' is not in WEBHOOK_ALLOWED_HOSTS"):
        actions.do_create_webhook(
            actor=cast.admin_a, team=cast.team_a, name="x", url="https://hooks.example.net/a", kinds=[PING.name]
        )
    endpoint, _ = actions.do_create_webhook(
        actor=cast.admin_a, team=cast.team_a, name="x", url="https://hooks.example.com/a", kinds=[PING.name]
    )
    assert endpoint.kinds == [PING.name]
    # Kinds kept from webhooks, and unknown kinds, are refused
    with pytest.raises(ValidationError, match=r"Not notification kinds sent to webhooks: tests\.quiet"):
        actions.do_create_webhook(
            actor=cast.admin_a, team=cast.team_a, name="y", url="https://hooks.example.com/b", kinds=[QUIET.name]
        )


def test_a_name_that_resolves_to_an_internal_address_is_refused_when_sending(
    cast: Any, settings: Any, monkeypatch: pytest.MonkeyPatch, sent: Any
) -> None:
    # GIVEN an endpoint whose public name passed at save, and now resolves inside (DNS rebinding)
    settings.WEBHOOK_ALLOWED_HOSTS = [".example.com"]
    actions.do_create_webhook(
        actor=cast.admin_a, team=cast.team_a, name="rebinding", url="https://hooks.example.com/a", kinds=[PING.name]
    )
    resolved: list[str] = []

    def rebound(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        resolved.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", rebound)
    with transaction.atomic():
        ping([], team=cast.team_a)
    (delivery,) = WebhookDelivery.objects.all()
    # WHEN it is sent THEN the resolved address is checked and nothing is connected to
    assert not webhooks.send_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert resolved == ["hooks.example.com"]
    assert "resolves to a refused address" in delivery.last_error
    assert delivery.response_status is None


def test_only_admins_manage_a_teams_webhooks(cast: Any, settings: Any) -> None:
    settings.WEBHOOK_ALLOWED_HOSTS = ["*"]
    url = "https://hooks.example.com/a"
    with pytest.raises(PermissionDenied, match="You may not change team team-a"):
        actions.do_create_webhook(actor=cast.engineer_a, team=cast.team_a, name="x", url=url, kinds=[PING.name])
    with pytest.raises(PermissionDenied, match="Only platform administrators"):
        actions.do_create_webhook(actor=cast.admin_a, team=None, name="x", url=url, kinds=[PING.name])
    endpoint, _ = actions.do_create_webhook(actor=cast.superuser, team=None, name="org", url=url, kinds=[PING.name])
    assert endpoint.team is None
    assert NotificationStatus.PENDING == "pending"


def test_beat_sweeps_and_sends_the_digest_through_registered_tasks(settings: Any) -> None:
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["notification-deliveries"]["task"] == "assay.schedule.notification_deliveries"
    assert schedule["notification-digest"]["task"] == "assay.schedule.notification_digest"
    app.loader.import_default_modules()
    for name in (
        notifications.EMAIL_TASK,
        notifications.WEBHOOK_TASK,
        "assay.schedule.notification_deliveries",
        "assay.schedule.notification_digest",
    ):
        assert name in app.tasks, name
    # The apps' kinds are registered at start-up (their AppConfig.ready)
    names = {kind.name for kind in notifications.kinds()}
    assert {
        "governance.release_awaiting_role",
        "governance.approval_stale",
        "governance.release_approved",
        "governance.release_refused",
        "serving.release_deployed",
    } <= names
