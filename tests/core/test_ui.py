"""The web UI through Django's test client: who sees which page, sign-in and its audit trail, the forms and their
refusals, and the security headers."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.utils import timezone

from core import actions, audit_triggers
from core.choices import AuditEventType, JobStatus, Role
from core.models import ApiToken, AuditEvent, Job, Membership
from core.ui import apply_validation_error, is_filtered, list_page, query_without_page
from tests.conftest import PASSWORD

User = get_user_model()

READERS = {"superuser", "admin_a", "compliance", "auditor"}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match is not None, f"{pattern!r} not found"
    return match.group(1)


def events(event_type: AuditEventType):
    return AuditEvent.objects.filter(event_type=event_type).order_by("seq")


def audit_count() -> int:
    return AuditEvent.objects.count()


@pytest.fixture
def team_a_job(cast):
    return Job.objects.create(
        kind="audit.verify", team=cast.team_a, requested_by=cast.engineer_a, status=JobStatus.RUNNING, progress=0.4
    )


# --- Who sees what ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/teams/", "/teams/team-a/", "/audit/", "/audit/1/", "/jobs/", "/tokens/"])
def test_anonymous_is_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


@pytest.mark.django_db
def test_anonymous_job_page_is_sent_to_login(client, team_a_job):
    response = client.get(f"/jobs/{team_a_job.public_id}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_every_persona_gets_the_pages_their_roles_allow(cast, team_a_job):
    team_a_event = AuditEvent.objects.filter(team_slug="team-a").order_by("seq").first()
    assert team_a_event is not None
    for name, user in cast.all().items():
        client = client_for(user)
        in_team_a = name != "engineer_b"
        expected = {
            "/": 200,
            "/teams/": 200,
            "/jobs/": 200,
            "/tokens/": 200,
            "/teams/team-a/": 200 if in_team_a else 404,
            "/teams/team-b/": 200 if name in ("engineer_b", "superuser") else 404,
            "/teams/no-such-team/": 404,
            f"/jobs/{team_a_job.public_id}/": 200 if in_team_a else 404,
            "/audit/": 200 if name in READERS else 403,
            f"/audit/{team_a_event.seq}/": 200 if name in READERS else 403,
        }
        for path, status in expected.items():
            response = client.get(path)
            assert response.status_code == status, f"{name} GET {path}: {response.status_code}, expected {status}"
            if status == 200:
                assert f"Signed in as <strong>{user.username}</strong>" in response.content.decode()


def test_audit_link_in_the_navigation_only_for_audit_readers(cast):
    for name, user in cast.all().items():
        page = client_for(user).get("/").content.decode()
        assert ('href="/audit/"' in page) is (name in READERS), name
        for label in ("Dashboard", "Teams", "Jobs", "API tokens", "API docs"):
            assert f">{label}</a>" in page


def test_the_engineer_gets_a_403_page_in_the_frame(cast):
    response = client_for(cast.engineer_a).get("/audit/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "Only compliance officers, auditors and administrators may read the audit log." in page
    assert 'class="site-header"' in page


def test_platform_wide_events_are_visible_to_compliance_auditors_and_superusers(cast):
    # GIVEN a login event, which belongs to no team
    actions.do_record_auth_event(
        AuditEventType.LOGIN_SUCCEEDED, actor=cast.compliance, username="carol-compliance", remote_addr="10.0.0.1"
    )
    seq = events(AuditEventType.LOGIN_SUCCEEDED).get().seq
    # THEN compliance officers, auditors and the superuser can open it; a team admin and an engineer cannot
    for reader in (cast.compliance, cast.auditor, cast.superuser):
        assert client_for(reader).get(f"/audit/{seq}/").status_code == 200
    assert client_for(cast.admin_a).get(f"/audit/{seq}/").status_code == 404
    assert client_for(cast.engineer_a).get(f"/audit/{seq}/").status_code == 403


def test_dashboard_shows_teams_roles_jobs_and_for_readers_the_chain(cast, team_a_job):
    page = client_for(cast.compliance).get("/").content.decode()
    assert "Team A" in page
    assert "Compliance officer" in page
    assert f"/jobs/{team_a_job.public_id}/" in page
    assert "Chain intact:" in page
    assert "Recent audit events" in page

    engineer_page = client_for(cast.engineer_a).get("/").content.decode()
    assert f"/jobs/{team_a_job.public_id}/" in engineer_page
    assert "Chain intact" not in engineer_page
    assert "Recent audit events" not in engineer_page

    assert f"/jobs/{team_a_job.public_id}/" not in client_for(cast.engineer_b).get("/").content.decode()


def test_team_page_groups_members_by_role_with_board_roles(cast):
    page = client_for(cast.engineer_a).get("/teams/team-a/").content.decode()
    for heading in ("Engineers", "Reviewers", "Compliance officers", "Auditors", "Team admins"):
        assert heading in page
    assert "Privacy / DPO" in page
    assert "rita-privacy" in page
    # Only team admins see the grant form
    assert "Grant a membership" not in page
    assert "Grant a membership" in client_for(cast.admin_a).get("/teams/team-a/").content.decode()


# --- Sign in, sign out, lockout -------------------------------------------------------------------------------------


def test_login_success_is_recorded_with_remote_addr_not_forwarded_for(cast):
    client = Client(REMOTE_ADDR="192.0.2.10")
    response = client.post(
        "/login/", {"username": "erin-engineer", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="203.0.113.99"
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    event = events(AuditEventType.LOGIN_SUCCEEDED).get()
    assert event.actor_name == "erin-engineer"
    assert event.target_id == "erin-engineer"
    assert event.metadata == {"remote_addr": "192.0.2.10"}
    assert client.get("/").status_code == 200


def test_login_failure_is_recorded_and_shown(cast):
    client = Client()
    response = client.post("/login/", {"username": "erin-engineer", "password": "wrong password"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    event = events(AuditEventType.LOGIN_FAILED).get()
    assert event.actor_id is None
    assert event.target_id == "erin-engineer"
    assert not events(AuditEventType.LOGIN_LOCKED_OUT).exists()
    assert client.get("/").status_code == 302


def test_five_failures_lock_the_account_whatever_x_forwarded_for_says(cast):
    # GIVEN five failed attempts, each claiming another client address through X-Forwarded-For
    client = Client()
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(
            "/login/",
            {"username": "erin-engineer", "password": f"guess {attempt}"},
            HTTP_X_FORWARDED_FOR=f"198.51.100.{attempt}",
        )
    # THEN the fifth answer is the lockout page, and the lockout is recorded once
    assert response.status_code == 429
    assert "Account temporarily locked" in response.content.decode()
    assert events(AuditEventType.LOGIN_FAILED).count() == settings.AXES_FAILURE_LIMIT
    assert events(AuditEventType.LOGIN_LOCKED_OUT).count() == 1

    # WHEN the right password comes, from yet another claimed address and a fresh client
    retry = Client()
    response = retry.post(
        "/login/", {"username": "erin-engineer", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="203.0.113.7"
    )
    # THEN it is refused, no session is opened, and the refusal is recorded
    assert response.status_code == 429
    assert "_auth_user_id" not in retry.session
    assert retry.get("/").status_code == 302
    assert not events(AuditEventType.LOGIN_SUCCEEDED).exists()
    assert events(AuditEventType.LOGIN_LOCKED_OUT).count() == 2
    assert {e.metadata["remote_addr"] for e in events(AuditEventType.LOGIN_LOCKED_OUT)} == {"127.0.0.1"}

    # AND another user is not affected (the lockout is per username)
    assert Client().post("/login/", {"username": "bob-engineer", "password": PASSWORD}).status_code == 302


def test_service_accounts_cannot_sign_in(cast):
    account = actions.do_create_service_account(cast.team_a, actor=cast.admin_a, username="ci-bot")
    # Even with a usable password (which the product never sets), a service account gets no session.
    account.user.set_password(PASSWORD)
    account.user.save(update_fields=["password"])
    client = Client()
    response = client.post("/login/", {"username": "ci-bot", "password": PASSWORD})
    assert response.status_code == 200
    assert "Service accounts cannot sign in to the web interface" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert events(AuditEventType.LOGIN_FAILED).get().target_id == "ci-bot"
    assert not events(AuditEventType.LOGIN_SUCCEEDED).exists()


def test_logout_is_post_only_and_recorded(cast):
    client = client_for(cast.auditor)
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert events(AuditEventType.LOGOUT).get().actor_name == "dave-auditor"
    assert client.get("/").status_code == 302


def test_login_page_sends_a_signed_in_user_on(cast):
    response = client_for(cast.auditor).get("/login/")
    assert response.status_code == 302


# --- Memberships ----------------------------------------------------------------------------------------------------


def test_team_admin_grants_a_membership_through_the_form(cast):
    client = client_for(cast.admin_a)
    response = client.post(
        "/teams/team-a/members/", {"username": "bob-engineer", "role": Role.REVIEWER, "board_role": "risk"}
    )
    assert response.status_code == 302
    membership = Membership.objects.get(team=cast.team_a, user=cast.engineer_b)
    assert (membership.role, membership.board_role, membership.granted_by) == (Role.REVIEWER, "risk", cast.admin_a)
    event = events(AuditEventType.MEMBERSHIP_GRANTED).last()
    assert event.actor_name == "alice-admin"
    assert event.after == {"user": "bob-engineer", "role": "reviewer", "board_role": "risk", "source": "local"}
    page = client.get(response["Location"]).content.decode()
    assert "Granted reviewer to bob-engineer." in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"username": "nobody", "role": "engineer"}, "There is no active user named “nobody”."),
        ({"username": "bob-engineer", "role": "reviewer"}, "A reviewer needs a board role."),
        ({"username": "bob-engineer", "role": "engineer", "board_role": "legal"}, "Only reviewers hold a board role."),
        ({"username": "bob-engineer", "role": "overlord"}, "Select a valid choice."),
        ({"username": "", "role": "engineer"}, "This field is required."),
        ({"username": "erin-engineer", "role": "engineer"}, "already exists"),
    ],
)
def test_grant_form_refuses_bad_input_and_writes_nothing(cast, data, message):
    memberships, logged = Membership.objects.count(), audit_count()
    response = client_for(cast.admin_a).post("/teams/team-a/members/", data)
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert "The membership was not granted" in page or "already exists" in page
    assert (Membership.objects.count(), audit_count()) == (memberships, logged)


@pytest.mark.parametrize(("persona", "status"), [("engineer_a", 403), ("compliance", 403), ("engineer_b", 404)])
def test_only_team_admins_may_grant(cast, persona, status):
    memberships, logged = Membership.objects.count(), audit_count()
    response = client_for(getattr(cast, persona)).post(
        "/teams/team-a/members/", {"username": "bob-engineer", "role": "engineer"}
    )
    assert response.status_code == status
    assert (Membership.objects.count(), audit_count()) == (memberships, logged)


def test_team_admin_revokes_a_membership(cast):
    membership = Membership.objects.get(team=cast.team_a, user=cast.engineer_a)
    response = client_for(cast.admin_a).post(f"/teams/team-a/members/{membership.pk}/revoke/")
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert events(AuditEventType.MEMBERSHIP_REVOKED).get().before["user"] == "erin-engineer"


def test_the_last_admin_cannot_be_revoked(cast):
    membership = Membership.objects.get(team=cast.team_a, user=cast.admin_a)
    logged = audit_count()
    client = client_for(cast.admin_a)
    response = client.post(f"/teams/team-a/members/{membership.pk}/revoke/", follow=True)
    assert "A team keeps at least one admin" in response.content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert audit_count() == logged


def test_revoke_by_a_non_admin_is_refused(cast):
    membership = Membership.objects.get(team=cast.team_a, user=cast.auditor)
    assert client_for(cast.engineer_a).post(f"/teams/team-a/members/{membership.pk}/revoke/").status_code == 403
    assert client_for(cast.engineer_b).post(f"/teams/team-a/members/{membership.pk}/revoke/").status_code == 404
    assert Membership.objects.filter(pk=membership.pk).exists()


# --- Tokens ---------------------------------------------------------------------------------------------------------


def test_create_a_token_shows_the_secret_once_and_it_works(cast):
    client = client_for(cast.engineer_a)
    response = client.post("/tokens/", {"name": "laptop CLI", "ttl_days": "30"})
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    secret = found(r'value="(assay_[^"]+)"', response.content.decode())
    token = ApiToken.objects.get(user=cast.engineer_a, name="laptop CLI")
    assert timedelta(days=29, hours=23) < token.expires_at - token.created_at <= timedelta(days=30)
    assert events(AuditEventType.TOKEN_CREATED).last().after["name"] == "laptop CLI"
    # The secret is real: the API accepts it
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/me/").json()["username"] == "erin-engineer"
    # And it is never shown again
    assert secret not in client.get("/tokens/").content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "ttl_days": "30"}, "This field is required."),
        ({"name": "x", "ttl_days": "0"}, "Ensure this value is greater than or equal to 1."),
        ({"name": "x", "ttl_days": "100000"}, "At most"),
        ({"name": "x", "ttl_days": "soon"}, "Enter a whole number."),
        ({"name": "x" * 101, "ttl_days": "30"}, "Ensure this value has at most 100 characters"),
    ],
)
def test_token_form_refuses_bad_input_and_writes_nothing(cast, data, message):
    tokens, logged = ApiToken.objects.count(), audit_count()
    response = client_for(cast.engineer_a).post("/tokens/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert (ApiToken.objects.count(), audit_count()) == (tokens, logged)


def test_revoke_own_token_but_not_someone_elses(cast):
    mine, _ = actions.do_create_token(actor=cast.engineer_a, name="mine")
    theirs, _ = actions.do_create_token(actor=cast.engineer_b, name="theirs")
    client = client_for(cast.engineer_a)
    assert client.post(f"/tokens/{theirs.pk}/revoke/").status_code == 404
    response = client.post(f"/tokens/{mine.pk}/revoke/", follow=True)
    assert "Revoked token “mine”." in response.content.decode()
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.state == "revoked"
    assert theirs.state == "active"
    assert events(AuditEventType.TOKEN_REVOKED).get().after["key_id"] == mine.key_id
    assert "theirs" not in client.get("/tokens/").content.decode()


# --- CSRF and headers -----------------------------------------------------------------------------------------------


def test_post_forms_enforce_csrf(cast):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.engineer_a)
    tokens, logged = ApiToken.objects.count(), audit_count()
    response = client.post("/tokens/", {"name": "forged", "ttl_days": "30"})
    assert response.status_code == 403
    assert "The form could not be verified" in response.content.decode()
    assert (ApiToken.objects.count(), audit_count()) == (tokens, logged)

    page = client.get("/tokens/").content.decode()
    csrf = found(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    response = client.post("/tokens/", {"name": "genuine", "ttl_days": "30", "csrfmiddlewaretoken": csrf})
    assert response.status_code == 201


def test_login_form_enforces_csrf(cast):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "erin-engineer", "password": PASSWORD})
    assert response.status_code == 403
    assert not events(AuditEventType.LOGIN_SUCCEEDED).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/login/", "/no-such-page/"])
def test_security_headers(client, path):
    response = client.get(path)
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_an_empty_login_form_is_refused_without_an_event(db):
    response = Client().post("/login/", {"username": "", "password": ""})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_error_pages_render_in_the_frame(client):
    page = client.get("/no-such-page/").content.decode()
    assert "Not found" in page
    assert "css/assay.css" in page
    # The 500 page is rendered with no request and no context: it must not depend on either
    assert "Something went wrong on our side" in render_to_string("500.html")
    assert "temporarily unavailable" in render_to_string("503.html")


def test_pages_carry_no_inline_script_or_style(cast, team_a_job):
    client = client_for(cast.superuser)
    for path in ("/login/", "/", "/teams/team-a/", "/audit/", "/jobs/", f"/jobs/{team_a_job.public_id}/", "/tokens/"):
        page = client.get(path).content.decode()
        assert "style=" not in page, path
        assert "<style" not in page, path
        for tag in re.findall(r"<script[^>]*>", page):
            assert 'src="/static/' in tag, (path, tag)


# --- Audit log ------------------------------------------------------------------------------------------------------


def test_audit_log_filters(cast):
    client = client_for(cast.superuser)
    before = timezone.now()
    actions.do_grant_membership(cast.team_b, actor=cast.superuser, user=cast.auditor, role=Role.AUDITOR)

    def seqs(**params):
        response = client.get("/audit/", params)
        assert response.status_code == 200
        return [int(s) for s in re.findall(r'<td class="num"><a href="/audit/(\d+)/">', response.content.decode())]

    everything = seqs()
    assert len(everything) == AuditEvent.objects.count()
    assert seqs(event_type="team.created") == list(
        events(AuditEventType.TEAM_CREATED).order_by("-seq").values_list("seq", flat=True)
    )
    team_b = seqs(team="team-b")
    assert team_b == list(AuditEvent.objects.filter(team_slug="team-b").values_list("seq", flat=True))
    assert seqs(actor="alice-admin") == []
    assert len(seqs(actor="root")) == len(everything)
    assert seqs(q="dave-auditor", team="team-b") == [max(team_b)]
    membership = Membership.objects.get(team=cast.team_b, user=cast.auditor)
    assert seqs(target_type="core.membership", target_id=str(membership.pk)) == [max(team_b)]
    assert seqs(occurred_after=before.strftime("%Y-%m-%dT%H:%M:%S.%f")) == [max(team_b)]
    assert len(seqs(occurred_before=before.strftime("%Y-%m-%dT%H:%M:%S.%f"))) == len(everything) - 1


def test_audit_log_refuses_a_malformed_filter(cast):
    response = client_for(cast.auditor).get("/audit/", {"occurred_after": "yesterday-ish"})
    assert response.status_code == 400
    assert "The filter is not valid" in response.content.decode()


def test_audit_readers_see_only_their_teams_events(cast):
    actions.do_grant_membership(cast.team_b, actor=cast.superuser, user=cast.compliance, role=Role.ENGINEER)
    page = client_for(cast.auditor).get("/audit/").content.decode()
    team_b_seq = AuditEvent.objects.filter(team_slug="team-b").order_by("-seq").values_list("seq", flat=True)[0]
    assert f'href="/audit/{team_b_seq}/"' not in page
    assert client_for(cast.auditor).get(f"/audit/{team_b_seq}/").status_code == 404


def test_audit_log_paginates_by_fifty(cast):
    for i in range(60):
        actions.do_record_auth_event(AuditEventType.LOGIN_FAILED, actor=None, username=f"u{i}", remote_addr="::1")
    total = AuditEvent.objects.count()
    client = client_for(cast.superuser)
    first = client.get("/audit/", {"event_type": "auth.login_failed"}).content.decode()
    assert len(re.findall(r'<td class="num"><a href="/audit/\d+/">', first)) == 50
    assert "Page 1 of 2" in first
    assert "event_type=auth.login_failed&amp;page=2" in first
    second = client.get("/audit/", {"event_type": "auth.login_failed", "page": "2"}).content.decode()
    assert len(re.findall(r'<td class="num"><a href="/audit/\d+/">', second)) == 10
    assert f"Chain intact: {total} events" in second


def test_chain_banner_reports_a_tampered_row(cast):
    # GIVEN an intact chain
    client = client_for(cast.superuser)
    head = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True)[0]
    assert f"Chain intact: {head} events, head" in client.get("/audit/").content.decode()
    # WHEN a row is edited behind the application's back
    audit_triggers.remove(connection)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditevent SET target_repr = %s WHERE seq = %s", ["Team Evil", 2])
    # THEN the banner names the row, and its page shows the hash mismatch
    page = client.get("/audit/").content.decode()
    assert "Chain BROKEN at row" in page
    assert 'href="/audit/2/">#2</a>: content does not match its hash (the row was edited)' in page
    detail = client.get("/audit/2/").content.decode()
    assert "This row does not verify" in detail
    assert "mismatch" in detail


def test_audit_event_page_shows_before_after_and_hashes(cast):
    membership = Membership.objects.get(team=cast.team_a, user=cast.engineer_a)
    actions.do_revoke_membership(membership, actor=cast.admin_a)
    event = events(AuditEventType.MEMBERSHIP_REVOKED).get()
    page = client_for(cast.auditor).get(f"/audit/{event.seq}/").content.decode()
    assert "This row verifies" in page
    assert event.hash in page
    assert event.prev_hash in page
    assert "&quot;user&quot;: &quot;erin-engineer&quot;" in page


def test_verify_now_starts_a_job_and_shows_it(cast):
    client = client_for(cast.auditor)
    response = client.post("/audit/verify/")
    assert response.status_code == 302
    job = Job.objects.get(kind="audit.verify")
    assert job.requested_by == cast.auditor
    assert response["Location"] == f"/jobs/{job.public_id}/"
    assert events(AuditEventType.JOB_REQUESTED).get().actor_name == "dave-auditor"
    assert client.get(response["Location"]).status_code == 200


def test_verify_now_is_for_audit_readers_only(cast):
    assert client_for(cast.engineer_a).post("/audit/verify/").status_code == 403
    assert client_for(cast.auditor).get("/audit/verify/").status_code == 405
    assert not Job.objects.exists()


def test_verify_now_with_the_broker_down_is_a_503_page_and_starts_nothing(cast, monkeypatch):
    from assay.celery import app

    # Nothing listens on port 1. Celery prefers the environment variable over its configuration, so set both.
    dead_broker = "redis://127.0.0.1:1/0"
    monkeypatch.setenv("CELERY_BROKER_URL", dead_broker)
    monkeypatch.setitem(app.conf, "broker_url", dead_broker)
    logged = audit_count()
    response = client_for(cast.auditor).post("/audit/verify/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "The job service is unavailable" in response.content.decode()
    assert not Job.objects.exists()
    assert audit_count() == logged


# --- Jobs -----------------------------------------------------------------------------------------------------------


def test_job_page_shows_progress_stage_and_log(cast, team_a_job):
    Job.objects.filter(pk=team_a_job.pk).update(stage="verified 40 of 100 events")
    team_a_job.log_lines.create(message="started on worker w1")
    page = client_for(cast.engineer_a).get(f"/jobs/{team_a_job.public_id}/").content.decode()
    assert '<progress id="job-progress" max="1" value="0.400"' in page
    assert "verified 40 of 100 events" in page
    assert "started on worker w1" in page
    assert 'data-api-url="/api/v1/jobs/' in page
    assert "js/job-poll.js" in page
    assert "Cancel job" in page


def test_job_list_filters_by_status(cast, team_a_job):
    Job.objects.create(kind="audit.checkpoint", team=cast.team_a, status=JobStatus.SUCCEEDED, progress=1.0)
    client = client_for(cast.admin_a)
    assert "audit.checkpoint" in client.get("/jobs/").content.decode()
    running = client.get("/jobs/", {"status": "running"}).content.decode()
    assert "audit.checkpoint" not in running
    assert str(team_a_job.public_id) in running


def test_requester_cancels_a_job(cast):
    job = Job.objects.create(kind="audit.verify", team=cast.team_a, requested_by=cast.engineer_a)
    response = client_for(cast.engineer_a).post(f"/jobs/{job.public_id}/cancel/")
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert events(AuditEventType.JOB_CANCEL_REQUESTED).get().actor_name == "erin-engineer"


def test_others_cannot_cancel(cast, team_a_job):
    other = User.objects.create_user(username="eve-engineer", password=PASSWORD)
    actions.do_grant_membership(cast.team_a, actor=cast.superuser, user=other, role=Role.ENGINEER)
    client = client_for(other)
    assert "Cancel job" not in client.get(f"/jobs/{team_a_job.public_id}/").content.decode()
    assert client.post(f"/jobs/{team_a_job.public_id}/cancel/").status_code == 403
    assert client_for(cast.engineer_b).post(f"/jobs/{team_a_job.public_id}/cancel/").status_code == 404
    team_a_job.refresh_from_db()
    assert team_a_job.cancel_requested_at is None


# --- The shared UI parts (core.ui and templates/partials) --------------------------------------------------------

VIEW_MODULES = (
    "core/views.py",
    "core/webhook_views.py",
    "governance/views.py",
    "governance/board_views.py",
    "governance/policy_views.py",
    "serving/views.py",
    "registry/views",
)


def test_list_helpers_keep_the_filter_and_drop_the_page():
    request = RequestFactory().get("/models/", {"team": "team-a", "page": "3", "q": ""})
    assert query_without_page(request) == "team=team-a&q="
    assert is_filtered(request)
    assert not is_filtered(RequestFactory().get("/models/", {"page": "2", "q": ""}))


def test_list_page_answers_the_last_page_for_a_number_past_the_end():
    request = RequestFactory().get("/jobs/", {"page": "9", "status": "failed"})
    context = list_page(request, list(range(5)), 2)
    assert (context["page"].number, list(context["page"].object_list)) == (3, [4])
    assert context["query"] == "status=failed"
    assert context["filtered"] is True


def test_an_action_refusal_lands_on_the_field_it_names():
    class GrantForm(forms.Form):
        username = forms.CharField()

    form = GrantForm({"username": "x"})
    assert form.is_valid()
    apply_validation_error(
        form, ValidationError({"user": "No such user.", "role": "Not a role."}), {"user": "username"}
    )
    assert form.errors == {"username": ["No such user."], "__all__": ["Not a role."]}
    form = GrantForm({"username": "x"})
    assert form.is_valid()
    apply_validation_error(form, ValidationError("Refused."))
    assert form.non_field_errors() == ["Refused."]


def test_filter_select_marks_the_chosen_values():
    choices = [("a", "Alpha"), ("b", "Beta"), ("c", "Gamma")]
    single = render_to_string(
        "partials/filter_select.html", {"id": "f-x", "name": "x", "label": "X", "choices": choices, "selected": "b"}
    )
    assert re.findall(r'<option value="(\w*)" selected>', single) == ["b"]
    several = render_to_string(
        "partials/filter_select.html",
        {"id": "f-x", "name": "x", "label": "X", "choices": choices, "selected_values": ["a", "c"]},
    )
    assert re.findall(r'<option value="(\w*)" selected>', several) == ["a", "c"]
    assert '<option value="">Any</option>' in several


def test_filter_errors_show_only_for_a_refused_filter():
    assert "not valid" not in render_to_string("partials/filter_errors.html", {"valid": True})
    assert "not valid" not in render_to_string("partials/filter_errors.html", {})
    refused = render_to_string("partials/filter_errors.html", {"valid": False})
    assert "The filter is not valid; nothing is shown." in refused


def test_pagination_keeps_the_query_and_names_its_direction():
    page = Paginator(list(range(5)), 2).get_page(2)
    html = render_to_string("partials/pagination.html", {"page": page, "query": "team=a"})
    assert 'href="?team=a&amp;page=1" rel="prev">← Previous</a>' in html
    assert 'href="?team=a&amp;page=3" rel="next">Next →</a>' in html
    log = render_to_string(
        "partials/pagination.html", {"page": page, "query": "", "previous_label": "← Newer", "next_label": "Older →"}
    )
    assert 'href="?page=1" rel="prev">← Newer</a>' in log
    single = Paginator([1], 2).get_page(1)
    assert render_to_string("partials/pagination.html", {"page": single}).strip() == ""


def _view_sources() -> list[Path]:
    root = Path(settings.BASE_DIR)
    paths: list[Path] = []
    for name in VIEW_MODULES:
        path = root / name
        paths.extend(sorted(path.glob("*.py")) if path.is_dir() else [path])
    return paths


def test_views_import_no_private_name_and_nothing_inside_a_function():
    sources = _view_sources()
    assert len(sources) >= 8
    private, nested = [], []
    for path in sources:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                private += [f"{path.name}: {alias.name}" for alias in node.names if alias.name.startswith("_")]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                nested += [
                    f"{path.name}: {node.name}"
                    for inner in ast.walk(node)
                    if isinstance(inner, ast.Import | ast.ImportFrom)
                ]
    assert private == []
    assert nested == []
