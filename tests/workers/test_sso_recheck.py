"""Beat's single sign-on re-check through a real worker: the scheduled entry queues one re-check per SSO user; the
worker asks the real provider, and a user disabled there is deactivated (their API token then refused)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from core import actions
from core.choices import AuditEventType
from core.models import AuditEvent
from tests.sso.fixtures import CLIENT_ID, CLIENT_SECRET, Provider, provider_sign_in
from workers.tasks import scheduled_sso_recheck

User = get_user_model()


def test_beat_rechecks_every_sso_user_in_a_worker(sso: Provider, start_worker: Callable[..., Any]) -> None:
    sso.user("kept", groups=[])
    sso.user("gone", groups=[])
    provider_sign_in(Client(), sso, "kept")
    provider_sign_in(Client(), sso, "gone")
    gone = User.objects.get(username="gone")
    _, secret = actions.do_create_token(actor=gone, name="ci")
    sso.control("deactivate", username="gone", revoke=True)
    start_worker(
        env={"OIDC_ISSUER": sso.issuer, "OIDC_RP_CLIENT_ID": CLIENT_ID, "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET}
    )

    scheduled_sso_recheck()

    deadline = time.monotonic() + 60
    while User.objects.get(username="gone").is_active and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not User.objects.get(username="gone").is_active
    assert User.objects.get(username="kept").is_active
    assert AuditEvent.objects.filter(event_type=AuditEventType.USER_DEACTIVATED).count() == 1
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/me/").status_code == 401
