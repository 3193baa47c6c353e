"""Retention: bounded policies, versioned; the run (dry and real) with tombstones and audit events; legal holds
keeping records through it; a purge failing half-way and resumed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from compliance import actions
from compliance.actions import retention as retention_actions
from compliance.models import Purge, RetentionPolicy, RetentionPolicyVersion
from compliance.retention import is_purged, register_target, target_for, targets
from core.choices import AuditEventType
from core.jobs import dispatch_job
from core.models import AuditEvent, Job, JobLogLine
from registry import artifacts
from tests.compliance.conftest import Estate
from workers import tasks
from workers.runner import run_job

pytestmark = pytest.mark.django_db

LATER = timedelta(days=400)


@pytest.fixture(autouse=True)
def _registered_targets() -> Iterator[None]:
    """A test that swaps a target's eraser (to fail it) gets the real one back."""
    saved = targets()
    yield
    for target in saved.values():
        register_target(target)


def policy(cast: Any, kind: str = "dataset_version_files", **rules: Any) -> RetentionPolicy:
    values = {"classification": "confidential", "keep_days": 365, "counted_from": "created", **rules}
    return actions.do_create_retention_policy(cast.team_a, actor=cast.compliance, target_kind=kind, **values)


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"keep_days": -1}, "keep_days"),
        ({"keep_days": 0}, "keep_days"),
        ({"keep_days": 36_501}, "keep_days"),
        ({"keep_days": 10**12}, "keep_days"),
        ({"keep_days": True}, "keep_days"),
        ({"keep_days": "30"}, "keep_days"),
        ({"counted_from": "retired"}, "counted_from"),
        ({"on_expiry": "anonymise"}, "on_expiry"),
        ({"on_expiry": "shred"}, "on_expiry"),
        ({"classification": "secret"}, "classification"),
    ],
)
def test_bad_policies_are_refused_naming_the_field(cast: Any, rules: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        policy(cast, **rules)
    assert not RetentionPolicy.objects.exists()
    assert not AuditEvent.objects.filter(event_type=AuditEventType.RETENTION_POLICY_CREATED).exists()


def test_an_unknown_kind_and_a_second_policy_for_the_same_records_are_refused(cast: Any) -> None:
    with pytest.raises(ValidationError, match="target_kind"):
        policy(cast, kind="tapes")
    policy(cast)
    with pytest.raises(ValidationError, match="change it"):
        policy(cast)


def test_only_compliance_officers_write_policies(cast: Any) -> None:
    with pytest.raises(PermissionDenied, match="compliance officers"):
        actions.do_create_retention_policy(
            cast.team_a,
            actor=cast.admin_a,
            target_kind="job_logs",
            classification="internal",
            keep_days=30,
            counted_from="finished",
        )


def test_a_change_is_a_new_version_with_its_reason(cast: Any) -> None:
    created = policy(cast)
    version = actions.do_change_retention_policy(created, actor=cast.compliance, keep_days=730, note="Tax law: 2y.")
    assert list(created.versions.values_list("number", "keep_days")) == [(2, 730), (1, 365)]
    assert version.counted_from == "created"
    changed = AuditEvent.objects.get(event_type=AuditEventType.RETENTION_POLICY_CHANGED)
    assert (changed.before or {})["keep_days"] == 365
    assert (changed.after or {})["keep_days"] == 730
    with pytest.raises(ValidationError, match="keep_days"):
        actions.do_change_retention_policy(created, actor=cast.compliance, keep_days=-5, note="typo")
    with pytest.raises(ValidationError, match="note"):
        actions.do_change_retention_policy(created, actor=cast.compliance, keep_days=5, note="")
    assert RetentionPolicyVersion.objects.count() == 2


def test_dry_run_lists_real_run_purges_and_a_hold_keeps_the_dataset(cast: Any, estate: Estate, officer_2: Any) -> None:
    # GIVEN a year's retention of confidential dataset files and of retired model artifacts, a hold on the credit
    # dataset, and a second dataset nobody holds
    policy(cast)
    policy(cast, kind="model_artifacts", counted_from="retired", keep_days=30, classification="internal")
    hold = actions.do_place_hold(
        cast.team_a,
        actor=cast.compliance,
        scope="dataset",
        dataset=estate.dataset,
        case_reference="CASE-7",
        reason="Pending litigation.",
    )
    other = make_other(cast, estate)
    now = timezone.now() + LATER
    # WHEN a dry run looks ahead
    dry = actions.run_retention(job=None, dry_run=True, now=now)
    # THEN it lists what would go and what the hold keeps, and deletes nothing
    assert sorted(entry["record"] for entry in dry["purged"]) == sorted([str(other), str(estate.model_version)])
    assert [entry["record"] for entry in dry["skipped"]] == [str(estate.version)]
    assert "CASE-7" in dry["skipped"][0]["why"]
    assert not Purge.objects.exists()
    assert (estate.files / "part-0.parquet").exists()
    # WHEN the real run comes
    report = actions.run_retention(job=None, now=now)
    # THEN the unheld records are purged with tombstones and audit events, the held one is kept
    assert len(report["purged"]) == 2
    assert not (estate.files.parent / "other").exists()
    with pytest.raises(artifacts.ArtifactMissing, match="No artifact"):
        artifacts.verify(estate.model_version.artifact_sha256)
    tombstone = Purge.objects.get(target_id=str(estate.model_version.pk), target_type="registry.modelversion")
    assert tombstone.state == "done"
    assert tombstone.digest == estate.model_version.artifact_sha256
    assert tombstone.size == estate.model_version.artifact_size
    assert tombstone.policy_version is not None
    assert tombstone.notice.startswith("purged under policy model_artifacts/internal")
    purged = AuditEvent.objects.filter(event_type=AuditEventType.RETENTION_PURGED)
    assert purged.count() == 2
    assert all((event.after or {})["policy_version"] for event in purged)
    assert (estate.files / "part-0.parquet").exists()
    assert not is_purged(estate.version)
    # WHEN the hold is released by two officers and the job runs again THEN the dataset's files go too
    actions.do_request_hold_release(hold, actor=cast.compliance, note="Settled.")
    actions.do_confirm_hold_release(hold, actor=officer_2)
    again = actions.run_retention(job=None, now=now)
    assert [entry["record"] for entry in again["purged"]] == [str(estate.version)]
    assert not estate.files.exists()


def make_other(cast: Any, estate: Estate) -> Any:
    from tests.registry.factories import make_dataset, make_dataset_version

    folder = estate.files.parent / "other"
    folder.mkdir()
    (folder / "a.csv").write_text("a\n1\n")
    dataset = make_dataset(cast.team_a, cast.engineer_a, name="Other", location="lake://other")
    return make_dataset_version(dataset, cast.engineer_a)


def test_nothing_expires_before_its_time_or_without_a_policy(cast: Any, estate: Estate) -> None:
    assert actions.run_retention(job=None, now=timezone.now() + LATER)["purged"] == []
    policy(cast)
    assert actions.run_retention(job=None, now=timezone.now() + timedelta(days=300))["purged"] == []
    suspended = RetentionPolicy.objects.get()
    actions.do_change_retention_policy(suspended, actor=cast.compliance, active=False, note="Audit in progress.")
    assert actions.run_retention(job=None, now=timezone.now() + LATER)["purged"] == []


def test_shared_artifact_bytes_stay_while_another_version_uses_them(cast: Any, estate: Estate, onnx_path: Path) -> None:
    from tests.registry.factories import make_model_version

    twin = make_model_version(estate.model, cast.engineer_a, onnx_path)  # same bytes, same digest
    purge = actions.do_delete_record_bytes(estate.model_version, actor=cast.admin_a, reason="Retired long ago.")
    assert purge.detail["bytes"] == "kept"
    artifacts.verify(twin.artifact_sha256)


def test_a_hold_placed_after_the_listing_is_seen_under_the_lock(
    cast: Any, estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the run's listing saw no hold (as if the hold came right after it)
    policy(cast)
    actions.do_place_hold(cast.team_a, actor=cast.compliance, scope="team", case_reference="LATE", reason="r")
    monkeypatch.setattr(retention_actions, "holds_covering", lambda record, **kw: [])
    # WHEN the run purges THEN the purge re-checks under the holds lock and keeps the record
    report = actions.run_retention(job=None, now=timezone.now() + LATER)
    assert report["purged"] == []
    assert report["skipped"][0]["code"] == "under_legal_hold"
    assert (estate.files / "part-0.parquet").exists()
    assert not Purge.objects.exists()


def test_a_purge_failing_half_way_leaves_a_pending_tombstone_and_the_next_run_resumes(
    cast: Any, estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a purge whose deletion fails after some bytes went (the disk refuses the rest)
    policy(cast)
    target = target_for("dataset_version_files")

    def failing(candidate: Any, on_expiry: str) -> dict[str, Any]:
        (estate.files / "part-0.parquet").unlink()
        raise PermissionError("read-only file system")

    register_target(replace(target, erase=failing))
    now = timezone.now() + LATER
    report = actions.run_retention(job=None, now=now)
    # THEN the run reports the failure, and the tombstone is pending: the row says its bytes may be gone
    assert report["failed"][0]["record"] == str(estate.version)
    assert "read-only" in report["failed"][0]["why"]
    tombstone = Purge.objects.get()
    assert tombstone.state == "pending"
    assert tombstone.notice.startswith("being purged since")
    assert is_purged(estate.version)
    assert AuditEvent.objects.filter(event_type=AuditEventType.RETENTION_PURGE_STARTED).count() == 1
    # WHEN the disk is back and the next run comes THEN it resumes and finishes the same tombstone
    register_target(target)
    again = actions.run_retention(job=None, now=now)
    assert [entry["record"] for entry in again["resumed"]] == [str(estate.version)]
    tombstone.refresh_from_db()
    assert tombstone.state == "done"
    assert not estate.files.exists()
    assert Purge.objects.count() == 1


def test_the_job_runs_the_policies_and_fails_visibly(
    cast: Any, estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy(cast)
    monkeypatch.setattr(retention_actions, "clock", lambda: timezone.now() + LATER)
    job, _ = dispatch_job("compliance.retention", actor=cast.compliance, team=cast.team_a, params={"dry_run": True})
    run_job(job.pk, tasks.apply_retention.job_fn, task_id=job.task_id, worker="test")
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert [entry["record"] for entry in job.result["purged"]] == [str(estate.version)]
    assert not Purge.objects.exists()

    target = target_for("dataset_version_files")

    def failing(candidate: Any, on_expiry: str) -> dict[str, Any]:
        raise OSError("disk on fire")

    register_target(replace(target, erase=failing))
    job, _ = dispatch_job("compliance.retention", actor=cast.compliance, team=cast.team_a, params={})
    run_job(job.pk, tasks.apply_retention.job_fn, task_id=job.task_id, worker="test")
    job.refresh_from_db()
    assert job.status == "failed"
    assert str(estate.version) in job.error
    assert "resumes" in job.error


def test_job_logs_expire_after_the_job_ends(cast: Any) -> None:
    job, _ = dispatch_job("compliance.retention", actor=cast.compliance, team=cast.team_a, params={"dry_run": True})
    run_job(job.pk, tasks.apply_retention.job_fn, task_id=job.task_id, worker="test")
    assert JobLogLine.objects.filter(job=job).exists()
    policy(cast, kind="job_logs", classification="internal", counted_from="finished", keep_days=90)
    report = actions.run_retention(job=None, now=timezone.now() + LATER)
    assert str(job) in [entry["record"] for entry in report["purged"]]
    assert not JobLogLine.objects.filter(job=job).exists()
    assert Job.objects.filter(pk=job.pk).exists()


def test_expiring_lists_the_next_days(cast: Any, estate: Estate) -> None:
    policy(cast, keep_days=20)
    assert actions.expiring(None, within_days=10) == []
    rows = actions.expiring(None, within_days=30)
    assert [row["record"] for row in rows] == [str(estate.version)]
    assert rows[0]["held_by"] == ""


def test_feature_set_files_expire_and_a_dataset_hold_keeps_them(cast: Any, artifact_root: Path) -> None:
    from registry import actions as registry_actions
    from tests.registry.factories import fingerprint, make_events_dataset, make_feature_view

    # GIVEN a materialized feature set of the events dataset, its Parquet under the artifact root
    dataset, source = make_events_dataset(cast.team_a, cast.engineer_a, location="lake://events")
    view = make_feature_view(cast.team_a, cast.engineer_a, dataset)
    job, _ = dispatch_job("registry.materialize_features", actor=cast.engineer_a, team=cast.team_a, target=view)
    folder = artifact_root / "features" / str(job.public_id)
    folder.mkdir(parents=True)
    (folder / "part-0.parquet").write_bytes(b"PAR1")
    feature_set = registry_actions.do_register_feature_set_version(
        view,
        actor=cast.engineer_a,
        dataset_versions=[source.pk],
        job=job,
        storage_location=f"features/{job.public_id}",
        output_fingerprint=fingerprint("output"),
        row_count=1,
    )
    policy(cast, kind="feature_set_files", keep_days=30)
    hold = actions.do_place_hold(
        cast.team_a, actor=cast.compliance, scope="dataset", dataset=dataset, case_reference="F-1", reason="r"
    )
    now = timezone.now() + LATER
    # WHEN the run comes under a hold on the source dataset THEN the features are kept
    kept = actions.run_retention(job=None, now=now)
    assert [entry["record"] for entry in kept["skipped"]] == [str(feature_set)]
    assert folder.exists()
    # WHEN the hold is released (two officers) THEN the folder goes and the tombstone carries the output fingerprint
    actions.do_request_hold_release(hold, actor=cast.compliance, note="done")
    actions.do_confirm_hold_release(hold, actor=cast.superuser)
    gone = actions.run_retention(job=None, now=now)
    assert [entry["record"] for entry in gone["purged"]] == [str(feature_set)]
    assert not folder.exists()
    assert Purge.objects.get().digest == feature_set.output_fingerprint


def test_beat_starts_the_retention_job_for_every_team(settings: Any, cast: Any) -> None:
    assert settings.CELERY_BEAT_SCHEDULE["retention"]["task"] == "assay.schedule.retention"
    tasks.scheduled_retention()
    job = Job.objects.get(kind="compliance.retention")
    assert job.requested_by is None
    assert job.params == {"dry_run": False, "team_ids": None}
