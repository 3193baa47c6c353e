"""The release path's demo (`manage.py seed_release_demo`, run by `make run` after the registry's demo): the
demo model is deployed to staging through the gate after the technical reviewer signed in the web flow, the
production release waits for the legal and risk reviewers, the reviewers' web keys open with the printed
passphrase, a second run adds nothing, and production refuses it."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.choices import AuditEventType, BoardRole
from core.models import AuditEvent
from governance import keywrap
from governance.evaluation import release_state
from governance.models import Approval, GateEvaluation, Release, ReleasePolicy, SigningKey
from serving.management.commands.seed_release_demo import DEMO_SIGNING_PASSPHRASE, REVIEWERS
from serving.models import Deployment

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def artifact_root(settings: Any, tmp_path: Path) -> Path:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    return Path(settings.ARTIFACT_ROOT)


def seed() -> str:
    call_command("seed_demo", "--quiet-logins", stdout=StringIO())
    call_command("seed_registry_demo", stdout=StringIO())
    out = StringIO()
    call_command("seed_release_demo", stdout=out)
    return out.getvalue()


def test_demo_deploys_to_staging_through_the_gate_and_leaves_production_for_review() -> None:
    # GIVEN the people and the registry demo WHEN the governance demo runs
    output = seed()

    # THEN staging serves the demo model through a passed gate evaluation
    deployment = Deployment.objects.select_related("release", "gate_evaluation").get()
    assert deployment.environment.slug == "staging"
    assert deployment.gate_evaluation.passed
    assert deployment.release.approvals.get().signer.username == "theo-technical"
    # AND production waits for the legal and risk reviewers, the technical signature already counting
    production = Release.objects.get(environment__slug="production")
    state = release_state(production)
    assert not state.approved
    assert production.approvals.get().board_role == BoardRole.TECHNICAL
    assert set(state.roles_needed) == {BoardRole.LEGAL, BoardRole.RISK}
    # AND every tier but the prohibited one has a policy in both environments
    assert ReleasePolicy.objects.filter(team__isnull=True).count() == 6
    # AND the printed passphrase opens every reviewer's web key
    assert DEMO_SIGNING_PASSPHRASE in output
    for key in SigningKey.objects.filter(owner__username__in=REVIEWERS, kind="server"):
        keywrap.unseal(key.sealed_private_key, DEMO_SIGNING_PASSPHRASE, owner_id=key.owner_id)
    assert AuditEvent.objects.filter(event_type=AuditEventType.DEPLOYMENT_CREATED).count() == 1


def test_second_run_adds_nothing() -> None:
    seed()
    tables = (Release, Approval, GateEvaluation, Deployment, SigningKey, ReleasePolicy, AuditEvent)
    before = {model.__name__: model.objects.count() for model in tables}

    out = StringIO()
    call_command("seed_release_demo", stdout=out)

    assert {model.__name__: model.objects.count() for model in tables} == before
    assert "already present" in out.getvalue()


def test_refused_in_production(settings: Any) -> None:
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        call_command("seed_release_demo", stdout=StringIO())


def test_refused_without_the_registry_demo() -> None:
    call_command("seed_demo", "--quiet-logins", stdout=StringIO())
    with pytest.raises(CommandError, match="seed_registry_demo"):
        call_command("seed_release_demo", stdout=StringIO())


def sign_as(username: str, role: str, release: Release) -> None:
    from django.contrib.auth import get_user_model

    from governance import actions
    from governance.choices import Decision

    actions.do_sign_release_web(
        release,
        actor=get_user_model().objects.get(username=username),
        board_role=role,
        decision=Decision.APPROVE,
        comment="Demo test.",
        passphrase=DEMO_SIGNING_PASSPHRASE,
    )


def test_production_requires_lineage_and_the_demo_lineage_passes_it() -> None:
    from serving.actions import do_deploy

    # GIVEN the demo: production policies require lineage_complete and the training run's events were ingested
    seed()
    production = Release.objects.get(environment__slug="production")
    assert "lineage_complete" in production.policy_version.required_checks
    assert production.environment.allowed_regions == ["eu-west-1"]
    assert len(production.manifest["lineage"]["runs"]) == 1
    # WHEN the legal and risk reviewers sign and the engineer deploys
    sign_as("lena-legal", BoardRole.LEGAL, production)
    sign_as("rosa-risk", BoardRole.RISK, production)
    deployment = do_deploy(production, actor=production.requested_by)
    # THEN the gate passed, the lineage check among its checks
    checks = {check["name"]: check for check in deployment.gate_evaluation.checks}
    assert checks["lineage_complete"]["passed"], checks["lineage_complete"]["reason"]


def test_an_unregistered_upstream_input_reported_later_is_refused_at_deploy_naming_the_node() -> None:
    from lineage.actions import do_ingest_events
    from serving.actions import GateRefused, do_deploy
    from serving.management.commands.seed_release_demo import training_events

    # GIVEN the demo, and the pipeline then reporting that its training run also read a table nobody registered
    seed()
    production = Release.objects.get(environment__slug="production")
    events = training_events(production.model_version)
    events[-1]["inputs"].append({"namespace": "s3://scratch", "name": "tmp/bureau-extract", "facets": {}})
    do_ingest_events(events[-1:], actor=production.requested_by, team=production.model_version.model.team)
    # WHEN the reviewers sign the (rebuilt) manifest and the engineer deploys
    release = Release.objects.get(pk=production.pk)
    sign_as("lena-legal", BoardRole.LEGAL, release)
    sign_as("rosa-risk", BoardRole.RISK, release)
    sign_as("theo-technical", BoardRole.TECHNICAL, release)
    # THEN the gate refuses it, naming the node and why
    with pytest.raises(GateRefused, match="lineage_complete") as refused:
        do_deploy(release, actor=release.requested_by)
    reasons = {check["name"]: check["reason"] for check in refused.value.failed}
    assert "dataset:s3://scratch:tmp/bureau-extract: unregistered" in reasons["lineage_complete"]
