"""Forwarding Assay's own events to an external OpenLineage backend through the outbox (lineage.forwarding): what a
second receiver gets, a backend that is down (the job succeeds, the delivery waits with its error, and arrives once
the backend is back), and the forwarding settings' checks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from django.utils import timezone

from core.choices import JobStatus
from core.jobs import dispatch_job
from core.models import Job
from lineage import forwarding
from lineage.checks import check_openlineage_forwarding
from lineage.choices import DeliveryState
from lineage.emit import run_id
from lineage.models import LineageDelivery, LineageEvent
from tests.lineage.job_kinds import KIND, lineage_reader
from tests.lineage.receiver import Receiver
from tests.registry.factories import make_dataset, make_dataset_version
from workers.tasks import deliver_lineage_event, scheduled_lineage_deliveries, verify_audit_chain

API_KEY = "receiver-token"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def forwarding_to(settings: Any, receiver: Receiver) -> Receiver:
    settings.OPENLINEAGE_URL = receiver.url
    settings.OPENLINEAGE_API_KEY = API_KEY
    return receiver


def run_reader(cast: Any, capture: Any) -> Job:
    dataset = make_dataset(cast.team_a, cast.engineer_a, name="Events", location="lake://churn/events")
    version = make_dataset_version(dataset, cast.engineer_a)
    job, _ = dispatch_job(KIND, actor=cast.engineer_a, team=cast.team_a, params={"input": version.pk})
    # The after-commit callbacks (the delivery tasks) are published to the test broker, which no worker reads:
    # the tests send as the worker's task would, by calling it.
    with capture(execute=True):
        result = lineage_reader.apply(args=[job.pk], task_id=job.task_id)
    assert result.successful(), result.traceback
    job.refresh_from_db()
    return job


def test_a_jobs_events_arrive_at_the_second_receiver(
    cast: Any, forwarding_to: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN OPENLINEAGE_URL and OPENLINEAGE_API_KEY pointing at a second OpenLineage receiver
    WHEN a job runs and its delivery tasks run
    THEN the receiver gets START and COMPLETE, valid, with the key as a bearer token, and the outbox says so."""
    forwarding_to.start()
    job = run_reader(cast, django_capture_on_commit_callbacks)
    assert job.status == JobStatus.SUCCEEDED
    deliveries = list(LineageDelivery.objects.order_by("pk"))
    assert [(d.event_type, d.state, d.job_id, d.team_id) for d in deliveries] == [
        ("START", DeliveryState.PENDING, job.pk, cast.team_a.pk),
        ("COMPLETE", DeliveryState.PENDING, job.pk, cast.team_a.pk),
    ]
    assert deliveries[0].target == f"{forwarding_to.url}/api/v1/lineage"

    for delivery in deliveries:
        deliver_lineage_event.apply(args=(delivery.pk,))

    assert [item.event["eventType"] for item in forwarding_to.received] == ["START", "COMPLETE"]
    assert {item.path for item in forwarding_to.received} == {"/api/v1/lineage"}
    assert {item.authorization for item in forwarding_to.received} == {f"Bearer {API_KEY}"}
    # What arrives is what Assay stored.
    stored = LineageEvent.objects.get(run_id=run_id(job, 1), event_type="COMPLETE")
    assert forwarding_to.received[1].event == stored.payload
    assert forwarding_to.received[1].event["inputs"][0]["name"] == "churn/events"
    for delivery in deliveries:
        delivery.refresh_from_db()
        assert (delivery.state, delivery.attempts, delivery.last_error) == (DeliveryState.DELIVERED, 1, "")
        assert delivery.delivered_at is not None


