"""Exporting a release bundle (assay_trust bundle v1): it verifies offline, holds the approvals over the current
manifest with the keys that verify them, and the export is recorded."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from assay_trust.bundle import verify_bundle
from core.choices import AuditEventType
from core.models import AuditEvent
from governance import actions
from registry import actions as registry_actions
from registry.artifacts import ArtifactStore
from tests.governance.factories import ReleaseWorld, sign


def _approve(rw: ReleaseWorld, role: str) -> None:
    user = rw.cast.reviewers[role]
    private, _ = rw.key_of(user)
    actions.do_submit_approval(rw.release, actor=user, envelope=sign(rw.release, user, private, board_role=role))


def test_an_exported_bundle_verifies_offline(rw: ReleaseWorld) -> None:
    # GIVEN a release signed by its quorum
    _approve(rw, "legal")
    _approve(rw, "technical")
    # WHEN an auditor of the team exports it
    bundle = actions.do_export_bundle(rw.release, actor=rw.cast.auditor)
    # THEN every offline check passes, the artifact re-hashed from the store included
    path = ArtifactStore.default().path_for(rw.version.artifact_sha256)
    checks = verify_bundle(bundle, artifact_path=path)
    assert [check.name for check in checks if not check.passed] == []
    assert bundle["manifest_digest"] == rw.release.manifest_digest
    assert {item["signer"] for item in bundle["approvals"]} == {"rita-legal", "rita-technical"}
    assert len(bundle["public_keys"]) == 2
    assert bundle["release"]["id"] == str(rw.release.uid)
    event = AuditEvent.objects.get(event_type=AuditEventType.RELEASE_BUNDLE_EXPORTED)
    assert event.actor_id == rw.cast.auditor.pk
    assert event.metadata == {"manifest_digest": rw.release.manifest_digest, "approvals": 2}


def test_a_bundle_holds_only_the_approvals_of_the_current_manifest(rw: ReleaseWorld) -> None:
    _approve(rw, "legal")
    registry_actions.do_update_model(rw.version.model, actor=rw.cast.admin_a, limitations="Changed.")
    bundle = actions.do_export_bundle(rw.release, actor=rw.cast.compliance)
    assert bundle["approvals"] == []
    quorum = next(check for check in verify_bundle(bundle) if check.name == "quorum")
    assert not quorum.passed


def test_only_readers_of_the_release_export_it(rw: ReleaseWorld) -> None:
    with pytest.raises(PermissionDenied, match=r"^You may not read this release\.$"):
        actions.do_export_bundle(rw.release, actor=rw.cast.engineer_b)
    assert not AuditEvent.objects.filter(event_type=AuditEventType.RELEASE_BUNDLE_EXPORTED).exists()
