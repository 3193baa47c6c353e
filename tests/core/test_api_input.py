"""Bad input: every refusal names its field, answers in one JSON shape and leaves nothing behind."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import include, path

from core import actions
from core.api.views import not_found_handler, server_error_handler
from core.choices import AuditEventType, BoardRole, Role
from core.models import ApiToken, AuditEvent, Membership, ServiceAccount, Team
from tests.api_cases import assert_error_shape

User = get_user_model()

# This module doubles as a URLconf (see test_unknown_api_paths_answer_json_404): the project's routes plus the
# handlers that assay/urls.py is asked to install.
urlpatterns = [path("", include("assay.urls"))]
handler404 = not_found_handler
handler500 = server_error_handler


def snapshot() -> dict[str, Any]:
    """Everything an API write could leave behind, to compare before and after a refused request."""
    return {
        "teams": list(Team.objects.values_list("slug", "name", "description").order_by("slug")),
        "memberships": Membership.objects.count(),
        "accounts": ServiceAccount.objects.count(),
        "users": list(User.objects.values_list("username", "is_superuser", "is_staff").order_by("username")),
        "tokens": list(ApiToken.objects.values_list("key_id", "kind", "revoked_at").order_by("key_id")),
        "audit": AuditEvent.objects.count(),
    }


def fields_of(response: Any) -> dict[str, Any]:
    return dict(assert_error_shape(response).get("fields", {}))


# --- Mass assignment of server-owned fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "method", "url", "body", "field"),
    [
        ("engineer_a", "patch", "/api/v1/me/", {"is_superuser": True}, "is_superuser"),
        ("engineer_a", "patch", "/api/v1/me/", {"is_staff": True}, "is_staff"),
        ("engineer_a", "patch", "/api/v1/me/", {"memberships": [{"team": "team-a", "role": "admin"}]}, "memberships"),
        ("engineer_a", "patch", "/api/v1/me/", {"username": "root2"}, "username"),
        ("admin_a", "patch", "/api/v1/teams/team-a/", {"slug": "team-z"}, "slug"),
        ("admin_a", "patch", "/api/v1/teams/team-a/", {"created_by": 1}, "created_by"),
        ("admin_a", "patch", "/api/v1/teams/team-a/", {"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
        ("admin_a", "patch", "/api/v1/teams/team-a/", {"id": 999}, "id"),
        ("superuser", "post", "/api/v1/teams/", {"slug": "t", "name": "T", "created_by": 2}, "created_by"),
        ("superuser", "post", "/api/v1/teams/", {"slug": "t", "name": "T", "created_at": "2020-01-01"}, "created_at"),
        (
            "admin_a",
            "post",
            "/api/v1/memberships/",
            {"team": "team-a", "user": "bob-engineer", "role": "engineer", "granted_by": "root"},
            "granted_by",
        ),
        (
            "admin_a",
            "post",
            "/api/v1/memberships/",
            {"team": "team-a", "user": "bob-engineer", "role": "engineer", "created_at": "2020-01-01"},
            "created_at",
        ),
        ("engineer_a", "post", "/api/v1/tokens/", {"name": "t", "kind": "service"}, "kind"),
        ("engineer_a", "post", "/api/v1/tokens/", {"name": "t", "key_id": "AAAAAAAA"}, "key_id"),
        ("engineer_a", "post", "/api/v1/tokens/", {"name": "t", "digest": "0" * 64}, "digest"),
        ("engineer_a", "post", "/api/v1/tokens/", {"name": "t", "revoked_at": None}, "revoked_at"),
        ("engineer_a", "post", "/api/v1/tokens/", {"name": "t", "expires_at": "2999-01-01T00:00:00Z"}, "expires_at"),
        ("engineer_a", "post", "/api/v1/tokens/", {"name": "t", "user": "root"}, "user"),
        (
            "admin_a",
            "post",
            "/api/v1/service-accounts/",
            {"username": "svc-x", "team": "team-a", "created_by": "root"},
            "created_by",
        ),
        ("admin_a", "post", "/api/v1/service-accounts/", {"username": "svc-x", "team": "team-a", "id": 5}, "id"),
    ],
)
def test_server_owned_fields_are_refused_by_name_and_nothing_changes(cast, api_as, persona, method, url, body, field):
    # GIVEN a client allowed to use the endpoint
    client = api_as(cast.all()[persona])
    before = snapshot()
    # WHEN it also sends a field the server owns
    response = getattr(client, method)(url, body, format="json")
    # THEN 400 names that field, and nothing at all was written
    assert response.status_code == 400, response.content
    assert field in fields_of(response)
    assert field in response.json()["error"]["message"]
    assert snapshot() == before


def test_an_empty_patch_of_me_changes_nothing_and_reads_back(cast, api_as):
    response = api_as(cast.engineer_a).patch("/api/v1/me/", {}, format="json")
    assert response.status_code == 200
    assert response.json()["is_superuser"] is False


def test_an_engineer_cannot_make_themselves_admin_through_memberships(cast, api_as):
    client = api_as(cast.engineer_a)
    before = snapshot()
    response = client.post(
        "/api/v1/memberships/", {"team": "team-a", "user": "erin-engineer", "role": "admin"}, format="json"
    )
    assert response.status_code == 403
    assert snapshot() == before


# --- Unknown fields and wrong types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "url", "body", "field"),
    [
        ("superuser", "/api/v1/teams/", {"slug": "t", "name": "T", "colour": "red"}, "colour"),
        ("superuser", "/api/v1/teams/", {"slug": "not a slug!", "name": "T"}, "slug"),
        ("superuser", "/api/v1/teams/", {"slug": ["t"], "name": "T"}, "slug"),
        ("superuser", "/api/v1/teams/", {"slug": "t", "name": "x" * 129}, "name"),
        ("superuser", "/api/v1/teams/", {"slug": "team-a", "name": "Duplicate"}, "slug"),
        ("admin_a", "/api/v1/memberships/", {"team": "team-a", "user": "bob-engineer", "role": "boss"}, "role"),
        ("admin_a", "/api/v1/memberships/", {"team": "team-a", "user": "nobody", "role": "engineer"}, "user"),
        ("admin_a", "/api/v1/memberships/", {"team": 1, "user": "bob-engineer", "role": "engineer"}, "team"),
        ("admin_a", "/api/v1/memberships/", {"team": "no-such-team", "user": "bob-engineer", "role": "x"}, "team"),
        ("admin_a", "/api/v1/service-accounts/", {"username": "ci-bot", "team": "team-a"}, "username"),
        ("admin_a", "/api/v1/service-accounts/", {"username": "svc-x", "team": "team-a", "role": "admin"}, "role"),
        ("admin_a", "/api/v1/service-accounts/", {"username": "erin-engineer", "team": "team-a"}, "username"),
        ("engineer_a", "/api/v1/tokens/", {"name": ""}, "name"),
        ("engineer_a", "/api/v1/tokens/", {"name": {"a": 1}}, "name"),
        ("engineer_a", "/api/v1/tokens/", {"name": "t", "service_account": "svc-none"}, "service_account"),
        ("engineer_a", "/api/v1/tokens/", {}, "name"),
        ("auditor", "/api/v1/audit-verifications/", {"idempotency_key": "has spaces"}, "idempotency_key"),
        ("auditor", "/api/v1/audit-verifications/", {"force": True}, "force"),
    ],
)
def test_unknown_fields_and_wrong_values_are_400_naming_the_field(cast, api_as, persona, url, body, field):
    client = api_as(cast.all()[persona])
    before = snapshot()
    response = client.post(url, body, format="json")
    assert response.status_code == 400, response.content
    assert field in fields_of(response), response.json()
    assert snapshot() == before


def test_a_json_array_body_is_400(cast, api_as):
    client = api_as(cast.superuser)
    before = snapshot()
    response = client.post("/api/v1/teams/", [{"slug": "t", "name": "T"}], format="json")
    assert response.status_code == 400
    assert_error_shape(response)
    assert snapshot() == before


# --- Body size, content type, malformed JSON -----------------------------------------------------------------------


@override_settings(MAX_REQUEST_BODY_BYTES=2048)
def test_an_oversized_body_is_413_and_writes_nothing(cast, api_as):
    client = api_as(cast.superuser)
    before = snapshot()
    response = client.post("/api/v1/teams/", {"slug": "big", "name": "Big", "description": "x" * 4096}, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert_error_shape(response)
    assert snapshot() == before
    # Just under the limit is fine.
    response = client.post("/api/v1/teams/", {"slug": "big", "name": "Big", "description": "x" * 1800}, format="json")
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [
        ("text/plain", '{"slug": "t", "name": "T"}'),
        ("application/x-www-form-urlencoded", "slug=t&name=T"),
        (
            "multipart/form-data; boundary=xyz",
            '--xyz\r\nContent-Disposition: form-data; name="slug"\r\n\r\nt\r\n--xyz--',
        ),
        ("application/xml", "<team><slug>t</slug><name>T</name></team>"),
        ("application/yaml", "slug: t\nname: T\n"),
    ],
)
def test_a_body_that_is_not_json_is_415_and_writes_nothing(cast, api_as, content_type, payload):
    client = api_as(cast.superuser)
    before = snapshot()
    response = client.generic("POST", "/api/v1/teams/", payload, content_type=content_type)
    assert response.status_code == 415, response.content
    assert assert_error_shape(response)["code"] == "unsupported_media_type"
    assert snapshot() == before


@pytest.mark.parametrize("payload", ['{"slug": "t", "name": ', "{'slug': 't'}", "nul\x00l", '{"slug": NaN}'])
def test_malformed_json_is_400_and_writes_nothing(cast, api_as, payload):
    client = api_as(cast.superuser)
    before = snapshot()
    response = client.generic("POST", "/api/v1/teams/", payload, content_type="application/json")
    assert response.status_code == 400, response.content
    assert assert_error_shape(response)["code"] in ("parse_error", "invalid")
    assert snapshot() == before


# --- A failed action leaves neither its change nor its event -------------------------------------------------------


def test_a_duplicate_membership_is_400_and_leaves_no_event(cast, api_as):
    # GIVEN engineer_a already is an engineer of team A
    client = api_as(cast.admin_a)
    before = snapshot()
    # WHEN the admin grants the same role again
    response = client.post(
        "/api/v1/memberships/", {"team": "team-a", "user": "erin-engineer", "role": "engineer"}, format="json"
    )
    # THEN 400, one membership as before, and the audit log has no extra row
    assert response.status_code == 400
    assert_error_shape(response)
    assert snapshot() == before


def test_a_multi_step_action_that_fails_late_leaves_nothing(cast):
    # GIVEN the service-account action, which writes a user, the account and an event before granting a role
    before = snapshot()
    # WHEN the grant, its last step, is refused (service accounts may not be admins)
    with pytest.raises(ValidationError, match="A service account may only be an engineer or an auditor") as invalid:
        actions.do_create_service_account(cast.team_a, actor=cast.admin_a, username="svc-late", role=Role.ADMIN)
    assert list(invalid.value.message_dict) == ["role"]
    # THEN neither the user, nor the account, nor any audit event remains
    assert snapshot() == before
    assert not User.objects.filter(username="svc-late").exists()


# --- Membership rules -----------------------------------------------------------------------------------------------


def test_a_reviewer_needs_a_board_role(cast, api_as):
    client = api_as(cast.admin_a)
    before = snapshot()
    response = client.post(
        "/api/v1/memberships/", {"team": "team-a", "user": "bob-engineer", "role": "reviewer"}, format="json"
    )
    assert response.status_code == 400
    assert "board_role" in fields_of(response)
    assert snapshot() == before


def test_only_reviewers_take_a_board_role(cast, api_as):
    client = api_as(cast.admin_a)
    before = snapshot()
    response = client.post(
        "/api/v1/memberships/",
        {"team": "team-a", "user": "bob-engineer", "role": "engineer", "board_role": BoardRole.LEGAL},
        format="json",
    )
    assert response.status_code == 400
    assert "board_role" in fields_of(response)
    assert snapshot() == before


def test_a_reviewer_with_a_board_role_is_granted_with_an_event(cast, api_as):
    response = api_as(cast.admin_a).post(
        "/api/v1/memberships/",
        {"team": "team-a", "user": "bob-engineer", "role": "reviewer", "board_role": BoardRole.RISK},
        format="json",
    )
    assert response.status_code == 201, response.content
    event = AuditEvent.objects.latest("seq")
    assert event.event_type == AuditEventType.MEMBERSHIP_GRANTED
    assert event.after == {"user": "bob-engineer", "role": "reviewer", "board_role": "risk", "source": "local"}
    assert (event.actor_name, event.team_slug) == ("alice-admin", "team-a")


@pytest.mark.parametrize("persona", ["admin_a", "superuser"])
def test_the_last_admin_cannot_be_revoked_by_anyone(cast, api_as, persona):
    # GIVEN alice is team A's only admin
    membership = Membership.objects.get(team=cast.team_a, role=Role.ADMIN)
    client = api_as(cast.all()[persona])
    before = snapshot()
    # WHEN she (or a platform administrator) revokes her admin role
    response = client.delete(f"/api/v1/memberships/{membership.pk}/")
    # THEN 400 says why, and the membership and audit log are unchanged
    assert response.status_code == 400
    assert "at least one admin" in fields_of(response)["role"][0]
    assert snapshot() == before


def test_an_admin_can_step_down_once_another_admin_exists(cast, api_as):
    # GIVEN a second admin
    actions.do_grant_membership(cast.team_a, actor=cast.admin_a, user=cast.engineer_a, role=Role.ADMIN)
    membership = Membership.objects.get(team=cast.team_a, user=cast.admin_a, role=Role.ADMIN)
    client = api_as(cast.admin_a)
    events = AuditEvent.objects.count()
    # WHEN the first admin revokes their own admin role THEN it goes, with one event
    response = client.delete(f"/api/v1/memberships/{membership.pk}/")
    assert response.status_code == 204
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert AuditEvent.objects.count() == events + 1
    event = AuditEvent.objects.latest("seq")
    assert event.event_type == AuditEventType.MEMBERSHIP_REVOKED
    assert (event.before or {}).get("user") == "alice-admin"


# --- Scope: out of reach is absent -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/teams/{team_b}/",
        "/api/v1/memberships/{membership_b}/",
        "/api/v1/tokens/{token_b}/",
        "/api/v1/service-accounts/{account_b}/",
    ],
)
def test_another_teams_object_is_404_exactly_like_a_missing_one(cast, api_as, url):
    # GIVEN objects of team B (and engineer_b's own token)
    account_b = actions.do_create_service_account(cast.team_b, actor=cast.superuser, username="svc-b")
    token_b, _ = actions.do_create_token(actor=cast.engineer_b, name="b")
    ids = {
        "team_b": "team-b",
        "membership_b": Membership.objects.get(team=cast.team_b, user=cast.engineer_b).pk,
        "token_b": token_b.pk,
        "account_b": account_b.pk,
    }
    missing = {"team_b": "team-zz", "membership_b": 999999, "token_b": 999999, "account_b": 999999}
    client = api_as(cast.engineer_a)
    # WHEN engineer_a asks for them, and for ids that do not exist
    forbidden = client.get(url.format(**ids))
    absent = client.get(url.format(**missing))
    # THEN both are the same 404, byte for byte
    assert forbidden.status_code == absent.status_code == 404
    assert forbidden.content == absent.content
    assert_error_shape(forbidden)


def test_writes_to_another_teams_objects_are_404_too(cast, api_as):
    membership_b = Membership.objects.get(team=cast.team_b, user=cast.engineer_b)
    client = api_as(cast.admin_a)
    before = snapshot()
    assert client.delete(f"/api/v1/memberships/{membership_b.pk}/").status_code == 404
    assert client.patch("/api/v1/teams/team-b/", {"name": "Mine"}, format="json").status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/memberships/?team=team-b",
        "/api/v1/memberships/?user=bob-engineer",
        "/api/v1/jobs/?team=team-b",
        "/api/v1/teams/?slug=team-b",
    ],
)
def test_filters_do_not_reach_past_the_scope(cast, api_as, url):
    response = api_as(cast.engineer_a).get(url)
    assert response.status_code == 200
    assert "team-b" not in response.content.decode()
    assert "bob-engineer" not in response.content.decode()


def test_audit_event_filters_do_not_reach_past_the_scope(cast, api_as):
    response = api_as(cast.auditor).get("/api/v1/audit-events/?team=team-b")
    assert response.status_code == 200
    assert response.json()["results"] == []


# --- Ordering ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "term"),
    [
        ("/api/v1/memberships/?ordering=user__password", "user__password"),
        ("/api/v1/memberships/?ordering=-team__slug", "-team__slug"),
        ("/api/v1/tokens/?ordering=digest", "digest"),
        ("/api/v1/teams/?ordering=slug,description", "description"),
        ("/api/v1/jobs/?ordering=params", "params"),
        ("/api/v1/audit-events/?ordering=hash", "hash"),
    ],
)
def test_ordering_on_an_undeclared_field_is_400_naming_it(cast, api_as, url, term):
    response = api_as(cast.superuser).get(url)
    assert response.status_code == 400
    assert term in fields_of(response)["ordering"][0]


def test_ordering_on_a_declared_field_works_both_ways(cast, api_as):
    client = api_as(cast.superuser)
    ascending = [team["slug"] for team in client.get("/api/v1/teams/?ordering=slug").json()["results"]]
    descending = [team["slug"] for team in client.get("/api/v1/teams/?ordering=-slug").json()["results"]]
    assert ascending == ["team-a", "team-b"]
    assert descending == ["team-b", "team-a"]


# --- Pagination ----------------------------------------------------------------------------------------------------


def test_page_size_is_bounded_and_validated(cast, api_as):
    client = api_as(cast.superuser)
    for username in [f"u{i:03}" for i in range(5)]:
        User.objects.create_user(username=username)
    total = Membership.objects.count()
    page = client.get("/api/v1/memberships/?page_size=2").json()
    assert (page["count"], len(page["results"])) == (total, 2)
    assert page["next"] is not None
    # Above the maximum: clamped, not refused.
    huge = client.get("/api/v1/memberships/?page_size=100000").json()
    assert len(huge["results"]) == min(total, 200)
    for bad in ("0", "-3", "ten", ""):
        response = client.get(f"/api/v1/memberships/?page_size={bad}")
        assert response.status_code == 400, bad
        assert "page_size" in fields_of(response)
    past_the_end = client.get("/api/v1/memberships/?page=999")
    assert past_the_end.status_code == 404
    assert_error_shape(past_the_end)


# --- One error shape everywhere -------------------------------------------------------------------------------------


def test_405_has_the_error_shape(cast, api_as):
    response = api_as(cast.superuser).put("/api/v1/teams/team-a/", {"name": "x"}, format="json")
    assert response.status_code == 405
    assert assert_error_shape(response)["code"] == "method_not_allowed"


def test_403_has_the_error_shape(cast, api_as):
    response = api_as(cast.engineer_a).post("/api/v1/teams/", {"slug": "t", "name": "T"}, format="json")
    assert response.status_code == 403
    assert assert_error_shape(response)["code"] == "permission_denied"


def test_a_non_superuser_cannot_probe_team_slugs_through_validation(cast, api_as):
    # An existing slug would be a 400 "already exists" for a superuser; everyone else hears only "not allowed".
    response = api_as(cast.engineer_a).post("/api/v1/teams/", {"slug": "team-b", "name": "B"}, format="json")
    assert response.status_code == 403


def test_a_non_admin_cannot_probe_usernames_through_membership_validation(cast, api_as):
    client = api_as(cast.engineer_b)
    exists = client.post("/api/v1/memberships/", {"team": "team-a", "user": "root", "role": "x"}, format="json")
    missing = client.post("/api/v1/memberships/", {"team": "team-a", "user": "nobody", "role": "x"}, format="json")
    assert exists.status_code == missing.status_code == 400
    assert exists.content == missing.content
    assert set(fields_of(exists)) == {"team"}


@pytest.mark.urls(__name__)
def test_unknown_api_paths_answer_json_404(cast, api_as):
    response = api_as(cast.engineer_a).get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert assert_error_shape(response)["code"] == "not_found"
    # Outside the API, the HTML page stays.
    page = api_as(cast.engineer_a).get("/no-such-page/")
    assert page.status_code == 404
    assert not page["Content-Type"].startswith("application/json")


def test_a_member_who_may_not_edit_hears_403_before_any_validation(cast, api_as):
    # GIVEN a compliance officer of team A (who reads the team but does not administer it)
    client = api_as(cast.compliance)
    before = snapshot()
    # WHEN they send an edit that would also be invalid THEN the refusal comes first, and nothing changes
    response = client.patch("/api/v1/teams/team-a/", {"name": "", "colour": "red"}, format="json")
    assert response.status_code == 403
    assert "fields" not in assert_error_shape(response)
    assert snapshot() == before


# --- One rule for every input: JSON depth, NUL characters, 64-bit integers (core.api.inputs) ------------------------

BEYOND_INT64 = 2**63  # 9223372036854775808: one past the largest integer SQLite binds


def deep_json(levels: int, leaf: str = "1") -> str:
    return "[" * levels + leaf + "]" * levels


@pytest.fixture
def churn_model(cast):
    from tests.registry.factories import make_model

    return make_model(cast.team_a, cast.engineer_a)


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("patch", "/api/v1/me/", '{"first_name": ' + deep_json(1000) + "}"),
        ("post", "/api/v1/teams/", deep_json(1000)),
        ("post", "/api/v1/teams/", '{"slug": "x", "name": ' + deep_json(100_000) + "}"),
        ("post", "/api/v1/tokens/", '{"name": "t", "x": ' + '{"a": ' * 1000 + "1" + "}" * 1000 + "}"),
    ],
    ids=["field", "body", "very-deep", "objects"],
)
def test_json_nested_beyond_the_limit_is_400_naming_the_limit(cast, api_as, method, url, body):
    from core.api.inputs import MAX_JSON_DEPTH

    client = api_as(cast.superuser)
    before = snapshot()
    response = getattr(client, method)(url, body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    error = assert_error_shape(response)
    assert f"at most {MAX_JSON_DEPTH} levels" in error["message"]
    assert snapshot() == before


def test_json_at_the_depth_limit_parses(cast, api_as):
    from core.api.inputs import MAX_JSON_DEPTH

    # One object level for the body, the rest inside "name": the parser lets it through, the field refuses it.
    body = '{"slug": "x", "name": ' + deep_json(MAX_JSON_DEPTH - 1) + "}"
    response = api_as(cast.superuser).post("/api/v1/teams/", body, content_type="application/json")
    assert response.status_code == 400
    assert set(fields_of(response)) == {"name"}
    too_deep = '{"slug": "x", "name": ' + deep_json(MAX_JSON_DEPTH) + "}"
    response = api_as(cast.superuser).post("/api/v1/teams/", too_deep, content_type="application/json")
    assert "levels" in assert_error_shape(response)["message"]


def test_brackets_inside_strings_do_not_count_as_depth(cast, api_as):
    body = '{"slug": "brackets", "name": "' + "[{" * 2000 + '\\"' + "[" * 10 + '", "description": "]]"}'
    response = api_as(cast.superuser).post("/api/v1/teams/", body, content_type="application/json")
    assert response.status_code == 400  # the name is too long, nothing about depth
    assert set(fields_of(response)) == {"name"}


def test_a_nul_character_in_any_json_string_is_400_naming_where(cast, api_as, churn_model):
    client = api_as(cast.engineer_a)
    url = f"/api/v1/models/{churn_model.pk}/train/"
    body = '{"feature_set_version": 1, "label": "y", "algorithm": "gbt", "params": {"maxIter": "a\\u0000b"}}'
    response = client.post(url, body, content_type="application/json")
    assert response.status_code == 400
    fields = fields_of(response)
    assert list(fields) == ["params"]
    assert "NUL" in fields["params"][0]
    assert "params.maxIter" in fields["params"][0]
    # In a key too, and at the top level of a body.
    response = client.post(url, '{"params": {"a\\u0000": 1}}', content_type="application/json")
    assert list(fields_of(response)) == ["params"]
    response = client.patch("/api/v1/me/", '"\\u0000"', content_type="application/json")
    assert response.status_code == 400
    assert "NUL" in assert_error_shape(response)["message"]
    # An escaped backslash followed by "u0000" is no NUL.
    body = '{"description": "a\\\\u0000"}'
    response = api_as(cast.admin_a).patch("/api/v1/teams/team-a/", body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert Team.objects.get(slug="team-a").description == "a\\u0000"


@pytest.mark.parametrize(
    ("value", "problem"),
    [(deep_json(1000), "levels"), ('{"a": "x\\u0000"}', "NUL"), ('{"a": ' + deep_json(70) + "}", "levels")],
    ids=["deep", "nul", "nested"],
)
def test_multipart_json_fields_follow_the_same_rule(cast, api_as, churn_model, value, problem):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from registry.models import ModelVersion

    client = api_as(cast.engineer_a)
    for field in ("training_params", "metrics"):
        file = SimpleUploadedFile("m.onnx", b"not onnx")
        response = client.post(
            f"/api/v1/models/{churn_model.pk}/versions/", {"file": file, field: value}, format="multipart"
        )
        assert response.status_code == 400, response.content[:300]
        fields = fields_of(response)
        assert field in fields
        assert problem in fields[field][0]
    assert not ModelVersion.objects.exists()


def test_integers_beyond_64_bits_in_a_body_are_400_naming_the_field(cast, api_as, churn_model):
    client = api_as(cast.engineer_a)
    url = f"/api/v1/models/{churn_model.pk}/train/"
    for value in (BEYOND_INT64, -(2**63) - 1, 10**30):
        body = {"feature_set_version": value, "label": "y", "algorithm": "gbt"}
        response = client.post(url, body, format="json")
        assert response.status_code == 400, response.content[:300]
        assert list(fields_of(response)) == ["feature_set_version"]


def test_an_id_beyond_64_bits_for_a_related_object_is_400_naming_it(cast, api_as):
    body = {
        "team": "team-a",
        "name": "Overflow",
        "owner": cast.engineer_a.username,
        "use_case": BEYOND_INT64,
    }
    response = api_as(cast.engineer_a).post("/api/v1/models/", body, format="json")
    assert response.status_code == 400, response.content[:300]
    assert "use_case" in fields_of(response)


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/api/v1/releases/?model={}", "model"),
        ("/api/v1/releases/?model_version={}", "model_version"),
        ("/api/v1/deployments/?release={}", "release"),
        ("/api/v1/deployments/?model={}", "model"),
        ("/api/v1/models/?use_case={}", "use_case"),
        ("/api/v1/model-versions/?model={}", "model"),
        ("/api/v1/feature-views/?source_dataset={}", "source_dataset"),
        ("/api/v1/audit-events/?seq_min={}", "seq_min"),
        ("/api/v1/audit-events/?seq_max={}", "seq_max"),
    ],
)
@pytest.mark.parametrize("value", [str(BEYOND_INT64), str(-(2**63) - 1), "1e30"])
def test_filters_beyond_64_bits_are_400_naming_the_filter(cast, api_as, url, name, value):
    response = api_as(cast.superuser).get(url.format(value))
    assert response.status_code == 400, response.content[:300]
    assert list(fields_of(response)) == [name]


def test_filters_at_the_64_bit_bounds_just_find_nothing(cast, api_as):
    client = api_as(cast.superuser)
    for value in (2**63 - 1, -(2**63)):
        response = client.get(f"/api/v1/releases/?model={value}")
        assert response.status_code == 200
        assert response.json()["results"] == []


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/models/{BEYOND_INT64}/",
        f"/api/v1/models/{BEYOND_INT64}/versions/",
        f"/api/v1/models/1/versions/{BEYOND_INT64}/",
        f"/api/v1/releases/{BEYOND_INT64}/",
        f"/api/v1/releases/{BEYOND_INT64}/gate/",
        f"/api/v1/audit-events/{BEYOND_INT64}/",
        f"/api/v1/deployments/{BEYOND_INT64}/",
        f"/api/v1/tokens/{BEYOND_INT64}/",
        "/api/v1/teams/a%00b/",
        "/api/v1/environments/a%00b/",
    ],
)
def test_path_ids_beyond_64_bits_and_nul_slugs_are_404(cast, api_as, url):
    response = api_as(cast.superuser).get(url)
    assert response.status_code == 404, response.content[:300]
    assert_error_shape(response)


def test_web_pages_with_ids_beyond_64_bits_are_404(cast, client):
    client.force_login(cast.superuser)
    assert client.get(f"/models/{BEYOND_INT64}/").status_code == 404
    assert client.get(f"/models/?use_case={BEYOND_INT64}").status_code == 400  # the filter form says what is wrong


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ("[" * 1500 + "]" * 1500, "levels"),
        ('{"maxIter": "\\u0000"}', "NUL"),
        ('{"a": ' + "[" * 80 + "]" * 80 + "}", "levels"),
    ],
    ids=["deep", "nul", "nested"],
)
def test_the_train_forms_json_follows_the_same_rule(params, problem):
    from registry.forms import TrainForm

    form = TrainForm(data={"label": "y", "algorithm": "gbt", "params": params}, feature_set_versions=[])
    assert not form.is_valid()
    assert problem in " ".join(str(error) for error in form.errors["params"])


# Offsets beyond +-15:59 (PostgreSQL: DataError) and date-times that leave the calendar in UTC (SQLite: OverflowError).
BAD_DATETIMES = [
    "2135-01-02T12:55:34.1+21:40",
    "2024-01-01T00:00:00-16:00",
    "9999-12-31T23:00:00-05:00",
    "0001-01-01T01:00:00+05:00",
]


@pytest.mark.parametrize("value", BAD_DATETIMES)
@pytest.mark.parametrize("name", ["occurred_after", "occurred_before"])
def test_date_time_filters_beyond_what_databases_hold_are_400_naming_the_filter(cast, api_as, name, value):
    from urllib.parse import quote

    response = api_as(cast.superuser).get(f"/api/v1/audit-events/?{name}={quote(value)}")
    assert response.status_code == 400, response.content[:300]
    assert list(fields_of(response)) == [name]


def test_date_times_within_the_range_are_accepted(cast, api_as):
    client = api_as(cast.superuser)
    for value in ("2024-01-01T00:00:00%2B14:00", "2024-01-01T00:00:00-12:00", "9999-12-31T00:00:00%2B05:00"):
        assert client.get(f"/api/v1/audit-events/?occurred_after={value}").status_code == 200
