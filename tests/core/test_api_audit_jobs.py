"""Reading the audit log and following jobs through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from core import actions
from core.choices import AuditEventType, JobStatus, Role
from core.jobs import dispatch_job
from core.models import AuditEvent, Job
from tests.api_cases import assert_error_shape

EVENTS = "/api/v1/audit-events/"


def seqs(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [event["seq"] for event in response.json()["results"]]


@pytest.fixture
def history(cast):
    """A few events of team A by different actors, on top of the cast's own."""
    actions.do_update_team(cast.team_a, actor=cast.admin_a, description="Models for credit risk.")
    actions.do_grant_membership(cast.team_a, actor=cast.admin_a, user=cast.engineer_b, role=Role.AUDITOR)
    actions.do_update_team(cast.team_b, actor=cast.superuser, description="Fraud.")
    return AuditEvent.objects.order_by("seq")


def test_an_auditor_reads_their_teams_events_and_the_platform_wide_ones(cast, api_as, history):
    """GIVEN events of team A, of team B and of no team (the tokens the test clients sign in with)
    WHEN team A's auditor lists the audit log
    THEN they read team A's and the platform-wide events, never team B's."""
    response = api_as(cast.auditor).get(f"{EVENTS}?page_size=200")
    teams = {event["team_slug"] for event in response.json()["results"]}
    assert teams == {"team-a", ""}
    expected = history.filter(team_slug__in=["team-a", ""]).order_by("-seq").values_list("seq", flat=True)
    assert seqs(response) == list(expected)


def test_a_team_admin_reads_only_their_teams_events(cast, api_as, history):
    """GIVEN events of team A and platform-wide events
    WHEN team A's admin lists the audit log
    THEN only team A's events are listed: sign-ins and personal tokens are for compliance and audit."""
    response = api_as(cast.admin_a).get(f"{EVENTS}?page_size=200")
    assert {event["team_slug"] for event in response.json()["results"]} == {"team-a"}


def test_a_superuser_reads_every_event_including_teamless_ones(cast, api_as, history):
    client = api_as(cast.superuser)
    response = client.get(f"{EVENTS}?page_size=200")
    assert seqs(response) == list(AuditEvent.objects.order_by("-seq").values_list("seq", flat=True))


@pytest.mark.parametrize("persona", ["engineer_a", "engineer_b", "reviewer_legal"])
def test_people_without_an_audit_role_are_refused(cast, api_as, persona):
    response = api_as(cast.all()[persona]).get(EVENTS)
    assert response.status_code == 403
    assert "compliance officers, auditors" in assert_error_shape(response)["message"]


def test_filter_by_actor(cast, api_as, history):
    response = api_as(cast.compliance).get(f"{EVENTS}?actor=alice-admin")
    expected = history.filter(actor_name="alice-admin", team_slug="team-a").order_by("-seq")
    assert seqs(response) == list(expected.values_list("seq", flat=True))
    assert len(expected) == 2


def test_filter_by_type_accepts_several_and_refuses_unknown_ones(cast, api_as, history):
    client = api_as(cast.compliance)
    response = client.get(f"{EVENTS}?event_type=team.updated&event_type=team.created")
    types = {event["event_type"] for event in response.json()["results"]}
    assert types == {"team.updated", "team.created"}
    bad = client.get(f"{EVENTS}?event_type=team.deleted")
    assert bad.status_code == 400
    assert "event_type" in assert_error_shape(bad)["fields"]


def test_filter_by_target(cast, api_as, history):
    response = api_as(cast.compliance).get(f"{EVENTS}?target_type=core.team&target_id={cast.team_a.pk}")
    results = response.json()["results"]
    assert {event["event_type"] for event in results} == {"team.created", "team.updated"}
    assert {event["target_id"] for event in results} == {str(cast.team_a.pk)}


