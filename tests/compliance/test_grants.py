"""Data access grants (docs/grants.md): both sides must approve, by two different people, neither the requester;
only an approved, unexpired grant lets a team reference another team's dataset; a release lists the grants it
relies on and the gate's ``data_access`` check fails once one expired or was revoked."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from compliance import actions
from compliance.choices import GrantStatus
from compliance.models import DataAccessGrant
from core import actions as core_actions
from core.choices import AuditEventType, Role
from core.models import AuditEvent
from governance import actions as governance_actions
from governance.choices import EvaluationPurpose
from governance.gate import known_checks, run_gate
from governance.manifest import current_digest
from governance.models import Release
from registry import access
from registry import actions as registry_actions
from registry.access import AccessRefused, is_usable
from registry.models import FeatureView, ModelVersion
from tests.compliance.grant_factories import Borrow, approve_both, approved_grant, make_borrow, request_grant
from tests.conftest import make_user
from tests.governance.factories import ReleaseWorld, make_board, make_environment, make_policy
from tests.registry.factories import chunks_of, make_events_dataset, make_feature_view, make_model, make_use_case
from tests.serving.factories import approve

pytestmark = pytest.mark.django_db


@pytest.fixture
def borrow(cast: Any) -> Borrow:
    return make_borrow(cast)


def events(event_type: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=event_type).order_by("seq"))


def later(monkeypatch: pytest.MonkeyPatch, days: float) -> Any:
    """The registry's clock moved ``days`` ahead (the terms are write-once: an expiry is reached by time)."""
    moment = timezone.now() + timedelta(days=days)
    monkeypatch.setattr(access, "timezone", SimpleNamespace(now=lambda: moment))
    return moment


def test_both_sides_approving_makes_a_grant_that_covers_use(cast, borrow):
    # GIVEN team B's request for team A's dataset
    grant = request_grant(borrow)
    assert grant.status == GrantStatus.REQUESTED
    assert grant.owner_team == cast.team_a
    # WHEN only the owning team's admin approves THEN it covers nothing yet
    actions.do_decide_grant(grant, actor=cast.admin_a, side="owner", decision="approve")
    assert DataAccessGrant.objects.get(pk=grant.pk).status == GrantStatus.REQUESTED
    assert not is_usable(borrow.dataset, cast.team_b)
    with pytest.raises(AccessRefused, match=r"^source_dataset: dataset Shared events belongs to team team-a"):
        make_feature_view(cast.team_b, cast.engineer_b, borrow.dataset, owner=cast.engineer_b)
    # WHEN the compliance officer approves too THEN the grant covers use, and each step is in the audit log
    grant = actions.do_decide_grant(grant, actor=cast.compliance, side="compliance", decision="approve")
    assert grant.status == GrantStatus.APPROVED
    assert grant.decided_at is not None
    assert is_usable(borrow.dataset, cast.team_b)
    view = make_feature_view(cast.team_b, cast.engineer_b, borrow.dataset, owner=cast.engineer_b)
    assert view.source_dataset == borrow.dataset
    assert len(events(AuditEventType.DATA_GRANT_REQUESTED)) == 1
    assert [e.metadata["side"] for e in events(AuditEventType.DATA_GRANT_APPROVED)] == ["owner", "compliance"]


def test_use_without_a_grant_is_refused_recorded_and_writes_nothing_else(cast, borrow, onnx_path, artifact_root):
    # GIVEN no grant: WHEN team B registers a model version, a feature view and a feature-set version on team A's data
    model = make_model(cast.team_b, cast.engineer_b, owner=cast.engineer_b, use_case=borrow.use_case)
    own = make_feature_view(cast.team_b, cast.engineer_b, _own_dataset(cast), owner=cast.engineer_b)
    before = AuditEvent.objects.count()
    with pytest.raises(AccessRefused, match=r"^dataset_versions: ") as refused:
        registry_actions.do_register_model_version(
            model, actor=cast.engineer_b, chunks=chunks_of(onnx_path), dataset_versions=[borrow.version.pk]
        )
    assert (refused.value.status, refused.value.field) == (403, "dataset_versions")
    with pytest.raises(AccessRefused, match=r"^source_dataset: "):
        make_feature_view(cast.team_b, cast.engineer_b, borrow.dataset, owner=cast.engineer_b, name="borrowed")
    with pytest.raises(AccessRefused, match=r"^dataset_versions: "):
        registry_actions.do_register_feature_set_version(
            own, actor=cast.engineer_b, dataset_versions=[borrow.version.pk]
        )
    with pytest.raises(AccessRefused, match=r"^dataset_version: "):
        registry_actions.do_request_materialization(own, actor=cast.engineer_b, dataset_version=borrow.version.pk)
    # THEN each refusal is one data_grant.access_refused event naming the field, and nothing else was written
    refusals = events(AuditEventType.DATA_ACCESS_REFUSED)
    assert [e.metadata["field"] for e in refusals] == [
        "dataset_versions",
        "source_dataset",
        "dataset_versions",
        "dataset_version",
    ]
    assert all(e.metadata["owner_team"] == "team-a" and e.team_id == cast.team_b.pk for e in refusals)
    assert AuditEvent.objects.count() == before + 4
    assert not ModelVersion.objects.exists()
    assert list(FeatureView.objects.values_list("name", flat=True)) == [own.name]


