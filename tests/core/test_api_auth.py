"""Bearer tokens: who gets in, who is refused and how, and where a token's secret may (never) appear."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from core import actions
from core.choices import AuditEventType, TokenKind
from core.models import ApiToken, AuditEvent
from tests.api_cases import assert_challenge, assert_error_shape

User = get_user_model()
ME = "/api/v1/me/"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def token(cast):
    """engineer_a's token: (row, plaintext)."""
    return actions.do_create_token(actor=cast.engineer_a, name="laptop")


def test_a_valid_token_authenticates(cast, token):
    response = bearer(token[1]).get(ME)
    assert response.status_code == 200
    assert response.json()["username"] == "erin-engineer"


def test_no_credentials_is_401_with_a_bearer_challenge_and_no_error_code(db):
    response = APIClient().get(ME)
    assert_challenge(response)
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer", "Malformed Authorization header"),
        ("Bearer a b", "Malformed Authorization header"),
        ("Bearer not-a-token", "Malformed token"),
        ("Bearer assay_short", "Malformed token"),
        ("Bearer assay_ABCDEFGH_" + "x" * 43, "Invalid token"),  # well-formed, unknown key id
        ("Bearer assay_\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9_" + "x" * 43, "Malformed token"),
    ],
)
def test_malformed_and_unknown_tokens_are_401_invalid_token(db, header, message):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(ME)
    assert_challenge(response)
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert message in response.json()["error"]["message"]


def test_a_right_key_id_with_a_wrong_secret_is_invalid(cast, token):
    _, plaintext = token
    forged = plaintext[:-4] + ("AAAA" if not plaintext.endswith("AAAA") else "BBBB")
    response = bearer(forged).get(ME)
    assert_challenge(response)
    assert response.json()["error"]["message"] == "Invalid token."


def test_revoked_token_is_refused(cast, token):
    # GIVEN a token its owner has revoked
    row, plaintext = token
    actions.do_revoke_token(row, actor=cast.engineer_a)
    # WHEN it is presented THEN 401 says it was revoked
    response = bearer(plaintext).get(ME)
    assert_challenge(response)
    assert response.json()["error"]["message"] == "This token has been revoked."


def test_expired_token_is_refused(cast, token):
    # GIVEN a token whose lifetime ended a second ago
    row, plaintext = token
    past = timezone.now() - timedelta(days=10)
    ApiToken.objects.filter(pk=row.pk).update(created_at=past, expires_at=timezone.now() - timedelta(seconds=1))
    # WHEN it is presented THEN 401 says it expired
    response = bearer(plaintext).get(ME)
    assert_challenge(response)
    assert response.json()["error"]["message"] == "This token has expired."


def test_token_of_a_disabled_user_is_refused(cast, token):
    # GIVEN engineer_a's account is disabled after the token was made
    User.objects.filter(pk=cast.engineer_a.pk).update(is_active=False)
    # WHEN the token is presented THEN it is refused
    response = bearer(token[1]).get(ME)
    assert_challenge(response)
    assert response.json()["error"]["message"] == "This account is disabled."


@pytest.mark.parametrize("param", ["token", "access_token", "api_key", "anything"])
@pytest.mark.parametrize("with_header", [False, True])
def test_a_token_in_the_query_string_is_refused_and_says_why(cast, token, param, with_header):
    # GIVEN a client that puts its token in the URL (with or without also sending the header)
    client = bearer(token[1]) if with_header else APIClient()
    # WHEN it calls the API THEN it is refused, told to use the header, and nothing is written
    before = AuditEvent.objects.count()
    response = client.get(f"{ME}?{param}={token[1]}")
    assert_challenge(response)
    assert "Authorization header" in response.json()["error"]["message"]
    assert AuditEvent.objects.count() == before


def test_an_ordinary_query_parameter_named_like_nothing_secret_is_fine(cast, token):
    response = bearer(token[1]).get("/api/v1/teams/?ordering=slug")
    assert response.status_code == 200


