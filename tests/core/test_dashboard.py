"""The dashboard per role (core.dashboard and the sections governance, serving, compliance and the registry register):
each persona of the cast sees exactly the sections meant for them, each section shows only what the user's teams
may see, and the page costs the same number of queries however long the lists behind it grow.

Everything is made by the real actions over a real ONNX artifact (tests/governance and tests/serving factories)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance import actions as compliance_actions
from compliance.choices import GrantStatus
from compliance.models import DataAccessGrant
from core.choices import AuditEventType, JobStatus
from core.dashboard import Section, Viewer, register_section, registered_sections
from core.models import AuditEvent, Job
from governance import actions
from governance import dashboard as governance_dashboard
from registry.models import UseCase
from serving.actions import GateRefused, do_deploy
from tests.compliance.dpia_factories import SCREENING, in_days, make_approved, make_personal_dataset
from tests.compliance.grant_factories import make_borrow, request_grant
from tests.governance.conftest import _empty_cache, _small_kdf, artifact_root, onnx_path, rw
from tests.governance.factories import ReleaseWorld, make_environment, make_policy
from tests.governance.test_ui import add_releases
from tests.registry.factories import make_model, make_use_case
from tests.registry.test_ui import row_of, text
from tests.serving.factories import approve, new_version, request, submit

__all__ = ["_empty_cache", "_small_kdf", "artifact_root", "onnx_path", "rw"]

OFFICER_SECTIONS = {
    "awaiting-signatures",
    "deployed",
    "coming-due",
    "expiring-approvals",
    "unclassified",
    "gate-failures",
}
BUILDER_SECTIONS = {"my-releases", "my-jobs"}
QUEUE = {"review-queue"}
GRANT_DECIDERS = {"grants-awaiting"}


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _names(response: Any) -> list[str]:
    body = response.content.decode()
    return [part.split('"', 1)[0] for part in body.split('data-section="')[1:]]


@pytest.fixture
def scene(cast: Any, rw: ReleaseWorld, tmp_path: Path) -> dict[str, Any]:
    """Team A: release 1 approved and deployed (the primary in production), release 2 of v2 open and refused once by
    the gate, a model without a use case, a DPIA due for review in ten days, a grant ending in a week, a job of
    engineer_a. Team B: a model without a use case and a job of engineer_b."""
    deployed = do_deploy(approve(rw)[0].release, actor=cast.engineer_a)
    v2 = new_version(rw, tmp_path, 2)
    waiting = request(rw, v2)
    with pytest.raises(GateRefused, match="quorum"):
        do_deploy(waiting, actor=cast.engineer_a)
    make_model(cast.team_a, cast.engineer_a, name="Orphan A")
    make_model(cast.team_b, cast.engineer_b, name="Orphan B")
    fraud = make_use_case(cast.team_a, cast.engineer_a, name="Fraud", risk_tier="high")
    dpia = make_approved(
        cast, use_case=fraud, datasets=[make_personal_dataset(cast, name="Card payments")], review_date=in_days(10)
    )
    Job.objects.create(kind="audit.verify", team=cast.team_a, requested_by=cast.engineer_a, status=JobStatus.QUEUED)
    Job.objects.create(kind="audit.checkpoint", team=cast.team_b, requested_by=cast.engineer_b)
    return {"deployed": deployed, "waiting": waiting, "dpia": dpia}


# --- Who sees which section -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("superuser", OFFICER_SECTIONS | GRANT_DECIDERS),
        ("compliance", OFFICER_SECTIONS | GRANT_DECIDERS),
        ("admin_a", BUILDER_SECTIONS | GRANT_DECIDERS),
        ("engineer_a", BUILDER_SECTIONS),
        ("engineer_b", BUILDER_SECTIONS),
        ("auditor", set()),
        ("reviewer_legal", QUEUE),
        ("reviewer_technical", QUEUE),
        ("reviewer_privacy", QUEUE),
    ],
)
def test_each_persona_sees_exactly_their_sections(cast: Any, scene: dict[str, Any], persona: str, expected: set[str]):
    response = client_for(cast.all()[persona]).get("/")
    assert response.status_code == 200
    assert set(_names(response)) == expected


def test_a_compliance_officer_sees_what_awaits_signatures_and_what_is_deployed_where(
    cast: Any, rw: ReleaseWorld, scene: dict[str, Any]
):
    # GIVEN team A's open release 2 and the deployed release 1
    waiting, deployed = scene["waiting"], scene["deployed"]
    # WHEN the compliance officer of team A opens the dashboard
    response = client_for(cast.compliance).get("/")
    # THEN the open release shows with how long it has waited, and no other release is awaiting
    row = row_of(response, f'data-release="{waiting.pk}"')
    assert "Limit scorer v2" in row
    assert "0 of 2" in row
    assert "minute" in row
    assert f'data-release="{deployed.release_id}"' not in response.content.decode().split('id="dash-deployed"')[0]
    # AND production serves v1 of the model as its primary
    assert "v1 primary" in row_of(response, 'data-route="production/Limit scorer"')
    # AND the failed gate attempt, the model without a use case, the DPIA due for review are listed
    assert "quorum" in text(response)
    failed = AuditEvent.objects.get(event_type=AuditEventType.GATE_FAILED)
    assert f'data-event="{failed.seq}"' in response.content.decode()
    assert "Orphan A" in text(response)
    assert row_of(response, f'data-dpia="{scene["dpia"].dpia_id}"').startswith("Fraud v1")
    # AND nothing of team B
    assert "Orphan B" not in text(response)


def test_engineer_b_sees_nothing_of_team_a(cast: Any, scene: dict[str, Any]):
    response = client_for(cast.engineer_b).get("/")
    page = text(response)
    for name in ("Limit scorer", "Orphan A", "audit.verify", "Fraud", "Production"):
        assert name not in page
    assert "You have requested no release." in page
    assert "audit.checkpoint" in page  # their own job


def test_an_engineer_sees_their_releases_and_their_jobs(cast: Any, scene: dict[str, Any]):
    response = client_for(cast.engineer_a).get("/")
    assert "Open" in row_of(response, f'data-release="{scene["waiting"].pk}"')
    assert "Deployed" in row_of(response, f'data-release="{scene["deployed"].release_id}"')
    section = response.content.decode().split('id="dash-my-jobs"')[1]
    assert "audit.verify" in section
    assert "audit.checkpoint" not in section


def test_a_reviewer_sees_her_queue_and_a_signed_release_leaves_it(cast: Any, rw: ReleaseWorld, scene: dict[str, Any]):
    waiting = scene["waiting"]
    legal = cast.reviewers["legal"]
    assert "Legal" in row_of(client_for(legal).get("/"), f'data-release="{waiting.pk}"')
    # A reviewer whose role the policy does not ask for has nothing to do
    assert "Nothing awaits your signature." in text(client_for(cast.reviewers["privacy"]).get("/"))
    submit(rw, legal, "legal", release=waiting)
    assert "Nothing awaits your signature." in text(client_for(legal).get("/"))


def test_signatures_about_to_expire_are_listed_soonest_first(cast: Any, rw: ReleaseWorld, scene: dict[str, Any]):
    # GIVEN a release to staging, whose policy lets a signature count for 7 days, and the open production release
    # (30 days); the legal reviewer approves both today
    staging = make_environment(cast.superuser, slug="staging", rank=5)
    make_policy(cast.compliance, cast.team_a, staging, rw.board, name="Staging", approval_valid_days=7)
    short = actions.do_request_release(scene["waiting"].model_version, actor=cast.engineer_a, environment=staging)
    soon = submit(rw, cast.reviewers["legal"], "legal", release=short)
    later = submit(rw, cast.reviewers["legal"], "legal", release=scene["waiting"])
    # THEN the officer sees the staging signature expire within the fortnight, and not the production one
    response = client_for(cast.compliance).get("/")
    assert "rita-legal" in row_of(response, f'data-approval="{soon.pk}"')
    assert "in 6 days" in row_of(response, f'data-approval="{soon.pk}"')
    assert f'data-approval="{later.pk}"' not in response.content.decode()
    # AND engineer B, who cannot see the release, sees no such section at all
    assert "data-approval" not in client_for(cast.engineer_b).get("/").content.decode()


def test_use_cases_without_a_risk_tier_and_grants_ending_soon(cast: Any, scene: dict[str, Any]):
    # GIVEN a use case whose tier was lost (a row written outside the actions, as an old import would)
    legacy = make_use_case(cast.team_a, cast.engineer_a, name="Legacy scoring", risk_tier="minimal")
    UseCase.objects.filter(pk=legacy.pk).update(risk_tier="")
    # AND team A's approved grant to use a dataset of team B, ending in a week
    dataset = make_personal_dataset(cast, team=cast.team_b, name="Shared payments")
    grant = DataAccessGrant.objects.create(
        dataset=dataset,
        owner_team=cast.team_b,
        team=cast.team_a,
        use_case=legacy,
        purpose="Fraud features",
        expires_at=timezone.now() + timedelta(days=7),
        status=GrantStatus.APPROVED,
        requested_by=cast.engineer_a,
    )
    response = client_for(cast.compliance).get("/")
    assert "Legacy scoring" in row_of(response, f'data-use-case="{legacy.pk}"')
    assert "Shared payments" in row_of(response, f'data-grant="{grant.pk}"')
    # A refused grant is not coming due
    DataAccessGrant.objects.filter(pk=grant.pk).update(status=GrantStatus.REFUSED)
    assert f'data-grant="{grant.pk}"' not in client_for(cast.compliance).get("/").content.decode()


def test_a_superseded_dpia_version_is_not_due(cast: Any, scene: dict[str, Any]):
    dpia = scene["dpia"].dpia
    compliance_actions.do_new_dpia_version(dpia, actor=cast.compliance)
    compliance_actions.do_edit_dpia(dpia, actor=cast.compliance, review_date=in_days(300))
    compliance_actions.do_screen_dpia(dpia, actor=cast.compliance, criteria=SCREENING)
    compliance_actions.do_submit_dpia(dpia, actor=cast.compliance)
    compliance_actions.do_review_dpia(dpia, actor=cast.reviewers["privacy"], decision="approve", comment="Fine.")
    assert f'data-dpia="{dpia.pk}"' not in client_for(cast.compliance).get("/").content.decode()


# --- Query counts ---------------------------------------------------------------------------------------------------


def count_queries(user: Any) -> int:
    client = client_for(user)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200
    return len(queries)


def test_the_dashboard_costs_the_same_queries_however_long_its_lists(
    cast: Any, rw: ReleaseWorld, scene: dict[str, Any], monkeypatch: pytest.MonkeyPatch
):
    # The queue judges releases until it has a handful: a handful of one keeps this test small.
    monkeypatch.setattr(governance_dashboard, "ROWS", 1)
    people = [cast.compliance, cast.superuser, cast.engineer_a, cast.reviewers["legal"]]
    add_releases(rw, 1)
    before = {user.username: count_queries(user) for user in people}
    add_releases(rw, 4)
    for index in range(4):
        make_model(cast.team_a, cast.engineer_a, name=f"Unowned {index}")
        Job.objects.create(kind="audit.verify", team=cast.team_a, requested_by=cast.engineer_a)
    after = {user.username: count_queries(user) for user in people}
    assert after == before


# --- The registry of sections ---------------------------------------------------------------------------------------


def test_a_section_name_is_taken_once() -> None:
    existing = registered_sections()[0]
    register_section(existing)  # the same again: harmless
    with pytest.raises(ValueError, match="already registered"):
        register_section(Section(existing.name, applies=lambda viewer: True, render=existing.render))


def test_a_viewer_holds_roles_by_membership_not_by_being_superuser(cast: Any) -> None:
    assert not Viewer(cast.superuser, frozenset()).holds("engineer")
    assert Viewer(cast.superuser, frozenset()).is_superuser


def test_a_grant_request_awaits_the_owning_team_s_admin_and_officer_on_their_dashboards(cast: Any):
    """GIVEN team B's request to use team A's dataset WHEN team A's admin and compliance officer open the dashboard
    THEN it awaits each of them, linked to the grant's page; once the admin approved, only the officer's awaits;
    the requester's own team sees no card of it."""
    grant = request_grant(make_borrow(cast))
    for person in (cast.admin_a, cast.compliance):
        row = row_of(client_for(person).get("/"), f'data-grant="{grant.pk}"')
        assert row.startswith("team-b asks to use Shared events")
    assert f"/compliance/data-grants/{grant.pk}/" in client_for(cast.admin_a).get("/").content.decode()
    compliance_actions.do_decide_grant(grant, actor=cast.admin_a, side="owner", decision="approve")
    assert f'data-grant="{grant.pk}"' not in client_for(cast.admin_a).get("/").content.decode()
    assert f'data-grant="{grant.pk}"' in client_for(cast.compliance).get("/").content.decode()
    assert "grants-awaiting" not in _names(client_for(cast.engineer_b).get("/"))