def _own_dataset(cast: Any) -> Any:
    dataset, _ = make_events_dataset(cast.team_b, cast.engineer_b, owner=cast.engineer_b)
    return dataset


def test_after_expiry_or_revocation_use_is_refused(cast, borrow, monkeypatch):
    # GIVEN an approved grant for a day
    grant = approved_grant(borrow, days=1)
    assert is_usable(borrow.dataset, cast.team_b)
    # WHEN two days have passed THEN the registry refuses the use, naming the field
    later(monkeypatch, 2)
    assert not is_usable(borrow.dataset, cast.team_b)
    with pytest.raises(AccessRefused, match=r"^source_dataset: "):
        make_feature_view(cast.team_b, cast.engineer_b, borrow.dataset, owner=cast.engineer_b)
    monkeypatch.undo()
    # WHEN the owning team revokes it THEN likewise, and a revoked grant is final
    actions.do_revoke_grant(grant, actor=cast.admin_a, reason="Purpose changed.")
    assert not is_usable(borrow.dataset, cast.team_b)
    with pytest.raises(ValidationError, match="only an approved one is revoked"):
        actions.do_revoke_grant(grant, actor=cast.compliance, reason="Again.")
    assert len(events(AuditEventType.DATA_GRANT_REVOKED)) == 1


def test_the_same_person_cannot_decide_both_sides(cast, borrow):
    # GIVEN a platform superuser who is also an admin of the owning team
    core_actions.do_grant_membership(cast.team_a, actor=cast.superuser, user=cast.superuser, role=Role.ADMIN)
    grant = request_grant(borrow)
    actions.do_decide_grant(grant, actor=cast.superuser, side="owner", decision="approve")
    # WHEN they approve the compliance side too THEN refused: two different people
    with pytest.raises(PermissionDenied, match="other side"):
        actions.do_decide_grant(grant, actor=cast.superuser, side="compliance", decision="approve")
    assert DataAccessGrant.objects.get(pk=grant.pk).status == GrantStatus.REQUESTED
    # AND a side is decided once
    with pytest.raises(ValidationError, match="already decided"):
        actions.do_decide_grant(grant, actor=cast.admin_a, side="owner", decision="approve")


def test_the_requester_cannot_approve_and_others_cannot_judge(cast, borrow):
    # GIVEN a request made by a platform superuser (who could otherwise judge the compliance side)
    grant = request_grant(borrow, actor=cast.superuser)
    with pytest.raises(PermissionDenied, match="You requested this grant"):
        actions.do_decide_grant(grant, actor=cast.superuser, side="compliance", decision="approve")
    # Team A's engineer is no admin; team B's engineer judges nothing of team A's
    with pytest.raises(PermissionDenied, match="Only an admin of team team-a"):
        actions.do_decide_grant(grant, actor=cast.engineer_a, side="owner", decision="approve")
    with pytest.raises(PermissionDenied, match="Only a compliance officer of team team-a"):
        actions.do_decide_grant(grant, actor=cast.engineer_b, side="compliance", decision="approve")
    assert not grant.decisions.exists()