def test_the_plaintext_is_stored_nowhere_and_logged_nowhere(cast, caplog):
    # GIVEN every logger at DEBUG
    caplog.set_level(logging.DEBUG)
    # WHEN a token is created through the API, used, used wrongly and revoked
    creator = bearer(actions.do_create_token(actor=cast.engineer_a, name="bootstrap")[1])
    created = creator.post("/api/v1/tokens/", {"name": "ci", "ttl_days": 30}, format="json")
    assert created.status_code == 201
    assert created["Cache-Control"] == "no-store"
    plaintext = created.json()["token"]
    parsed = ApiToken.parse(plaintext)
    assert parsed is not None
    secret = parsed[1]
    assert bearer(plaintext).get(ME).status_code == 200
    assert bearer(plaintext[:-1] + "x").get(ME).status_code == 401
    assert APIClient().get(f"{ME}?token={plaintext}").status_code == 401
    token_id = created.json()["id"]
    assert bearer(plaintext).post(f"/api/v1/tokens/{token_id}/revoke/").status_code == 200
    # THEN the secret is in no column of its row, no audit event, no log record, and no later response
    row = ApiToken.objects.filter(pk=token_id).values().get()
    assert all(secret not in str(value) for value in row.values())
    assert row["digest"] != secret
    assert len(row["digest"]) == 64
    events = list(AuditEvent.objects.values())
    assert len(events) >= 3  # the two tokens created, one revoked
    for event in events:
        assert all(secret not in str(value) for value in event.values()), event
    assert secret not in caplog.text
    listed = creator.get("/api/v1/tokens/")
    assert secret not in listed.content.decode()
    assert "token" not in listed.json()["results"][0]


def test_last_used_at_is_written_at_most_once_a_minute(cast, token):
    row, plaintext = token
    client = bearer(plaintext)
    # GIVEN a token never used: the first use records the time
    assert client.get(ME).status_code == 200
    first = ApiToken.objects.get(pk=row.pk).last_used_at
    assert first is not None
    # WHEN it is used again within the minute THEN no UPDATE is issued and the time stays
    with CaptureQueriesContext(connection) as queries:
        assert client.get(ME).status_code == 200
    assert not [q for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    assert ApiToken.objects.get(pk=row.pk).last_used_at == first
    # WHEN the last use was over a minute ago THEN it moves forward
    ApiToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now() - timedelta(seconds=61))
    assert client.get(ME).status_code == 200
    moved = ApiToken.objects.get(pk=row.pk).last_used_at
    assert moved is not None
    assert moved > first


# --- Token lifetimes ---------------------------------------------------------------------------------------------


def test_default_ttl_comes_from_the_settings(cast, api_as, settings):
    settings.API_TOKEN_DEFAULT_TTL_DAYS = 12
    # A session, not a token: a token-authenticated request cannot mint a token outliving its own.
    client = APIClient()
    client.force_login(cast.engineer_a)
    response = client.post("/api/v1/tokens/", {"name": "default"}, format="json")
    assert response.status_code == 201
    row = ApiToken.objects.get(pk=response.json()["id"])
    assert row.expires_at - row.created_at == timedelta(days=12)


@pytest.mark.parametrize("ttl", [0, -1, 31, "ten", 1.5, None])
def test_ttl_outside_bounds_or_of_the_wrong_type_is_400_and_creates_nothing(cast, api_as, settings, ttl):
    settings.API_TOKEN_MAX_TTL_DAYS = settings.API_TOKEN_DEFAULT_TTL_DAYS = 30
    client = api_as(cast.engineer_a)
    before = (ApiToken.objects.count(), AuditEvent.objects.count())
    response = client.post("/api/v1/tokens/", {"name": "x", "ttl_days": ttl}, format="json")
    assert response.status_code == 400
    assert "ttl_days" in assert_error_shape(response)["fields"]
    assert (ApiToken.objects.count(), AuditEvent.objects.count()) == before


def test_ttl_at_the_maximum_is_accepted(cast, api_as, settings):
    settings.API_TOKEN_MAX_TTL_DAYS = settings.API_TOKEN_DEFAULT_TTL_DAYS = 30
    response = api_as(cast.engineer_a).post("/api/v1/tokens/", {"name": "x", "ttl_days": 30}, format="json")
    assert response.status_code == 201


# --- Service accounts --------------------------------------------------------------------------------------------