def test_filter_by_team_within_scope(cast, api_as, history):
    client = api_as(cast.superuser)
    assert {e["team_slug"] for e in client.get(f"{EVENTS}?team=team-b").json()["results"]} == {"team-b"}
    assert api_as(cast.compliance).get(f"{EVENTS}?team=team-b").json()["results"] == []


def test_filter_by_time_range(cast, api_as, history):
    client = api_as(cast.compliance)
    middle = history.filter(event_type=AuditEventType.TEAM_UPDATED, team_slug="team-a").get()
    after = middle.occurred_at.isoformat()
    before = (middle.occurred_at + timedelta(microseconds=1)).isoformat()
    window = client.get(EVENTS, {"occurred_after": after, "occurred_before": before})
    assert seqs(window) == [middle.seq]
    future = client.get(EVENTS, {"occurred_after": (timezone.now() + timedelta(days=1)).isoformat()})
    assert seqs(future) == []
    bad = client.get(EVENTS, {"occurred_after": "yesterday"})
    assert bad.status_code == 400
    assert "occurred_after" in assert_error_shape(bad)["fields"]


def test_detail_is_by_seq_and_a_non_number_is_404(cast, api_as, history):
    client = api_as(cast.compliance)
    event = history.filter(team_slug="team-a").last()
    assert client.get(f"{EVENTS}{event.seq}/").json()["hash"] == event.hash
    assert client.get(f"{EVENTS}abc/").status_code == 404


def test_verify_reports_an_intact_chain(cast, api_as, history):
    response = api_as(cast.auditor).get(f"{EVENTS}verify/")
    assert response.status_code == 200
    body = response.json()
    assert body["intact"] is True
    assert body["head_seq"] == AuditEvent.objects.latest("seq").seq


def test_reading_the_audit_log_writes_nothing(cast, api_as, history):
    client = api_as(cast.auditor)
    before = AuditEvent.objects.count()
    client.get(EVENTS)
    client.get(f"{EVENTS}verify/")
    assert AuditEvent.objects.count() == before


# --- Jobs ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def team_job(cast):
    job, _ = dispatch_job("audit.verify", actor=cast.engineer_a, team=cast.team_a)
    return job


def test_a_job_is_visible_to_its_requester_and_the_team_only(cast, api_as, team_job):
    url = f"/api/v1/jobs/{team_job.public_id}/"
    assert api_as(cast.reviewers["legal"]).get(url).status_code == 200
    assert api_as(cast.engineer_b).get(url).status_code == 404
    detail = api_as(cast.engineer_a).get(url).json()
    assert (detail["requested_by"], detail["team"], detail["status"]) == ("erin-engineer", "team-a", "queued")
    assert detail["log"][0]["message"] == "queued by erin-engineer"


def test_the_requester_cancels_a_queued_job(cast, api_as, team_job):
    # GIVEN a queued job of engineer_a WHEN they cancel it
    response = api_as(cast.engineer_a).post(f"/api/v1/jobs/{team_job.public_id}/cancel/")
    # THEN it is cancelled at once, with the request and the cancellation in the audit log
    assert response.status_code == 200
    assert response.json()["status"] == JobStatus.CANCELLED
    types = list(
        AuditEvent.objects.filter(target_type="core.job", target_id=str(team_job.pk))
        .order_by("seq")
        .values_list("event_type", flat=True)
    )
    assert types == [AuditEventType.JOB_REQUESTED, AuditEventType.JOB_CANCEL_REQUESTED, AuditEventType.JOB_CANCELLED]


def test_a_team_member_who_did_not_request_it_cannot_cancel(cast, api_as, team_job):
    client = api_as(cast.compliance)
    before = AuditEvent.objects.count()
    response = client.post(f"/api/v1/jobs/{team_job.public_id}/cancel/")
    assert response.status_code == 403
    assert_error_shape(response)
    assert Job.objects.get(pk=team_job.pk).status == JobStatus.QUEUED
    assert AuditEvent.objects.count() == before


