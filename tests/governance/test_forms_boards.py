"""The board and environment forms through Django's test client: creating a board, seating and unseating members,
creating an environment; who sees the buttons, who is refused (403 for someone who may read the board, 404 for
another team's), and bad input shown on the field it concerns with nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from core import actions as core_actions
from core.choices import AuditEventType, Role
from core.models import AuditEvent
from governance.models import BoardMember, Environment, ReviewBoard
from tests.conftest import make_user
from tests.governance.factories import make_board

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def events(event_type: str) -> int:
    return AuditEvent.objects.filter(event_type=event_type).count()


@pytest.fixture
def board(cast: Any) -> Any:
    """Team A's board with its legal reviewer seated."""
    return make_board(cast.compliance, cast.team_a, {"legal": cast.reviewers["legal"]})


@pytest.fixture
def admin_b(cast: Any) -> Any:
    """An admin of team B: manages team B's boards, and only those."""
    user = make_user("bea-admin")
    core_actions.do_grant_membership(cast.team_b, actor=cast.superuser, user=user, role=Role.ADMIN)
    return user


# --- Creating a board ---------------------------------------------------------------------------------------------


def test_a_compliance_officer_creates_a_team_board(cast):
    client = client_for(cast.compliance)
    page = client.get("/boards/")
    assert 'id="new-board"' in page.content.decode()
    form = client.get("/boards/new/").content.decode()
    assert 'value="team-a"' in form
    assert 'value="team-b"' not in form
    assert "The organisation" not in form  # only platform administrators manage the organisation's boards
    response = client.post(
        "/boards/new/", {"team": "team-a", "slug": "credit", "name": "Credit board", "description": "Loans."}
    )
    board = ReviewBoard.objects.get(slug="credit")
    assert response.status_code == 302
    assert response["Location"] == f"/boards/{board.pk}/"
    assert (board.team, board.name, board.description, board.created_by) == (
        cast.team_a,
        "Credit board",
        "Loans.",
        cast.compliance,
    )
    assert events(AuditEventType.BOARD_CREATED) == 1


def test_only_a_platform_administrator_creates_an_organisation_board(cast):
    refused = client_for(cast.compliance).post("/boards/new/", {"team": "-", "slug": "org", "name": "Org"})
    assert refused.status_code == 400
    assert "Select a valid choice" in refused.context["form"].errors["team"][0]
    assert not ReviewBoard.objects.exists()
    response = client_for(cast.superuser).post("/boards/new/", {"team": "-", "slug": "org", "name": "Org"})
    assert response.status_code == 302
    assert ReviewBoard.objects.get(slug="org").team is None


def test_a_duplicate_slug_is_refused_on_the_slug(cast, board):
    response = client_for(cast.compliance).post("/boards/new/", {"team": "team-a", "slug": board.slug, "name": "Again"})
    assert response.status_code == 400
    assert "already has a board" in response.context["form"].errors["slug"][0]
    assert ReviewBoard.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("slug", "not a slug!", "Enter a valid “slug”"),
        ("name", "n" * 129, "at most 128 characters"),
        ("description", "d" * 4001, "at most 4000 characters"),
        ("team", "no-such-team", "Select a valid choice"),
    ],
)
def test_bad_board_input_is_shown_on_its_field_and_nothing_is_written(cast, field, value, message):
    data = {"team": "team-a", "slug": "credit", "name": "Credit", "description": ""} | {field: value}
    response = client_for(cast.compliance).post("/boards/new/", data)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not ReviewBoard.objects.exists()
    assert events(AuditEventType.BOARD_CREATED) == 0


def test_an_engineer_is_offered_no_board_form_and_refused_one(cast):
    client = client_for(cast.engineer_a)
    assert 'id="new-board"' not in client.get("/boards/").content.decode()
    assert client.get("/boards/new/").status_code == 403
    assert client.post("/boards/new/", {"team": "team-a", "slug": "x", "name": "X"}).status_code == 403
    assert not ReviewBoard.objects.exists()


# --- Seats --------------------------------------------------------------------------------------------------------


def test_a_compliance_officer_seats_and_unseats_members(cast, board):
    client = client_for(cast.compliance)
    page = client.get(f"/boards/{board.pk}/").content.decode()
    assert 'id="seat-form"' in page
    response = client.post(
        f"/boards/{board.pk}/members/", {"username": cast.reviewers["technical"].username, "board_role": "technical"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/boards/{board.pk}/#members"
    seat = BoardMember.objects.get(board=board, user=cast.reviewers["technical"])
    assert (seat.board_role, seat.added_by) == ("technical", cast.compliance)
    assert events(AuditEventType.BOARD_MEMBER_ADDED) == 2  # the fixture's seat and this one
    response = client.post(f"/boards/{board.pk}/members/{seat.pk}/remove/")
    assert response.status_code == 302
    assert not BoardMember.objects.filter(pk=seat.pk).exists()
    assert events(AuditEventType.BOARD_MEMBER_REMOVED) == 1


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"username": "bob-engineer", "board_role": "legal"}, "username", "not a member of team team-a"),
        ({"username": "nobody", "board_role": "legal"}, "username", "No active user"),
        ({"username": "u" * 151, "board_role": "legal"}, "username", "at most 150 characters"),
        ({"username": "rita-legal", "board_role": "wizard"}, "board_role", "Select a valid choice"),
        ({"username": "rita-legal", "board_role": "legal"}, "board_role", "already sits on"),
    ],
)
def test_a_refused_seat_is_shown_on_its_field_and_nothing_is_written(cast, board, data, field, message):
    response = client_for(cast.compliance).post(f"/boards/{board.pk}/members/", data)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert 'class="field__error"' in response.content.decode()
    assert BoardMember.objects.filter(board=board).count() == 1
    assert events(AuditEventType.BOARD_MEMBER_ADDED) == 1


