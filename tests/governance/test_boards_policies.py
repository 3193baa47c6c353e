"""Rules of environments, review boards and release policies, as GIVEN / WHEN / THEN."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from core.choices import AuditEventType
from core.models import AuditEvent
from governance import actions
from governance.models import BoardMember, ReleasePolicyVersion
from tests.conftest import make_user
from tests.governance.factories import make_board, make_environment, make_policy


def events(event_type: str) -> list[Any]:
    return list(AuditEvent.objects.filter(event_type=event_type).order_by("seq"))


def errors_of(raised: Any) -> dict[str, list[str]]:
    return dict(raised.value.message_dict)


def policy_of(team: Any, environment: Any) -> Any:
    version = actions.policy_in_force(team, environment, "high")
    return None if version is None else version.policy


@pytest.fixture
def env(cast: Any) -> Any:
    return make_environment(cast.superuser)


@pytest.fixture
def board(cast: Any) -> Any:
    return make_board(cast.compliance, cast.team_a, dict(cast.reviewers))


# --- Environments -------------------------------------------------------------------------------------------------


def test_only_platform_administrators_create_environments(cast: Any) -> None:
    # GIVEN a team admin and a compliance officer WHEN they create an environment THEN it is refused
    for person in (cast.admin_a, cast.compliance):
        with pytest.raises(PermissionDenied, match=r"^Only platform administrators create environments\.$"):
            actions.do_create_environment(actor=person, slug="staging", name="Staging")
    # WHEN a platform administrator does THEN it exists and the event is written
    environment = actions.do_create_environment(actor=cast.superuser, slug="staging", name="Staging", rank=1)
    assert events(AuditEventType.ENVIRONMENT_CREATED)[0].after == {
        "slug": "staging",
        "name": "Staging",
        "description": "",
        "rank": 1,
        "allowed_regions": [],
    }
    # AND the same slug twice is a 400 naming the slug
    with pytest.raises(ValidationError, match=r"An environment with slug 'staging' already exists\.") as raised:
        actions.do_create_environment(actor=cast.superuser, slug="staging", name="Again")
    assert "already exists" in errors_of(raised)["slug"][0]
    assert environment.slug == "staging"


# --- Boards -------------------------------------------------------------------------------------------------------


def test_a_team_board_is_managed_by_its_compliance_officers_and_admins(cast: Any) -> None:
    # GIVEN team A's engineer, auditor and a reviewer THEN none of them creates a board for team A
    for person in (cast.engineer_a, cast.auditor, cast.reviewers["legal"], cast.engineer_b):
        with pytest.raises(
            PermissionDenied, match=r"^Only compliance officers and admins of team team-a manage its review boards\.$"
        ):
            actions.do_create_board(actor=person, team=cast.team_a, slug="b", name="B")
    # WHEN the compliance officer does THEN it is team A's, recorded with the team
    board = actions.do_create_board(actor=cast.compliance, team=cast.team_a, slug="b", name="B")
    event = events(AuditEventType.BOARD_CREATED)[0]
    assert event.team_slug == "team-a"
    assert event.actor_id == cast.compliance.pk
    # AND the admin may seat people on it; the engineer may not
    actions.do_add_board_member(board, actor=cast.admin_a, user=cast.reviewers["risk"], board_role="risk")
    with pytest.raises(
        PermissionDenied, match=r"^Only compliance officers and admins of team team-a manage its review boards\.$"
    ):
        actions.do_add_board_member(board, actor=cast.engineer_a, user=cast.reviewers["legal"], board_role="legal")


def test_the_organisation_board_is_managed_by_platform_administrators_only(cast: Any) -> None:
    # GIVEN team A's admin and compliance officer WHEN they create a board with no team THEN it is refused
    for person in (cast.admin_a, cast.compliance):
        with pytest.raises(PermissionDenied, match="organisation"):
            actions.do_create_board(actor=person, team=None, slug="group", name="Group")
    board = actions.do_create_board(actor=cast.superuser, team=None, slug="group", name="Group")
    # AND seating anyone on it, from any team, is also for platform administrators
    with pytest.raises(
        PermissionDenied, match=r"^Only platform administrators manage the organisation's review boards\.$"
    ):
        actions.do_add_board_member(board, actor=cast.compliance, user=cast.engineer_b, board_role="risk")
    member = actions.do_add_board_member(board, actor=cast.superuser, user=cast.engineer_b, board_role="risk")
    assert member.board == board


def test_a_team_board_seats_members_of_that_team_only(cast: Any, board: Any) -> None:
    # GIVEN team A's board WHEN team B's engineer (or someone of no team) is seated THEN a 400 naming the user
    for outsider in (cast.engineer_b, make_user("nobody")):
        with pytest.raises(
            ValidationError,
            match=rf"{outsider.username} is not a member of team team-a; a team board seats its members\.",
        ) as raised:
            actions.do_add_board_member(board, actor=cast.compliance, user=outsider, board_role="risk")
        assert "is not a member of team team-a" in errors_of(raised)["user"][0]
    assert not BoardMember.objects.filter(user=cast.engineer_b).exists()


def test_board_seats_are_checked_and_recorded(cast: Any, board: Any) -> None:
    # An unknown role, the same seat twice: precise 400s
    with pytest.raises(
        ValidationError, match=r"Unknown board role 'finance'; one of legal, compliance, risk, privacy, technical\."
    ) as raised:
        actions.do_add_board_member(board, actor=cast.compliance, user=cast.auditor, board_role="finance")
    assert "Unknown board role 'finance'" in errors_of(raised)["board_role"][0]
    with pytest.raises(ValidationError, match=r"rita-legal already sits on release-board as legal\.") as raised:
        actions.do_add_board_member(board, actor=cast.compliance, user=cast.reviewers["legal"], board_role="legal")
    assert "already sits on release-board as legal" in errors_of(raised)["board_role"][0]
    # A person holds several roles as several seats; removing one writes its event with what was removed
    second = actions.do_add_board_member(board, actor=cast.compliance, user=cast.reviewers["legal"], board_role="risk")
    actions.do_remove_board_member(second, actor=cast.admin_a)
    removed = events(AuditEventType.BOARD_MEMBER_REMOVED)[0]
    assert removed.before == {"board": "release-board", "user": "rita-legal", "board_role": "risk"}
    # Removing it again (a concurrent second click) writes nothing more
    actions.do_remove_board_member(second, actor=cast.admin_a)
    assert len(events(AuditEventType.BOARD_MEMBER_REMOVED)) == 1


def test_the_database_refuses_a_duplicate_seat(cast: Any, board: Any) -> None:
    with (
        pytest.raises(
            IntegrityError,
            # PostgreSQL names the constraint; SQLite names its columns
            match=r"board_member_unique_role"
            r"|UNIQUE constraint failed: governance_boardmember\.board_id, governance_boardmember\.user_id, "
            r"governance_boardmember\.board_role",
        ),
        transaction.atomic(),
    ):
        BoardMember.objects.create(board=board, user=cast.reviewers["legal"], board_role="legal")


# --- Policies -----------------------------------------------------------------------------------------------------


def test_a_policy_is_created_with_its_version_1(cast: Any, env: Any, board: Any) -> None:
    policy = make_policy(cast.compliance, cast.team_a, env, board, note="First rules")
    version = policy.versions.get()
    assert version.number == 1
    assert version.required_roles == {"legal": 1, "technical": 1}
    assert version.min_total == 2
    created = events(AuditEventType.POLICY_CREATED)[0]
    assert created.after["environment"] == "production"
    assert events(AuditEventType.POLICY_VERSION_CREATED)[0].after["number"] == 1
    # AND the next version is numbered 2, and the newest is in force
    actions.do_add_policy_version(
        policy, actor=cast.admin_a, required_roles={"legal": 1}, min_total=1, approval_valid_days=7
    )
    in_force = actions.policy_in_force(cast.team_a, env, "high")
    assert in_force is not None
    assert in_force.number == 2


def test_policy_versions_are_immutable(cast: Any, env: Any, board: Any) -> None:
    policy = make_policy(cast.compliance, cast.team_a, env, board)
    with pytest.raises(Exception, match="immutable"), transaction.atomic():
        ReleasePolicyVersion.objects.filter(policy=policy).update(min_total=1)


def test_policies_are_managed_like_boards(cast: Any, env: Any, board: Any) -> None:
    # GIVEN team A's engineer and reviewer THEN they create no policy; an organisation policy is the superuser's
    for person in (cast.engineer_a, cast.reviewers["legal"]):
        with pytest.raises(
            PermissionDenied,
            match=r"^Only compliance officers and admins of team team-a manage its release policies\.$",
        ):
            make_policy(person, cast.team_a, env, board)
    org_board = make_board(cast.superuser, None, {"legal": cast.engineer_b, "technical": cast.reviewers["technical"]})
    with pytest.raises(
        PermissionDenied, match=r"^Only platform administrators manage the organisation's release policies\.$"
    ):
        make_policy(cast.compliance, None, env, org_board)
    policy = make_policy(cast.compliance, cast.team_a, env, board)
    # AND a new version is refused to those who may not manage it
    with pytest.raises(
        PermissionDenied, match=r"^Only compliance officers and admins of team team-a manage its release policies\.$"
    ):
        actions.do_add_policy_version(
            policy, actor=cast.engineer_a, required_roles={}, min_total=1, approval_valid_days=1
        )


def test_a_team_policy_beats_the_organisation_policy(cast: Any, env: Any, board: Any) -> None:
    # GIVEN an organisation policy for (production, high) judged by an organisation board
    org_board = make_board(cast.superuser, None, {"legal": cast.engineer_b, "technical": cast.reviewers["technical"]})
    org = make_policy(cast.superuser, None, env, org_board, name="Group default")
    # THEN it is in force for every team
    assert policy_of(cast.team_a, env) == org
    assert policy_of(cast.team_b, env) == org
    # WHEN team A makes its own THEN team A's releases use it; team B's still use the organisation's
    own = make_policy(cast.compliance, cast.team_a, env, board)
    assert policy_of(cast.team_a, env) == own
    assert policy_of(cast.team_b, env) == org
    # AND no policy for another tier means none in force
    assert actions.policy_in_force(cast.team_a, env, "minimal") is None


def test_one_policy_per_scope_and_never_for_prohibited_practices(cast: Any, env: Any, board: Any) -> None:
    make_policy(cast.compliance, cast.team_a, env, board)
    with pytest.raises(
        ValidationError,
        match=r"Team team-a already has policy 'High-risk production' \(id \d+\) for production and high risk",
    ) as raised:
        make_policy(cast.compliance, cast.team_a, env, board, name="Second")
    assert "already has policy 'High-risk production'" in errors_of(raised)["risk_tier"][0]
    with pytest.raises(
        ValidationError, match=r"A prohibited practice is never released: no policy governs it\."
    ) as raised:
        make_policy(cast.compliance, cast.team_a, env, board, risk_tier="prohibited")
    assert "never released" in errors_of(raised)["risk_tier"][0]
    with pytest.raises(
        ValidationError, match=r"Unknown risk tier 'extreme'; one of minimal, limited, high, prohibited\."
    ) as raised:
        make_policy(cast.compliance, cast.team_a, env, board, risk_tier="extreme")
    assert "Unknown risk tier" in errors_of(raised)["risk_tier"][0]


def test_a_policy_uses_a_board_of_its_team_or_the_organisation(cast: Any, env: Any) -> None:
    b_board = make_board(cast.superuser, cast.team_b, {"legal": cast.engineer_b}, slug="b-board")
    with pytest.raises(
        ValidationError, match=r"Board b-board belongs to another team; team team-a's policy cannot use it\."
    ) as raised:
        make_policy(cast.compliance, cast.team_a, env, b_board, required_roles={"legal": 1}, min_total=1)
    assert "belongs to another team" in errors_of(raised)["board"][0]
    # An organisation policy cannot be judged by a team's board either
    with pytest.raises(
        ValidationError, match=r"Board b-board belongs to another team; an organisation policy cannot use it\."
    ) as invalid:
        make_policy(cast.superuser, None, env, b_board, required_roles={"legal": 1}, min_total=1)
    assert list(invalid.value.message_dict) == ["board"]


@pytest.mark.parametrize(
    ("rules", "field", "message"),
    [
        ({"required_roles": ["legal"]}, "required_roles", "An object mapping board roles to counts"),
        ({"required_roles": {"finance": 1}}, "required_roles", "Unknown board role(s) finance"),
        ({"required_roles": {"legal": 0}}, "required_roles", "The count of legal must be a whole number from 1"),
        ({"required_roles": {"legal": True}}, "required_roles", "The count of legal must be a whole number"),
        ({"required_roles": {"legal": "1"}}, "required_roles", "The count of legal must be a whole number"),
        ({"min_total": 0}, "min_total", "A whole number from 1 to 100"),
        ({"min_total": 2.5}, "min_total", "A whole number from 1 to 100"),
        ({"approval_valid_days": 0}, "approval_valid_days", "from 1 to 3650"),
        ({"approval_valid_days": 4000}, "approval_valid_days", "from 1 to 3650"),
        ({"required_checks": "quorum"}, "required_checks", "A list of gate check names"),
        ({"required_checks": ["no_such_check"]}, "required_checks", "Unknown gate check(s) no_such_check"),
        ({"required_checks": ["quorum", "quorum"]}, "required_checks", "named twice"),
        # Achievable by the board as it is: 2 legal seats asked, 1 held
        ({"required_roles": {"legal": 2}}, "required_roles", "too few members in role(s) legal"),
        # 7 distinct approvers asked of a board of 5 people
        ({"min_total": 7}, "min_total", "has 5 member(s); this policy needs 7 distinct approvers"),
    ],
)
def test_policy_rules_are_validated(
    cast: Any, env: Any, board: Any, rules: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)) as raised:
        make_policy(cast.compliance, cast.team_a, env, board, **rules)
    assert message in " ".join(errors_of(raised)[field])
    assert not events(AuditEventType.POLICY_CREATED)


def test_a_person_counts_once_when_the_policy_is_checked_for_achievability(cast: Any, env: Any) -> None:
    # GIVEN a board where one person holds both legal and technical seats and a second holds technical only
    both, second = cast.reviewers["legal"], cast.reviewers["technical"]
    board = make_board(cast.compliance, cast.team_a, {"legal": both, "technical": second}, slug="small")
    actions.do_add_board_member(board, actor=cast.compliance, user=both, board_role="technical")
    # THEN {"legal": 1, "technical": 1} is achievable (both as legal, second as technical)
    make_policy(cast.compliance, cast.team_a, env, board, min_total=2)
    # BUT {"legal": 1, "technical": 2} is not: three slots, two people
    with pytest.raises(
        ValidationError,
        match=r"Board small cannot fill these roles with distinct people: a person counts once, in one role\.",
    ) as raised:
        actions.do_add_policy_version(
            board.policies.get(),
            actor=cast.compliance,
            required_roles={"legal": 1, "technical": 2},
            min_total=1,
            approval_valid_days=30,
        )
    assert "cannot fill these roles with distinct people" in errors_of(raised)["required_roles"][0]


def test_required_checks_name_the_gates_checks(cast: Any, env: Any, board: Any) -> None:
    from governance.gate import known_checks

    # (audits_passed also needs audit kinds: tests/governance/test_audit_policy.py)
    names = sorted(name for name in known_checks() if name != "audits_passed")[:2]
    policy = make_policy(cast.compliance, cast.team_a, env, board, required_checks=names)
    assert policy.versions.get().required_checks == names