def test_cancelling_a_finished_job_changes_nothing(cast, api_as, team_job):
    client = api_as(cast.engineer_a)
    client.post(f"/api/v1/jobs/{team_job.public_id}/cancel/")
    before = AuditEvent.objects.count()
    again = client.post(f"/api/v1/jobs/{team_job.public_id}/cancel/")
    assert again.status_code == 200
    assert again.json()["status"] == JobStatus.CANCELLED
    assert AuditEvent.objects.count() == before


def test_job_filters(cast, api_as, team_job):
    client = api_as(cast.engineer_a)
    assert [j["id"] for j in client.get("/api/v1/jobs/?status=queued").json()["results"]] == [str(team_job.public_id)]
    assert client.get("/api/v1/jobs/?status=succeeded").json()["results"] == []
    assert client.get("/api/v1/jobs/?status=exploded").status_code == 400
    assert client.get("/api/v1/jobs/not-a-uuid/").status_code == 404


def test_requesting_a_verification_twice_with_one_key_starts_one_job(cast, api_as):
    client = api_as(cast.auditor)
    first = client.post("/api/v1/audit-verifications/", {"idempotency_key": "k-1"}, format="json")
    second = client.post("/api/v1/audit-verifications/", {"idempotency_key": "k-1"}, format="json")
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["id"] == second.json()["id"]
    assert Job.objects.filter(kind="audit.verify").count() == 1


def test_a_service_account_cannot_start_a_verification_even_as_an_auditor(cast):
    # GIVEN an auditor service account of team A, with a token its admin made
    account = actions.do_create_service_account(
        cast.team_a, actor=cast.admin_a, username="svc-audit", role=Role.AUDITOR
    )
    _, token = actions.do_create_token(actor=cast.admin_a, owner=account.user, name="audit")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    # WHEN it asks for a verification THEN it is refused; reading the log is fine
    assert client.post("/api/v1/audit-verifications/", {}, format="json").status_code == 403
    assert client.get(EVENTS).status_code == 200
    assert not Job.objects.exists()


# --- A refused dispatch leaves nothing (issue 10, "Faults") ----------------------------------------------------------


@pytest.fixture
def broker(monkeypatch, tmp_path):
    """Point this process's Celery app at a broker for the rest of the test: ``broker.filesystem()`` (a broker
    folder of the test's own, ``broker.folder``) or ``broker.at(url)``. Restored at teardown."""
    from kombu import pools

    from assay.celery import app

    original = (app.conf.broker_url, app.conf.broker_transport_options)

    def reset_pools() -> None:
        pools.reset()  # the pools hold connections to the previous broker; Celery caches its own on the app
        app._pool = None  # type: ignore[attr-defined]
        app.amqp._producer_pool = None  # type: ignore[attr-defined]

    class Broker:
        folder = tmp_path / "broker"

        def at(self, url: str, options: dict | None = None) -> None:
            monkeypatch.setenv("CELERY_BROKER_URL", url)  # Celery prefers the environment to its configuration
            app.conf.update(broker_url=url, broker_transport_options=options or {})
            reset_pools()

        def filesystem(self) -> None:
            for name in ("queue", "processed", "control"):
                (self.folder / name).mkdir(parents=True, exist_ok=True)
            queue = str(self.folder / "queue")
            self.at(
                "filesystem://",
                {
                    "data_folder_in": queue,
                    "data_folder_out": queue,
                    "processed_folder": str(self.folder / "processed"),
                    "control_folder": str(self.folder / "control"),
                    "store_processed": False,
                },
            )

        def messages(self) -> list[str]:
            return [path.name for path in (self.folder / "queue").iterdir()]

    yield Broker()
    monkeypatch.undo()
    url, options = original
    app.conf.update(broker_url=url, broker_transport_options=options)
    reset_pools()


def _job_rows_and_events() -> tuple[int, int]:
    return Job.objects.count(), AuditEvent.objects.filter(event_type__startswith="job.").count()


