"""The demo's DPIA (compliance/demo_dpia.py, seeded by ``seed_release_demo``): the credit use case has a screened,
approved DPIA; the production policy for high-risk use cases requires ``dpia_approved``; staging still deploys; and
the production release is refused while the DPIA's newest version is a draft and allowed once the privacy reviewer
approves it (and the board signs the changed manifest)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from compliance import actions
from compliance.demo_dpia import SCREENING
from compliance.dpia_rules import DpiaStatus
from compliance.models import Dpia
from core.choices import BoardRole
from governance import actions as governance
from governance.choices import Decision, EvaluationPurpose
from governance.gate import run_gate
from governance.models import Release, ReleasePolicy
from serving.management.commands.seed_release_demo import DEMO_SIGNING_PASSPHRASE
from serving.models import Deployment

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture(autouse=True)
def artifact_root(settings: Any, tmp_path: Path) -> Path:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    return Path(settings.ARTIFACT_ROOT)


def seed() -> None:
    call_command("seed_demo", "--quiet-logins", stdout=StringIO())
    call_command("seed_registry_demo", stdout=StringIO())
    call_command("seed_release_demo", stdout=StringIO())


def sign(release: Release, username: str, role: str) -> None:
    governance.do_sign_release_web(
        release,
        actor=User.objects.get(username=username),
        board_role=role,
        decision=Decision.APPROVE,
        comment="Demo.",
        passphrase=DEMO_SIGNING_PASSPHRASE,
    )


def dpia_verdict(release: Release) -> tuple[bool, dict[str, Any]]:
    run = run_gate(release, actor=release.requested_by, purpose=EvaluationPurpose.PREVIEW)
    checks = {check["name"]: check for check in run.checks}
    return run.passed, checks


def test_the_demo_dpia_gates_the_production_release() -> None:
    # GIVEN the demo
    seed()
    dpia = Dpia.objects.select_related("use_case").get()
    version = dpia.versions.get()
    # THEN the credit use case's DPIA is screened (a full DPIA required) and approved by the privacy reviewer
    assert dpia.use_case.name == "Credit limit increase"
    assert version.status == DpiaStatus.APPROVED
    assert version.full_dpia_required is True
    assert version.transitions.get(to_status=DpiaStatus.APPROVED).actor_name == "pia-privacy"
    # AND production's high-risk policy requires the check; staging still deployed through the gate
    production_policy = ReleasePolicy.objects.get(environment__slug="production", risk_tier="high")
    assert "dpia_approved" in production_policy.versions.get().required_checks
    assert Deployment.objects.get().environment.slug == "staging"
    release = Release.objects.get(environment__slug="production")
    assert release.manifest["dpia"]["digest"] == version.digest
    # WHEN the legal and risk reviewers sign THEN the production release passes, the DPIA check included
    sign(release, "lena-legal", BoardRole.LEGAL)
    sign(release, "rosa-risk", BoardRole.RISK)
    passed, checks = dpia_verdict(release)
    assert passed, checks
    assert checks["dpia_approved"]["passed"]

    # WHEN the compliance officer starts a new DPIA version (a draft)
    carol = User.objects.get(username="carol-compliance")
    actions.do_new_dpia_version(dpia, actor=carol)
    # THEN the release is refused: the DPIA is a draft, and the signed manifest changed
    passed, checks = dpia_verdict(release)
    assert not passed
    assert "DPIA version 2 of use case Credit limit increase is draft" in checks["dpia_approved"]["reason"]
    assert not checks["manifest_current"]["passed"]

    # WHEN it is screened, submitted and approved by the privacy reviewer, and the board signs again
    actions.do_screen_dpia(dpia, actor=carol, criteria=SCREENING)
    actions.do_submit_dpia(dpia, actor=carol)
    actions.do_review_dpia(dpia, actor=User.objects.get(username="pia-privacy"), decision="approve")
    for username, role in (("lena-legal", BoardRole.LEGAL), ("rosa-risk", BoardRole.RISK)):
        sign(release, username, role)
    sign(release, "theo-technical", BoardRole.TECHNICAL)
    # THEN the release is allowed
    passed, checks = dpia_verdict(release)
    assert passed, checks
    assert "DPIA version 2" in checks["dpia_approved"]["reason"]