def test_service_account_tokens_made_by_the_team_admin_are_of_kind_service(cast, api_as, service_account):
    # GIVEN team A's admin WHEN they create a token for team A's service account
    response = api_as(cast.admin_a).post(
        "/api/v1/tokens/", {"name": "deploy", "service_account": "svc-ci"}, format="json"
    )
    # THEN it belongs to the account, is of kind "service", and works for it
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["owner"]) == (TokenKind.SERVICE, "svc-ci")
    me = bearer(body["token"]).get(ME).json()
    assert (me["username"], me["is_service_account"]) == ("svc-ci", True)
    event = AuditEvent.objects.filter(event_type=AuditEventType.TOKEN_CREATED).latest("seq")
    assert (event.actor_name, event.team_slug) == ("alice-admin", "team-a")
    assert event.after == {**(event.after or {}), "kind": "service", "owner": "svc-ci"}


def test_a_service_account_cannot_create_tokens_even_for_itself(cast, service_client):
    before = (ApiToken.objects.count(), AuditEvent.objects.count())
    for body in ({"name": "mine"}, {"name": "mine", "service_account": "svc-ci"}):
        response = service_client.post("/api/v1/tokens/", body, format="json")
        assert response.status_code == 403
        assert "service account" in assert_error_shape(response)["message"]
    assert (ApiToken.objects.count(), AuditEvent.objects.count()) == before


def test_a_service_account_cannot_sign_in_to_the_web_ui(cast, service_account):
    assert not service_account.user.has_usable_password()
    client = Client()
    client.post("/login/", {"username": "svc-ci", "password": ""})
    assert "_auth_user_id" not in client.session


def test_a_service_account_cannot_grant_itself_more(cast, service_client):
    response = service_client.post(
        "/api/v1/memberships/", {"team": "team-a", "user": "svc-ci", "role": "admin"}, format="json"
    )
    assert response.status_code == 403


# --- Revocation ----------------------------------------------------------------------------------------------------


def test_revoking_twice_writes_one_event_and_keeps_the_first_time(cast, api_as, token):
    row, _ = token
    client = api_as(cast.engineer_a)
    first = client.post(f"/api/v1/tokens/{row.pk}/revoke/")
    events = AuditEvent.objects.count()
    second = client.delete(f"/api/v1/tokens/{row.pk}/")
    assert (first.status_code, second.status_code) == (200, 204)
    assert first.json()["state"] == "revoked"
    assert AuditEvent.objects.count() == events
    revoked_at = ApiToken.objects.get(pk=row.pk).revoked_at
    assert revoked_at is not None
    assert second.status_code == 204
    assert client.get(f"/api/v1/tokens/{row.pk}/").json()["revoked_at"] == first.json()["revoked_at"]


def test_the_revoke_action_itself_refuses_someone_elses_token(cast, token):
    # GIVEN engineer_b, who does not own engineer_a's token, calling the action directly (as a task or form might)
    row, plaintext = token
    before = AuditEvent.objects.count()
    # WHEN they revoke it THEN the action refuses, and the token still works
    with pytest.raises(PermissionDenied, match=r"^You may only revoke your own tokens"):
        actions.do_revoke_token(row, actor=cast.engineer_b)
    assert AuditEvent.objects.count() == before
    assert bearer(plaintext).get(ME).status_code == 200


def test_a_token_cannot_mint_a_token_that_outlives_it(cast):
    """GIVEN a client authenticated by a token that expires in 2 days
    WHEN it creates a new token asking for 90 days
    THEN the new token expires when the presenting one does; a session-authenticated user gets the full 90 days."""
    short, secret = actions.do_create_token(actor=cast.engineer_a, name="short", ttl_days=2)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = client.post("/api/v1/tokens/", {"name": "longer", "ttl_days": 90}, format="json")
    assert response.status_code == 201, response.content
    assert ApiToken.objects.get(pk=response.json()["id"]).expires_at == short.expires_at

    session = APIClient()
    session.force_login(cast.engineer_a)
    response = session.post("/api/v1/tokens/", {"name": "from the browser", "ttl_days": 90}, format="json")
    created = ApiToken.objects.get(pk=response.json()["id"])
    assert created.expires_at - created.created_at == timedelta(days=90)