def _refused_then_retried(client, break_broker, mend_broker) -> dict:
    break_broker()
    refused = client.post("/api/v1/audit-verifications/", {"idempotency_key": "nightly-7"}, format="json")
    assert refused.status_code == 503, refused.content
    assert assert_error_shape(refused)["code"] == "broker_unavailable"
    assert _job_rows_and_events() == (0, 0)
    mend_broker()
    retried = client.post("/api/v1/audit-verifications/", {"idempotency_key": "nightly-7"}, format="json")
    assert retried.status_code == 202, retried.content
    job = Job.objects.get()
    assert (str(job.public_id), job.status, job.idempotency_key) == (
        retried.json()["id"],
        JobStatus.QUEUED,
        "nightly-7",
    )
    assert list(AuditEvent.objects.filter(event_type__startswith="job.").values_list("event_type", flat=True)) == [
        AuditEventType.JOB_REQUESTED
    ]
    return retried.json()


@pytest.mark.django_db(transaction=True)
def test_a_dispatch_refused_by_an_unusable_filesystem_broker_leaves_nothing_and_the_retry_starts_the_job(
    cast, api_as, broker
):
    # GIVEN the filesystem broker, whose queue folder is unusable (a file stands where the folder should be)
    broker.filesystem()
    queue = broker.folder / "queue"

    def unusable() -> None:
        queue.rmdir()
        queue.write_text("not a folder")

    def usable_again() -> None:
        queue.unlink()
        queue.mkdir()

    # WHEN an auditor asks for a verification, and asks again with the same key once the folder is back
    # THEN the first answer is a 503 that wrote no job and no event; the retry starts the job, and its message waits
    _refused_then_retried(api_as(cast.auditor), unusable, usable_again)
    assert len(broker.messages()) == 1


@pytest.mark.django_db(transaction=True)
def test_a_dispatch_refused_by_an_unreachable_redis_broker_leaves_nothing_and_the_retry_starts_the_job(
    cast, api_as, broker
):
    # GIVEN a Redis broker on a port where nothing listens
    # WHEN an auditor asks for a verification, and asks again with the same key once a broker answers
    # THEN the first answer is a 503 that wrote no job and no event; the retry starts the job
    _refused_then_retried(api_as(cast.auditor), lambda: broker.at("redis://127.0.0.1:6390/0"), broker.filesystem)
    assert len(broker.messages()) == 1


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_message_is_lost_after_the_check_is_failed_and_the_retry_with_its_key_starts_another(
    cast, api_as, broker, monkeypatch
):
    from core import jobs

    client = api_as(cast.auditor)
    # GIVEN a broker that passes the pre-flight check and is gone when the job's message is published after commit
    check = jobs.check_broker
    monkeypatch.setattr(jobs, "check_broker", lambda: None)
    broker.at("redis://127.0.0.1:6390/0")
    # WHEN an auditor asks for a verification
    lost = client.post("/api/v1/audit-verifications/", {"idempotency_key": "nightly-8"}, format="json")
    # THEN it is a 503, and the job that was recorded is failed (never left queued) and gives its key back
    assert lost.status_code == 503, lost.content
    failed = Job.objects.get()
    assert (failed.status, failed.idempotency_key) == (JobStatus.FAILED, "")
    # WHEN the broker is back and the same request is sent again
    monkeypatch.setattr(jobs, "check_broker", check)
    broker.filesystem()
    retried = client.post("/api/v1/audit-verifications/", {"idempotency_key": "nightly-8"}, format="json")
    # THEN a new job starts: the failed one never ran
    assert retried.status_code == 202, retried.content
    job = Job.objects.get(public_id=retried.json()["id"])
    assert (job.pk != failed.pk, job.status, job.idempotency_key) == (True, JobStatus.QUEUED, "nightly-8")
    assert len(broker.messages()) == 1
