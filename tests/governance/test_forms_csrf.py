"""Every governance form refuses a POST without a CSRF token (403), even from a signed-in platform administrator
who may do everything, and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from core.models import AuditEvent
from governance.models import BoardMember
from tests.governance.factories import ReleaseWorld

pytestmark = pytest.mark.django_db


def form_posts(rw: ReleaseWorld) -> list[tuple[str, dict[str, str]]]:
    seat = BoardMember.objects.filter(board=rw.board).first()
    assert seat is not None
    return [
        ("/boards/new/", {"team": "team-a", "slug": "csrf", "name": "CSRF"}),
        (f"/boards/{rw.board.pk}/members/", {"username": "erin-engineer", "board_role": "legal"}),
        (f"/boards/{rw.board.pk}/members/{seat.pk}/remove/", {}),
        ("/new-environment/", {"slug": "csrf", "name": "CSRF", "rank": "1"}),
        ("/policies/new/", {"name": "CSRF", "team": "team-a", "step": "save"}),
        (f"/policies/{rw.policy.pk}/versions/new/", {"min_total": "1", "step": "save"}),
    ]


def test_every_governance_form_refuses_a_post_without_a_csrf_token(rw: Any):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rw.cast.superuser)
    before = AuditEvent.objects.count()
    seats = BoardMember.objects.count()
    for url, data in form_posts(rw):
        response = client.post(url, data)
        assert response.status_code == 403, url
        assert b"cross-site request forgery" in response.content, url
    assert AuditEvent.objects.count() == before
    assert BoardMember.objects.count() == seats


def test_the_forms_carry_a_token(rw: Any):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rw.cast.superuser)
    for url in ("/boards/new/", f"/boards/{rw.board.pk}/", "/new-environment/", "/policies/new/"):
        assert b'name="csrfmiddlewaretoken"' in client.get(url).content, url
