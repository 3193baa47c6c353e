"""End to end through a real worker: a notification raised in a committed transaction is sent by the worker process
to a real SMTP server (core.notifications -> broker -> workers/notifications.py -> core.mailer)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import transaction

from core.models import Notification
from core.notifications import Kind, notify, register_kind
from tests.mail_fixtures import Mailbox, body_of
from tests.workers.conftest import Worker

WORKER_PING = register_kind(Kind("tests.worker_ping", "A worker test ping"))


def test_a_worker_delivers_the_email_after_commit(
    cast: Any, smtp_server: Mailbox, start_worker: Callable[..., Worker]
) -> None:
    # GIVEN a worker whose email settings point at the test's SMTP server
    start_worker(env={"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp_server.port), "SITE_URL": "https://assay.test"})
    reviewer = cast.reviewers["legal"]
    # WHEN a notification is raised in a transaction that commits
    with transaction.atomic():
        (row,) = notify(
            WORKER_PING.name,
            recipients=[reviewer],
            subject="Release 3 awaits your signature",
            body="Sign it.",
            link="/releases/3/",
            dedupe_key="worker:1",
        )
    # THEN the worker sends it and records it sent
    ((recipients, message),) = smtp_server.wait_for(1, timeout=60)
    assert recipients == [reviewer.email]
    assert message["Subject"] == "[Assay] Release 3 awaits your signature"
    assert "Open: https://assay.test/releases/3/" in body_of(message)
    deadline = time.monotonic() + 30
    while Notification.objects.get(pk=row.pk).status != "sent":
        assert time.monotonic() < deadline, "the worker did not record the notification sent"
        time.sleep(0.05)
