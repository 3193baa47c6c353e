"""The compliance demo (`manage.py seed_compliance_demo`, run by `make run`), tried as a new user would: a retention
dry run lists what would go, a real run deletes it with tombstones and audit events, the hold keeps the credit
dataset's versions through the run, and releasing that hold needs a second officer."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from compliance import actions
from compliance.models import DataAccessGrant, LegalHold, Purge, RetentionPolicy
from core.choices import AuditEventType
from core.models import AuditEvent, Notification
from core.refusals import Refusal
from registry import actions as registry_actions
from registry.access import is_usable
from registry.models import DatasetVersion, ModelVersion

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def demo(settings: Any, tmp_path: Path) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.DATA_LAKE_ROOT = str(tmp_path / "lake")
    for command in ("seed_demo", "seed_registry_demo", "seed_compliance_demo"):
        call_command(command, stdout=StringIO())


def test_the_demo_is_idempotent(demo: None) -> None:
    out = StringIO()
    call_command("seed_compliance_demo", stdout=out)
    assert "Compliance demo present." in out.getvalue()
    assert RetentionPolicy.objects.count() == 3
    assert LegalHold.objects.count() == 1
    assert DataAccessGrant.objects.count() == 1


def test_the_fraud_team_borrows_the_loan_applications_through_an_approved_grant(demo: None) -> None:
    """GIVEN the demo WHEN the fraud team's engineer looks THEN the loan applications are usable by the fraud team
    through a grant both sides approved (ada-admin for credit-risk, carol-compliance), and the requester was told."""
    grant = DataAccessGrant.objects.select_related("dataset", "team", "requested_by").get()
    assert (grant.dataset.name, grant.team.slug, grant.status) == ("loan-applications", "fraud", "approved")
    assert sorted(grant.decisions.values_list("side", "decided_by__username")) == [
        ("compliance", "carol-compliance"),
        ("owner", "ada-admin"),
    ]
    assert is_usable(grant.dataset, grant.team)
    assert Notification.objects.filter(recipient=grant.requested_by, kind="compliance.grant_decided").exists()


def test_dry_run_real_run_hold_and_a_release_by_two_officers(demo: None, settings: Any) -> None:
    names = ("carol-compliance", "olga-compliance", "erin-engineer")
    carol, olga, erin = (User.objects.get(username=name) for name in names)
    # GIVEN the demo's scorer retired, and a year gone by
    version = ModelVersion.objects.get(model__name="credit-limit-scorer")
    registry_actions.do_change_version_status(version, actor=erin, to_status="retired", reason="Replaced.")
    later = timezone.now() + timedelta(days=400)
    applications = [str(v) for v in DatasetVersion.objects.filter(dataset__name="loan-applications").order_by("number")]
    # WHEN the dry run looks THEN the scorer's artifact would go, the held applications are kept, nothing is deleted
    dry = actions.run_retention(job=None, dry_run=True, now=later)
    assert [entry["record"] for entry in dry["purged"]] == [str(version)]
    assert sorted(entry["record"] for entry in dry["skipped"]) == applications
    assert all("LIT-2026-014" in entry["why"] for entry in dry["skipped"])
    assert not Purge.objects.exists()
    # WHEN the real run comes THEN the artifact is purged with a tombstone and audit events; the applications stay
    real = actions.run_retention(job=None, now=later)
    assert [entry["record"] for entry in real["purged"]] == [str(version)]
    assert Purge.objects.get().digest == version.artifact_sha256
    assert AuditEvent.objects.filter(event_type=AuditEventType.RETENTION_PURGED).count() == 1
    assert not Purge.objects.filter(target_type="registry.datasetversion").exists()
    # WHEN carol asks to release the hold and confirms it herself THEN refused; olga's confirmation releases it
    hold = LegalHold.objects.get()
    actions.do_request_hold_release(hold, actor=carol, note="Judgment given.")
    with pytest.raises(Refusal, match="second compliance officer"):
        actions.do_confirm_hold_release(hold, actor=carol)
    actions.do_confirm_hold_release(hold, actor=olga)
    # ... and the next run lets the applications go. Both versions read the dataset's one location in Assay's lake
    # (seed_registry_demo writes v2's rows there): v1's tombstone says the bytes were kept for v2, v2's that they were
    # deleted
    after = actions.run_retention(job=None, now=later)
    assert sorted(entry["record"] for entry in after["purged"]) == applications
    tombstones = Purge.objects.filter(target_type="registry.datasetversion").order_by("id")
    assert [p.detail["bytes"] for p in tombstones] == ["kept", "deleted"]
    assert not (Path(settings.DATA_LAKE_ROOT) / "demo" / "loan-applications" / "part-0.parquet").exists()