def test_a_team_admin_cannot_edit_another_teams_board(cast, board, admin_b):
    """GIVEN team A's board WHEN an admin of team B tries to seat, unseat or read it THEN each is a 404, exactly
    like a missing board, and nothing is written."""
    client = client_for(admin_b)
    seat = BoardMember.objects.get(board=board)
    before = AuditEvent.objects.count()
    assert client.get(f"/boards/{board.pk}/").status_code == 404
    add = client.post(f"/boards/{board.pk}/members/", {"username": admin_b.username, "board_role": "legal"})
    assert add.status_code == 404
    assert client.post(f"/boards/{board.pk}/members/{seat.pk}/remove/").status_code == 404
    assert list(BoardMember.objects.filter(board=board)) == [seat]
    assert AuditEvent.objects.count() == before
    # Nor can they make team A's board by naming the team: they are offered, and may choose, team B only.
    response = client.post("/boards/new/", {"team": "team-a", "slug": "mine", "name": "Mine"})
    assert response.status_code == 400
    assert "team" in response.context["form"].errors
    assert not ReviewBoard.objects.filter(slug="mine").exists()


def test_someone_who_reads_the_board_but_does_not_manage_it_gets_a_403_and_no_form(cast, board):
    reviewer = cast.reviewers["legal"]  # sits on it
    client = client_for(reviewer)
    page = client.get(f"/boards/{board.pk}/").content.decode()
    assert 'id="seat-form"' not in page
    assert "/remove/" not in page
    seat = BoardMember.objects.get(board=board)
    assert (
        client.post(f"/boards/{board.pk}/members/", {"username": "rita-risk", "board_role": "risk"}).status_code == 403
    )
    assert client.post(f"/boards/{board.pk}/members/{seat.pk}/remove/").status_code == 403
    assert BoardMember.objects.filter(board=board).count() == 1


def test_the_seat_forms_answer_post_only(cast, board):
    client = client_for(cast.compliance)
    seat = BoardMember.objects.get(board=board)
    assert client.get(f"/boards/{board.pk}/members/").status_code == 405
    assert client.get(f"/boards/{board.pk}/members/{seat.pk}/remove/").status_code == 405


# --- Environments -------------------------------------------------------------------------------------------------


def test_a_platform_administrator_creates_an_environment(cast):
    client = client_for(cast.superuser)
    assert 'id="new-environment"' in client.get("/environments/").content.decode()
    response = client.post(
        "/new-environment/",
        {
            "slug": "staging",
            "name": "Staging",
            "description": "",
            "rank": "5",
            "allowed_regions": "eu-west-1, eu-central-1",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/environments/staging/"
    environment = Environment.objects.get(slug="staging")
    assert (environment.rank, environment.allowed_regions) == (5, ["eu-west-1", "eu-central-1"])
    assert events(AuditEventType.ENVIRONMENT_CREATED) == 1


@pytest.mark.parametrize("persona", ["compliance", "admin_a", "engineer_a"])
def test_nobody_else_creates_an_environment(cast, persona):
    client = client_for(getattr(cast, persona))
    assert 'id="new-environment"' not in client.get("/environments/").content.decode()
    assert client.get("/new-environment/").status_code == 403
    assert client.post("/new-environment/", {"slug": "x", "name": "X", "rank": "1"}).status_code == 403
    assert not Environment.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rank", "ten", "Enter a whole number"),
        ("rank", "1e9", "Enter a whole number"),
        ("rank", "-1", "greater than or equal to 0"),
        ("slug", "Prod uction", "Enter a valid “slug”"),
        ("allowed_regions", "eu, eu", "named twice"),
        ("allowed_regions", "r" * 65, "at most 64 characters"),
        ("name", "n" * 129, "at most 128 characters"),
    ],
)
def test_bad_environment_input_is_shown_on_its_field(cast, field, value, message):
    data = {"slug": "production", "name": "Production", "rank": "10", "allowed_regions": ""} | {field: value}
    response = client_for(cast.superuser).post("/new-environment/", data)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not Environment.objects.exists()


def test_a_duplicate_environment_slug_is_refused_on_the_slug(cast):
    client = client_for(cast.superuser)
    assert client.post("/new-environment/", {"slug": "production", "name": "P", "rank": "1"}).status_code == 302
    response = client.post("/new-environment/", {"slug": "production", "name": "P2", "rank": "2"})
    assert response.status_code == 400
    assert "already exists" in response.context["form"].errors["slug"][0]
    assert Environment.objects.count() == 1
