"""Who governance and serving tell, and when: a release awaits your board role, your approval went stale, your release
is approved, refused, deployed (governance.notifications, serving.notifications). Each message links to the release
page, where a reviewer signs; the email reaches a real SMTP server."""

from __future__ import annotations

from typing import Any

import pytest

from core import mailer
from core.models import Notification
from governance import actions
from governance.models import Release
from registry import actions as registry_actions
from serving.actions import GateRefused, do_deploy
from tests.governance.factories import ReleaseWorld, sign
from tests.mail_fixtures import Mailbox, body_of


def approve(rw: ReleaseWorld, role: str, decision: str = "approve", comment: str = "") -> None:
    user = rw.cast.reviewers[role]
    private, _ = rw.key_of(user)
    envelope = sign(rw.release, user, private, board_role=role, decision=decision, comment=comment)
    actions.do_submit_approval(rw.release, actor=user, envelope=envelope)


def received(kind: str) -> dict[str, list[Notification]]:
    rows: dict[str, list[Notification]] = {}
    for row in Notification.objects.filter(kind=kind).select_related("recipient").order_by("pk"):
        rows.setdefault(row.recipient.username, []).append(row)
    return rows


def test_a_requested_release_awaits_the_board_members_of_the_roles_it_needs(rw: ReleaseWorld) -> None:
    # GIVEN a release (requested in the fixture) whose policy needs legal and technical
    # THEN exactly the legal and technical reviewers are told, with a link to the release page
    awaiting = received("governance.release_awaiting_role")
    assert set(awaiting) == {"rita-legal", "rita-technical"}
    row = awaiting["rita-legal"][0]
    assert row.link == f"/releases/{rw.release.pk}/"
    assert row.subject.startswith(f"Release {rw.release.pk} awaits your signature")
    assert "1 legal, 1 technical" in row.body
    assert (row.target_type, row.target_id) == ("governance.release", str(rw.release.pk))
    assert row.status == "pending"


def test_the_requester_hears_of_the_approval(rw: ReleaseWorld) -> None:
    approve(rw, "legal")
    assert received("governance.release_approved") == {}
    approve(rw, "technical")
    (row,) = received("governance.release_approved")["erin-engineer"]
    assert row.subject == f"Release {rw.release.pk} approved: {rw.release.model_version} to production"


def test_the_requester_hears_of_a_refusal(rw: ReleaseWorld) -> None:
    approve(rw, "risk", decision="reject", comment="Fairness report missing.")
    (row,) = received("governance.release_refused")["erin-engineer"]
    assert "rita-risk rejected" in row.body
    assert "Fairness report missing." in row.body
    assert received("governance.release_approved") == {}


def test_a_signer_hears_that_their_approval_went_stale_and_the_board_is_asked_again(rw: ReleaseWorld) -> None:
    # GIVEN legal approved
    approve(rw, "legal")
    before = Notification.objects.filter(kind="governance.release_awaiting_role").count()
    # WHEN the training dataset changes, and the technical reviewer signs the new manifest
    dataset = rw.version.dataset_versions.get().dataset
    registry_actions.do_update_dataset(dataset, actor=rw.cast.admin_a, classification="restricted")
    approve(rw, "technical")
    # THEN legal is told their approval went stale, and asked again for the new manifest
    (stale,) = received("governance.approval_stale")["rita-legal"]
    assert "no longer counts" in stale.body
    assert stale.link == f"/releases/{rw.release.pk}/"
    awaiting = received("governance.release_awaiting_role")
    assert len(awaiting["rita-legal"]) == 2
    assert Notification.objects.filter(kind="governance.release_awaiting_role").count() == before + 1
    # The technical reviewer, who signed the current manifest, is not asked again
    assert len(awaiting["rita-technical"]) == 1


def test_the_gate_finding_stale_approvals_tells_the_signers(rw: ReleaseWorld) -> None:
    approve(rw, "legal")
    approve(rw, "technical")
    dataset = rw.version.dataset_versions.get().dataset
    registry_actions.do_update_dataset(dataset, actor=rw.cast.admin_a, classification="restricted")
    with pytest.raises(GateRefused, match="manifest_current"):
        do_deploy(rw.release, actor=rw.cast.engineer_a)
    assert set(received("governance.approval_stale")) == {"rita-legal", "rita-technical"}


def test_the_requester_hears_of_the_deployment(rw: ReleaseWorld) -> None:
    approve(rw, "legal")
    approve(rw, "technical")
    deployment = do_deploy(rw.release, actor=rw.cast.engineer_a)
    (row,) = received("serving.release_deployed")["erin-engineer"]
    assert row.subject == f"Release {rw.release.pk} deployed: {rw.release.model_version} to production"
    assert row.dedupe_key == f"deployment:{deployment.pk}"


def test_the_reviewers_email_links_to_the_release_page(rw: ReleaseWorld, smtp_server: Mailbox) -> None:
    assert mailer.send_due() == (2, 0)
    smtp_server.wait_for(2)
    (message,) = smtp_server.to(rw.cast.reviewers["legal"].email)
    assert message["Subject"] == f"[Assay] Release {rw.release.pk} awaits your signature: {_title(rw.release)}"
    assert f"Open: https://assay.example.org/releases/{rw.release.pk}/" in body_of(message)


def _title(release: Any) -> str:
    release = Release.objects.select_related("model_version__model", "environment").get(pk=release.pk)
    return f"{release.model_version} to {release.environment.slug}"
