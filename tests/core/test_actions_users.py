"""Creating people: only platform administrators, one bootstrap superuser, always audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError

from core import actions
from core.choices import AuditEventType
from core.models import AuditEvent

User = get_user_model()


def created_events() -> list[Any]:
    return list(AuditEvent.objects.filter(event_type=AuditEventType.USER_CREATED).order_by("seq"))


@pytest.mark.django_db
def test_the_first_superuser_bootstraps_itself_once():
    """GIVEN an empty installation
    WHEN the first superuser is created with no actor, and then a second one is attempted the same way
    THEN the first is created and audited; the second is refused and nothing is written."""
    root = actions.do_create_user(actor=None, username="root", password="a long passphrase", is_superuser=True)
    assert root.is_superuser
    assert root.check_password("a long passphrase")
    [event] = created_events()
    assert (event.actor_id, event.target_id, event.after["is_superuser"]) == (None, str(root.pk), True)

    with pytest.raises(PermissionDenied, match=r"^Only platform administrators create users\.$"):
        actions.do_create_user(actor=None, username="root2", password="x" * 20, is_superuser=True)
    assert not User.objects.filter(username="root2").exists()
    assert len(created_events()) == 1


def test_only_platform_administrators_create_people(cast):
    """GIVEN a team admin and the platform administrator
    WHEN each creates a person
    THEN the team admin is refused, the administrator's person exists with a usable password and an audit event."""
    with pytest.raises(PermissionDenied, match=r"^Only platform administrators create users\.$"):
        actions.do_create_user(actor=cast.admin_a, username="mallory", password="x" * 20)
    assert not User.objects.filter(username="mallory").exists()

    person = actions.do_create_user(actor=cast.superuser, username="nina", password="x" * 20, email="n@example.com")
    assert not person.is_superuser
    assert person.check_password("x" * 20)
    event = created_events()[-1]
    assert (event.actor_name, event.target_repr, event.after["email"]) == ("root", "nina", "n@example.com")


def test_a_person_without_a_password_cannot_sign_in(cast):
    person = actions.do_create_user(actor=cast.superuser, username="sso-only", password=None)
    assert not person.has_usable_password()


def test_an_invalid_username_is_refused_and_leaves_nothing(cast):
    """GIVEN a username with characters Django refuses
    WHEN it is created
    THEN a ValidationError names the field, and neither the user nor an event is written."""
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError, match="Enter a valid username") as refused:
        actions.do_create_user(actor=cast.superuser, username="no spaces/please", password="x" * 20)
    assert "username" in refused.value.message_dict
    assert not User.objects.filter(username="no spaces/please").exists()
    assert AuditEvent.objects.count() == before