def test_a_refusal_is_final_and_needs_a_reason(cast, borrow):
    grant = request_grant(borrow)
    with pytest.raises(ValidationError, match="Say what"):
        actions.do_decide_grant(grant, actor=cast.compliance, side="compliance", decision="refuse", comment=" ")
    grant = actions.do_decide_grant(
        grant, actor=cast.compliance, side="compliance", decision="refuse", comment="No legal basis."
    )
    assert grant.status == GrantStatus.REFUSED
    with pytest.raises(ValidationError, match="nothing is left to decide"):
        actions.do_decide_grant(grant, actor=cast.admin_a, side="owner", decision="approve")
    assert len(events(AuditEventType.DATA_GRANT_REFUSED)) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"expires_at": -1}, "expires_at"),
        ({"expires_at": 400}, "expires_at"),
        ({"purpose": "  "}, "purpose"),
        ({"own": True}, "dataset"),
        ({"foreign_use_case": True}, "use_case"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(cast, borrow, change, field):
    fields: dict[str, Any] = {
        "dataset": borrow.dataset,
        "use_case": borrow.use_case,
        "purpose": "Features.",
        "expires_at": timezone.now() + timedelta(days=change.get("expires_at", 30)),
    }
    if "purpose" in change:
        fields["purpose"] = change["purpose"]
    if change.get("own"):
        fields["dataset"] = _own_dataset(cast)
    if change.get("foreign_use_case"):
        fields["use_case"] = make_use_case(cast.team_a, cast.engineer_a, name="Theirs")
    with pytest.raises(ValidationError, match=field) as refused:
        actions.do_request_grant(cast.team_b, actor=cast.engineer_b, **fields)
    assert field in refused.value.message_dict
    assert not DataAccessGrant.objects.exists()


def test_an_auditor_cannot_request_and_an_outsider_team_sees_no_grant(cast, borrow):
    with pytest.raises(PermissionDenied, match="may not change"):
        request_grant(borrow, actor=cast.auditor, team=cast.team_a)
    grant = request_grant(borrow)
    # GIVEN team C, which neither owns the dataset nor asked for it
    team_c = core_actions.do_create_team(actor=cast.superuser, slug="team-c", name="Team C")
    outsider = make_user("cleo-engineer")
    core_actions.do_grant_membership(team_c, actor=cast.superuser, user=outsider, role=Role.ENGINEER)
    # THEN it sees no grant, while both teams' members do
    assert not DataAccessGrant.objects.restrict(outsider).exists()
    assert DataAccessGrant.objects.restrict(cast.engineer_b).get() == grant
    assert DataAccessGrant.objects.restrict(cast.auditor).get() == grant
    assert not grant.decisions.model.objects.restrict(outsider).exists()


def _team_b_release_setup(cast: Any, borrow: Borrow, onnx_path: Path) -> tuple[Any, Any, Any, Any]:
    environment = make_environment(cast.superuser)
    board = make_board(cast.superuser, None, dict(cast.reviewers))
    policy = make_policy(cast.superuser, None, environment, board, risk_tier="limited")
    model = make_model(cast.team_b, cast.engineer_b, owner=cast.engineer_b, use_case=borrow.use_case)
    version = registry_actions.do_register_model_version(
        model, actor=cast.engineer_b, chunks=chunks_of(onnx_path), dataset_versions=[borrow.version.pk]
    )
    return environment, board, policy, version


def test_team_b_borrows_team_a_dataset_and_the_gate_shows_the_expired_grant(
    cast, borrow, onnx_path, artifact_root, monkeypatch
):
    # GIVEN an approved grant for a day, and team B's model version trained on team A's dataset
    grant = approved_grant(borrow, days=1)
    environment, board, policy, version = _team_b_release_setup(cast, borrow, onnx_path)
    # WHEN team B requests a release
    release = governance_actions.do_request_release(version, actor=cast.engineer_b, environment=environment)
    # THEN its manifest lists the grant it relies on
    assert release.manifest["grants"] == [
        {
            "id": grant.pk,
            "dataset": {"id": borrow.dataset.pk, "name": "Shared events", "team": "team-a"},
            "expires_at": grant.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "status": "approved",
        }
    ]
    rw = ReleaseWorld(cast, environment, board, policy, version, release)
    approve(rw)
    now = run_gate(release, actor=cast.engineer_b, purpose=EvaluationPurpose.DEPLOY)
    checks = {check["name"]: check for check in now.checks}
    assert checks["data_access"]["passed"], checks["data_access"]
    assert now.passed, now.failed
    # WHEN the grant has expired THEN the gate refuses with data_access; the approvals are not stale (the manifest
    # did not change: an expiry is a matter of time, not of state)
    digest = release.manifest_digest
    expired = run_gate(release, actor=cast.engineer_b, purpose=EvaluationPurpose.DEPLOY, now=later(monkeypatch, 2))
    checks = {check["name"]: check for check in expired.checks}
    assert not expired.passed
    assert not checks["data_access"]["passed"]
    assert f"Grant #{grant.pk} for dataset Shared events of team team-a expired" in checks["data_access"]["reason"]
    assert checks["manifest_current"]["passed"]
    assert current_digest(release) == digest
    monkeypatch.undo()
    # WHEN it is revoked THEN the manifest changes (the approvals go stale) and data_access names the revocation
    actions.do_revoke_grant(grant, actor=cast.compliance, reason="Purpose changed.")
    assert current_digest(release) != digest
    revoked = run_gate(release, actor=cast.engineer_b, purpose=EvaluationPurpose.DEPLOY)
    checks = {check["name"]: check for check in revoked.checks}
    assert "is revoked" in checks["data_access"]["reason"]
    assert not checks["manifest_current"]["passed"]


def test_a_release_on_another_teams_data_without_a_grant_is_refused(cast, borrow, onnx_path, artifact_root):
    # GIVEN a version registered while a grant covered the data, and the grant since withdrawn
    grant = approved_grant(borrow)
    environment, _, _, version = _team_b_release_setup(cast, borrow, onnx_path)
    actions.do_withdraw_grant(grant, actor=cast.engineer_b, reason="Done.")
    # WHEN team B requests a release THEN refused naming the field, recorded, no release
    with pytest.raises(AccessRefused, match=r"^model_version: dataset Shared events"):
        governance_actions.do_request_release(version, actor=cast.engineer_b, environment=environment)
    assert [e.metadata["field"] for e in events(AuditEventType.DATA_ACCESS_REFUSED)] == ["model_version"]
    assert not Release.objects.exists()


def test_a_new_request_runs_the_data_access_check_only_when_it_relies_on_grants(cast, borrow):
    grant = approve_both(request_grant(borrow), cast)
    assert grant.status == GrantStatus.APPROVED
    check = known_checks()["data_access"]
    assert not check.always
    assert check.applies is not None
    assert check.applies({"grants": [{"id": grant.pk}]})
    assert not check.applies({})