def test_a_backend_that_is_down_fails_no_job_and_gets_the_events_once_back(
    cast: Any, forwarding_to: Receiver, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN an external backend that is down
    WHEN a job runs
    THEN the job succeeds; its deliveries stay pending with the error and a retry time
    WHEN the backend is back and the sweep runs once the retry is due
    THEN both events arrive, in order, and the deliveries say when."""
    job = run_reader(cast, django_capture_on_commit_callbacks)
    assert job.status == JobStatus.SUCCEEDED
    before = timezone.now()
    assert forwarding.deliver_due() == (0, 2)

    pending = list(LineageDelivery.objects.order_by("pk"))
    for delivery in pending:
        assert delivery.state == DeliveryState.PENDING
        assert delivery.attempts == 1
        assert "ConnectionError" in delivery.last_error
        assert delivery.next_attempt_at is not None
        assert delivery.next_attempt_at >= before + timedelta(seconds=settings.LINEAGE_DELIVERY_BACKOFF_SECONDS)
    # Not due yet: the sweep leaves them.
    assert forwarding.deliver_due() == (0, 0)
    # The delay is on the job's page: the run, and each delivery with its error.
    browser = Client()
    browser.force_login(cast.engineer_a)
    page = browser.get(f"/jobs/{job.public_id}/").content.decode()
    assert str(run_id(job, 1)) in page
    assert "ConnectionError" in page
    assert page.count("<td>Pending</td>") == 2
    assert f"{forwarding_to.url}/api/v1/lineage" in page

    forwarding_to.start()
    LineageDelivery.objects.update(next_attempt_at=timezone.now())
    scheduled_lineage_deliveries.apply()

    assert [item.event["eventType"] for item in forwarding_to.received] == ["START", "COMPLETE"]
    for delivery in pending:
        delivery.refresh_from_db()
        assert delivery.state == DeliveryState.DELIVERED
        assert delivery.attempts == 2
        assert "ConnectionError" in delivery.last_error  # the history of the delay stays visible
        assert delivery.delivered_at is not None


def test_a_backend_refusing_an_event_keeps_it_pending_with_the_answer(cast: Any, settings: Any, db: None) -> None:
    receiver = Receiver().start()
    try:
        settings.OPENLINEAGE_URL = receiver.url
        # No eventTime, job or producer: the receiver refuses it.
        payload = {"eventType": "START", "run": {"runId": "0190e0a8-0000-7000-8000-000000000001"}}
        delivery = forwarding.queue_delivery(payload, job=None)
        assert delivery is not None
        assert forwarding.deliver(delivery.pk) is False
    finally:
        receiver.stop()
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PENDING
    assert "400" in delivery.last_error


def test_a_delivery_being_sent_is_not_sent_again(settings: Any, db: None) -> None:
    settings.OPENLINEAGE_URL = "http://127.0.0.1:9"
    delivery = forwarding.queue_delivery({"eventType": "START"}, job=None)
    assert delivery is not None
    LineageDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() + forwarding.SEND_LEASE)
    assert forwarding.deliver(delivery.pk) is False
    delivery.refresh_from_db()
    assert delivery.attempts == 0


def test_without_a_backend_nothing_is_owed(cast: Any, db: None, django_capture_on_commit_callbacks: Any) -> None:
    run_reader(cast, django_capture_on_commit_callbacks)
    assert not LineageDelivery.objects.exists()
    assert forwarding.deliver_due() == (0, 0)


def test_a_job_without_a_team_is_forwarded(
    cast: Any, forwarding_to: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    """The audit chain's jobs are not stored (no team namespace) but are forwarded, in the platform namespace."""
    forwarding_to.start()
    job, _ = dispatch_job("audit.verify", actor=cast.compliance)
    with django_capture_on_commit_callbacks(execute=True):
        assert verify_audit_chain.apply(args=[job.pk], task_id=job.task_id).successful()
    assert forwarding.deliver_due() == (2, 0)
    assert [(item.event["job"]["namespace"], item.event["eventType"]) for item in forwarding_to.received] == [
        ("assay", "START"),
        ("assay", "COMPLETE"),
    ]
    assert LineageDelivery.objects.filter(team__isnull=True).count() == 2


def test_backoff_doubles_up_to_its_cap(settings: Any) -> None:
    settings.LINEAGE_DELIVERY_BACKOFF_SECONDS = 30
    settings.LINEAGE_DELIVERY_MAX_BACKOFF_SECONDS = 600
    assert [forwarding.backoff(n).total_seconds() for n in (1, 2, 3, 4, 5, 6, 100)] == [
        30,
        60,
        120,
        240,
        480,
        600,
        600,
    ]


# --- Configuration ----------------------------------------------------------------------------------------------------


def test_an_openlineage_yml_wins_over_the_url(settings: Any, tmp_path: Path) -> None:
    config = tmp_path / "openlineage.yml"
    config.write_text(
        "transport:\n  type: http\n  url: http://marquez:5000\n  endpoint: api/v1/lineage\n"
        "  auth:\n    type: api_key\n    apiKey: k\n"
    )
    settings.OPENLINEAGE_CONFIG = str(config)
    settings.OPENLINEAGE_URL = "http://elsewhere:1"
    loaded = forwarding.forwarding_config()
    assert loaded is not None
    assert forwarding.forwarding_target(loaded) == "http://marquez:5000/api/v1/lineage"
    assert forwarding.forward_transport(loaded).kind == "http"
    assert check_openlineage_forwarding(None) == []


def test_the_url_without_a_key_sends_no_authorization(settings: Any) -> None:
    settings.OPENLINEAGE_URL = "https://marquez.example"
    settings.OPENLINEAGE_API_KEY = ""
    assert forwarding.forwarding_config() == {
        "type": "http",
        "url": "https://marquez.example",
        "endpoint": "api/v1/lineage",
    }


@pytest.mark.parametrize(
    ("setting", "value", "code", "says"),
    [
        ("OPENLINEAGE_URL", "ftp://marquez", "lineage.E001", "not an http(s) URL"),
        ("OPENLINEAGE_URL", "marquez:5000", "lineage.E001", "not an http(s) URL"),
        ("OPENLINEAGE_CONFIG", "/nonexistent/openlineage.yml", "lineage.E002", "cannot be read"),
    ],
)
def test_a_malformed_setting_is_a_system_check_error(
    settings: Any, setting: str, value: str, code: str, says: str
) -> None:
    setattr(settings, setting, value)
    errors = check_openlineage_forwarding(None)
    assert [error.id for error in errors] == [code]
    assert says in errors[0].msg


@pytest.mark.parametrize(
    ("text", "code", "says"),
    [
        ("transport: [unclosed", "lineage.E002", "cannot be read"),
        ("facets: {}\n", "lineage.E002", "no transport section"),
        ("transport:\n  type: carrier-pigeon\n", "lineage.E003", "cannot build the forwarding transport"),
        ("transport:\n  type: http\n", "lineage.E003", "cannot build the forwarding transport"),
    ],
)
def test_a_malformed_openlineage_yml_is_a_system_check_error(
    settings: Any, tmp_path: Path, text: str, code: str, says: str
) -> None:
    config = tmp_path / "openlineage.yml"
    config.write_text(text)
    settings.OPENLINEAGE_CONFIG = str(config)
    errors = check_openlineage_forwarding(None)
    assert [error.id for error in errors] == [code]
    assert says in errors[0].msg


def test_manage_check_fails_on_a_malformed_url(settings: Any) -> None:
    settings.OPENLINEAGE_URL = "not a url"
    with pytest.raises(SystemCheckError, match=r"lineage\.E001"):
        call_command("check")
