"""Only board members hold signing keys (issue 10): an auditor, a compliance officer who sits on no board and an
engineer are refused a web-signing key and a registered public key, through the API, the web page and the actions,
with a 403, a recorded refusal and nothing written; a reviewer in a board role, or anyone seated on a review board,
is allowed. The keys page offers the form to board members only and tells the others why."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from assay_trust import keys as trust_keys
from core.choices import AuditEventType, BoardRole
from core.models import AuditEvent
from core.refusals import Refusal
from governance import actions
from governance.actions.keys import NOT_BOARD_MEMBER, holds_board_role
from governance.models import SigningKey
from tests.governance.factories import make_board

PASSPHRASE = "correct horse battery staple signing"
REFUSED = ("auditor", "compliance", "engineer_a")


def person(cast: Any, name: str) -> Any:
    return cast.all()[name]


def refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=AuditEventType.SIGNING_KEY_REFUSED).order_by("seq"))


def new_public_key() -> str:
    return trust_keys.public_key_pem(trust_keys.generate_private_key().public_key())


def web_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def web_key_form() -> dict[str, str]:
    return {"name": "web", "passphrase": PASSPHRASE, "passphrase_again": PASSPHRASE}


@pytest.mark.parametrize("name", REFUSED)
def test_the_api_refuses_a_public_key_to_someone_on_no_board(cast: Any, api_as: Any, name: str) -> None:
    user = person(cast, name)
    response = api_as(user).post("/api/v1/signing-keys/", {"public_key": new_public_key()}, format="json")
    assert response.status_code == 403, response.content
    error = response.json()["error"]
    assert error["code"] == "not_board_member"
    assert "Only board members hold signing keys" in error["message"]
    assert not SigningKey.objects.exists()
    [event] = refusals()
    assert event.actor_id == user.pk
    assert event.metadata == {"reason": "not_board_member"}


@pytest.mark.parametrize("name", REFUSED)
def test_the_action_refuses_a_web_signing_key_to_someone_on_no_board(cast: Any, name: str) -> None:
    user = person(cast, name)
    with pytest.raises(Refusal, match=rf"^{re.escape(NOT_BOARD_MEMBER)}$") as raised:
        actions.do_create_web_signing_key(actor=user, passphrase=PASSPHRASE)
    assert (raised.value.reason, raised.value.status) == ("not_board_member", 403)
    assert not SigningKey.objects.exists()
    # The refusal stays although the action's own work rolled back
    assert [event.metadata["reason"] for event in refusals()] == ["not_board_member"]


def test_a_reviewer_in_a_board_role_holds_both_kinds_of_key(cast: Any, api_as: Any) -> None:
    legal = cast.reviewers["legal"]
    response = api_as(legal).post("/api/v1/signing-keys/", {"public_key": new_public_key()}, format="json")
    assert response.status_code == 201, response.content
    web = actions.do_create_web_signing_key(actor=legal, passphrase=PASSPHRASE)
    assert web.owner == legal
    assert SigningKey.objects.filter(owner=legal).count() == 2
    assert not refusals()


def test_a_seat_on_a_review_board_makes_a_board_member(cast: Any) -> None:
    # A compliance officer on no board is refused; seated on the organisation's board, they hold a key.
    assert not holds_board_role(cast.compliance)
    make_board(cast.superuser, None, {BoardRole.COMPLIANCE: cast.compliance})
    assert holds_board_role(cast.compliance)
    key = actions.do_create_web_signing_key(actor=cast.compliance, passphrase=PASSPHRASE)
    assert key.owner == cast.compliance


def test_platform_administrators_on_no_board_hold_no_key(cast: Any) -> None:
    assert not holds_board_role(cast.superuser)
    with pytest.raises(Refusal, match=rf"^{re.escape(NOT_BOARD_MEMBER)}$"):
        actions.do_register_signing_key(actor=cast.superuser, public_key=new_public_key())


def test_a_deactivated_reviewer_is_no_board_member(cast: Any) -> None:
    legal = cast.reviewers["legal"]
    legal.is_active = False
    legal.save()
    assert not holds_board_role(legal)


# --- The keys page ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REFUSED)
def test_the_keys_page_offers_no_key_form_to_someone_on_no_board_and_says_why(cast: Any, name: str) -> None:
    client = web_client(person(cast, name))
    page = client.get("/keys/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="web-key-form"' not in html
    assert 'id="web-key-not-allowed"' in html
    assert "Only board members hold signing keys" in html


@pytest.mark.parametrize("name", REFUSED)
def test_a_key_form_posted_by_someone_on_no_board_is_refused_and_recorded(cast: Any, name: str) -> None:
    user = person(cast, name)
    response = web_client(user).post("/keys/", web_key_form())
    assert response.status_code == 403
    html = response.content.decode()
    assert 'id="web-key-refused"' in html
    assert 'id="web-key-form"' not in html
    assert not SigningKey.objects.exists()
    [event] = refusals()
    assert (event.actor_id, event.metadata) == (user.pk, {"reason": "not_board_member"})


def test_a_reviewer_is_offered_the_form_and_makes_a_web_signing_key(cast: Any) -> None:
    legal = cast.reviewers["legal"]
    client = web_client(legal)
    html = client.get("/keys/").content.decode()
    assert 'id="web-key-form"' in html
    assert 'id="web-key-not-allowed"' not in html
    response = client.post("/keys/", web_key_form())
    assert response.status_code == 302
    assert SigningKey.objects.get(owner=legal).kind == "server"
    assert not refusals()


def test_the_message_names_the_rule() -> None:
    assert NOT_BOARD_MEMBER.startswith("Only board members hold signing keys")
