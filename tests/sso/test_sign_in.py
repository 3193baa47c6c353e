"""Single sign-on against a real provider (django-oauth-toolkit in its own process, tests/sso/conftest.py).

GIVEN group mappings edited by a platform administrator, WHEN a person signs in through the provider, THEN they are
found by (issuer, subject), created on first sign-in, and hold exactly the memberships their groups map to."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from core import actions
from core.choices import AuditEventType, BoardRole, MembershipSource, Role
from core.models import AuditEvent, ExternalIdentity, Membership
from core.sso import unseal
from tests.conftest import make_user
from tests.sso.fixtures import Provider, provider_sign_in

pytestmark = pytest.mark.django_db
User = get_user_model()


def _events(kind: AuditEventType) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=kind).order_by("seq"))


def _map(cast: Any, group: str, team: Any, role: str, board_role: str = "") -> Any:
    return actions.do_create_group_mapping(
        actor=cast.superuser, idp_group=group, team=team, role=role, board_role=board_role
    )


def test_first_sign_in_creates_the_user_with_their_mapped_memberships(cast: Any, sso: Provider) -> None:
    _map(cast, "ml-engineers", cast.team_a, Role.ENGINEER)
    _map(cast, "risk-board", cast.team_b, Role.REVIEWER, BoardRole.values[0])
    _map(cast, "unrelated", cast.team_b, Role.ADMIN)
    sub = sso.user("nina", groups=["ml-engineers", "risk-board"], first_name="Nina")
    client = Client()

    response = provider_sign_in(client, sso, "nina")

    assert response.status_code == 302
    assert response["Location"] == "/"
    identity = ExternalIdentity.objects.select_related("user").get(issuer=sso.issuer, subject=sub)
    user = identity.user
    assert user.username == "nina"
    assert user.email == "nina@idp.example"
    assert not user.has_usable_password()
    assert identity.groups == ["ml-engineers", "risk-board"]
    assert unseal(identity.refresh_token_sealed)  # kept for the re-check, sealed at rest
    assert "nina" not in identity.refresh_token_sealed
    held = set(Membership.objects.filter(user=user).values_list("team__slug", "role", "board_role", "source"))
    assert held == {
        ("team-a", Role.ENGINEER, "", MembershipSource.SSO),
        ("team-b", Role.REVIEWER, BoardRole.values[0], MembershipSource.SSO),
    }
    created = [event for event in _events(AuditEventType.USER_CREATED) if event.target_repr == "nina"]
    assert len(created) == 1
    assert created[0].actor_id is None
    granted = [e for e in _events(AuditEventType.MEMBERSHIP_GRANTED) if e.after and e.after.get("source") == "sso"]
    assert len(granted) == 2
    assert AuditEvent.objects.filter(event_type=AuditEventType.LOGIN_SUCCEEDED, actor_id=user.pk).count() == 1
    # Signed in: the dashboard answers.
    assert client.get("/").status_code == 200


def test_a_group_the_provider_stops_asserting_loses_its_membership_at_the_next_sign_in(
    cast: Any, sso: Provider
) -> None:
    _map(cast, "ml-engineers", cast.team_a, Role.ENGINEER)
    _map(cast, "auditors", cast.team_b, Role.AUDITOR)
    sso.user("omar", groups=["ml-engineers", "auditors"])
    provider_sign_in(Client(), sso, "omar")
    user = User.objects.get(username="omar")
    # A team admin also granted a local membership: the provider does not own it.
    actions.do_grant_membership(cast.team_a, actor=cast.superuser, user=user, role=Role.COMPLIANCE_OFFICER)

    sso.user("omar", groups=["auditors"])
    provider_sign_in(Client(), sso, "omar")

    held = set(Membership.objects.filter(user=user).values_list("team__slug", "role", "source"))
    assert held == {("team-b", Role.AUDITOR, "sso"), ("team-a", Role.COMPLIANCE_OFFICER, "local")}
    revoked = _events(AuditEventType.MEMBERSHIP_REVOKED)
    assert [(e.before or {}).get("role") for e in revoked] == [Role.ENGINEER]
    assert revoked[0].actor_id is None
    # Same person, same user: the second sign-in created nobody.
    assert User.objects.filter(username__startswith="omar").count() == 1


def test_claims_can_never_make_anyone_superuser_or_staff(cast: Any, sso: Provider) -> None:
    _map(cast, "ml-engineers", cast.team_a, Role.ENGINEER)
    sso.user(
        "mallory",
        groups=["ml-engineers", "superuser", "staff"],
        extra_claims={"is_superuser": True, "is_staff": True, "roles": ["admin"]},
    )

    provider_sign_in(Client(), sso, "mallory")

    user = User.objects.get(username="mallory")
    assert not user.is_superuser
    assert not user.is_staff
    assert list(Membership.objects.filter(user=user).values_list("role", flat=True)) == [Role.ENGINEER]


def test_an_existing_local_account_with_the_same_email_is_not_taken_over(cast: Any, sso: Provider) -> None:
    """GIVEN a local account with an address, WHEN someone at the provider with that address signs in for the
    first time, THEN the sign-in is refused (not linked): the provider's word about an address proves nothing
    about who owns the local account."""
    local = make_user("pat-local")
    sso.user("pat", groups=[], email=local.email)
    client = Client()

    response = provider_sign_in(client, sso, "pat")

    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert not ExternalIdentity.objects.exists()
    assert not User.objects.filter(username="pat").exists()
    (refusal,) = _events(AuditEventType.SSO_LOGIN_REFUSED)
    assert refusal.metadata["reason"] == "email_in_use"
    page = client.get("/login/")
    assert "already uses this email address" in page.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_renamed_or_re_addressed_person_stays_the_same_user(cast: Any, sso: Provider) -> None:
    sso.user("quinn", groups=[])
    provider_sign_in(Client(), sso, "quinn")
    sso.user("quinn", groups=[], email="quinn.new@idp.example")

    provider_sign_in(Client(), sso, "quinn")

    (identity,) = ExternalIdentity.objects.select_related("user")
    assert identity.user.email == "quinn.new@idp.example"
    assert User.objects.filter(username="quinn").count() == 1


def test_a_deactivated_user_cannot_sign_in_again(cast: Any, sso: Provider) -> None:
    sso.user("ruth", groups=[])
    provider_sign_in(Client(), sso, "ruth")
    actions.do_deactivate_user(User.objects.get(username="ruth"), reason="test")

    client = Client()
    response = provider_sign_in(client, sso, "ruth")

    assert response["Location"] == "/login/"
    assert _events(AuditEventType.SSO_LOGIN_REFUSED)[-1].metadata["reason"] == "account_deactivated"
    assert "deactivated" in client.get("/login/").content.decode()


def test_an_expired_browser_session_is_re_checked_silently_at_the_provider(cast: Any, sso: Provider) -> None:
    sso.user("sid", groups=[])
    client = Client()
    provider_sign_in(client, sso, "sid")
    session = client.session
    session["oidc_id_token_expiration"] = 0
    session.save()

    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"].startswith(f"{sso.issuer}/authorize/")
    assert "prompt=none" in response["Location"]
    # The API is never redirected, and a password session has nothing to re-check at the provider.
    assert client.get("/api/v1/me/").status_code == 200
    local = Client()
    local.force_login(cast.engineer_a, backend="django.contrib.auth.backends.ModelBackend")
    assert local.get("/").status_code == 200
