"""The policy forms through Django's test client, as GIVEN / WHEN / THEN: a change is previewed with the open
releases it affects before it is saved, a confirmation saves only what was previewed, impossible rules are refused
on the field they name (at the preview and again at the save), an engineer is kept out, and malformed input is
shown on its field with nothing written. The world (tests/governance/factories.py): team A's board seats one
reviewer per board role; its policy for production and high risk needs legal and technical, two people in all; a
release of team A's high-risk model to production is open under version 1."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils.datastructures import MultiValueDict

from core.audit import verify_chain
from core.choices import AuditEventType
from core.models import AuditEvent
from governance import actions
from governance.forms.policies import PolicyRulesForm
from governance.models import ReleasePolicy, ReleasePolicyVersion
from tests.governance.factories import ReleaseWorld, make_board, make_environment, make_policy, make_ready_version

pytestmark = pytest.mark.django_db
X = "\N{MULTIPLICATION SIGN}"  # the pages write "2 <times> Legal"


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rules(**overrides: Any) -> dict[str, Any]:
    """The policy form's fields: two legal and one technical signature by default."""
    data: dict[str, Any] = {
        "role_legal": "1",
        "role_compliance": "0",
        "role_risk": "0",
        "role_privacy": "0",
        "role_technical": "1",
        "min_total": "3",
        "approval_valid_days": "14",
        "decision_records": "on_request",
        "note": "Three people from Q4.",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def digest_of(data: dict[str, Any], base: int = 1) -> str:
    """What the preview page puts in its confirm form."""
    form = PolicyRulesForm(
        MultiValueDict({key: value if isinstance(value, list) else [value] for key, value in data.items()})
    )
    assert form.is_valid(), form.errors
    return form.digest(base)


def versions(policy: Any) -> list[int]:
    return list(ReleasePolicyVersion.objects.filter(policy=policy).order_by("number").values_list("number", flat=True))


def url(rw: ReleaseWorld) -> str:
    return f"/policies/{rw.policy.pk}/versions/new/"


# --- The preview, then the save -----------------------------------------------------------------------------------


def test_a_change_shows_the_open_releases_it_affects_before_it_is_saved(rw):
    """GIVEN an open release under version 1 WHEN the compliance officer submits new rules THEN the page lists that
    release with what changes for it, and nothing is saved; WHEN she confirms THEN version 2 is saved."""
    client = client_for(rw.cast.compliance)
    form_page = client.get(url(rw)).content.decode()
    assert 'name="role_legal"' in form_page
    assert 'value="1"' in form_page
    events_before = AuditEvent.objects.count()

    preview = client.post(url(rw), rules(step="preview"))

    assert preview.status_code == 200
    impact = preview.context["impact"]
    assert [row.release.pk for row in impact.releases] == [rw.release.pk]
    assert impact.number == 2
    changes = {change.rule: (change.before, change.after) for change in impact.releases[0].changes}
    assert changes["Least number of approvers"] == ("2", "3")
    assert changes["Approvals valid (days)"] == ("30", "14")
    assert "Roles" not in changes  # the same roles and counts
    html = preview.content.decode()
    assert 'id="affected-releases"' in html
    assert f'data-release="{rw.release.pk}"' in html
    assert 'id="confirm-save"' in html
    assert f'value="{digest_of(rules())}"' in html
    assert versions(rw.policy) == [1]
    assert AuditEvent.objects.count() == events_before  # the preview's rolled-back write left no event

    saved = client.post(url(rw), rules(step="save", previewed=digest_of(rules())))

    assert saved.status_code == 302
    assert saved["Location"] == f"/policies/{rw.policy.pk}/"
    assert versions(rw.policy) == [1, 2]
    version = ReleasePolicyVersion.objects.get(policy=rw.policy, number=2)
    assert (version.required_roles, version.min_total, version.approval_valid_days, version.note) == (
        {"legal": 1, "technical": 1},
        3,
        14,
        "Three people from Q4.",
    )
    assert version.created_by == rw.cast.compliance
    assert AuditEvent.objects.filter(event_type=AuditEventType.POLICY_VERSION_CREATED).count() == 2
    assert verify_chain().intact  # the preview's rolled-back append left no gap in the chain


def test_a_confirmation_of_rules_other_than_the_previewed_ones_is_previewed_again(rw):
    """GIVEN a preview of 3 approvers WHEN the form is confirmed with 4 THEN nothing is saved and the new rules are
    previewed instead."""
    client = client_for(rw.cast.compliance)
    response = client.post(url(rw), rules(min_total="4", step="save", previewed=digest_of(rules())))
    assert response.status_code == 200
    assert response.context["impact"] is not None
    assert versions(rw.policy) == [1]


def test_a_confirmation_sent_twice_saves_one_version(rw):
    """GIVEN a previewed change WHEN the confirmation is sent twice (a double click) THEN one version is saved and
    the second confirmation, made over version 1, is previewed again over version 2."""
    client = client_for(rw.cast.compliance)
    confirm = rules(step="save", previewed=digest_of(rules()))
    assert client.post(url(rw), confirm).status_code == 302
    again = client.post(url(rw), confirm)
    assert again.status_code == 200
    assert again.context["impact"].number == 3
    assert versions(rw.policy) == [1, 2]


def test_a_withdrawn_release_is_not_listed(rw):
    """GIVEN the release was withdrawn WHEN the rules change THEN the preview lists no release."""
    actions.do_withdraw_release(rw.release, actor=rw.cast.engineer_a, reason="superseded")
    response = client_for(rw.cast.compliance).post(url(rw), rules(step="preview"))
    assert response.status_code == 200
    assert response.context["impact"].releases == []


# --- Impossible rules ---------------------------------------------------------------------------------------------


def test_more_roles_than_the_board_has_seats_is_refused_on_the_roles(rw):
    """GIVEN a board with one legal member WHEN a version asks for two legal signatures THEN the preview refuses it
    on the roles, and a save sent straight past the preview is refused the same way: nothing is written."""
    client = client_for(rw.cast.compliance)
    impossible = rules(role_legal="2")
    preview = client.post(url(rw), {**impossible, "step": "preview"})
    assert preview.status_code == 400
    errors = preview.context["form"].errors
    assert "too few members in role(s) legal" in errors["required_roles"][0]
    assert 'id="id_required_roles_error"' in preview.content.decode()
    assert preview.context["impact"] is None

    save = client.post(url(rw), {**impossible, "step": "save", "previewed": digest_of(impossible)})
    assert save.status_code == 400
    assert "too few members" in save.context["form"].errors["required_roles"][0]
    assert versions(rw.policy) == [1]


def test_more_approvers_than_the_board_has_members_is_refused_on_the_minimum(rw):
    """GIVEN a board of five WHEN a version needs six distinct approvers THEN it is refused on min_total."""
    response = client_for(rw.cast.compliance).post(url(rw), rules(min_total="6", step="preview"))
    assert response.status_code == 400
    assert "has 5 member(s); this policy needs 6" in response.context["form"].errors["min_total"][0]
    assert versions(rw.policy) == [1]


def test_audits_without_the_audit_check_are_refused_on_the_audits(rw):
    response = client_for(rw.cast.compliance).post(url(rw), rules(audit_fairness="on", step="preview"))
    assert response.status_code == 400
    assert "audits_passed" in response.context["form"].errors["audit_requirements"][0]
    assert versions(rw.policy) == [1]


def test_audit_requirements_are_saved_as_the_api_would_take_them(rw):
    data = rules(
        required_checks=["audits_passed"],
        audit_fairness="on",
        audit_fairness__max_age_days="60",
        audit_fairness__disparate_impact_min="0.9",
    )
    client = client_for(rw.cast.compliance)
    assert client.post(url(rw), {**data, "step": "preview"}).status_code == 200
    assert client.post(url(rw), {**data, "step": "save", "previewed": digest_of(data)}).status_code == 302
    version = ReleasePolicyVersion.objects.get(policy=rw.policy, number=2)
    assert version.required_checks == ["audits_passed"]
    assert version.audit_requirements == {"fairness": {"max_age_days": 60, "thresholds": {"disparate_impact_min": 0.9}}}


# --- Malformed input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("role_legal", "two", "Enter a whole number"),
        ("role_legal", "-1", "greater than or equal to 0"),
        ("role_legal", "51", "less than or equal to 50"),
        ("min_total", "1e3", "Enter a whole number"),
        ("min_total", "0", "greater than or equal to 1"),
        ("approval_valid_days", "NaN", "Enter a whole number"),
        ("approval_valid_days", "3651", "less than or equal to 3650"),
        ("required_checks", ["no_such_check"], "Select a valid choice"),
        ("decision_records", "sometimes", "Select a valid choice"),
        ("audit_fairness__disparate_impact_min", "1.5", "less than or equal to 1"),
        ("audit_fairness__disparate_impact_min", "inf", "Enter a number"),
        ("audit_fairness__max_age_days", "0", "greater than or equal to 1"),
        ("note", "n" * 4001, "at most 4000 characters"),
    ],
)
def test_malformed_rules_are_shown_on_their_field_and_nothing_is_written(rw, field, value, message):
    response = client_for(rw.cast.compliance).post(url(rw), rules(**{field: value, "step": "save"}))
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert versions(rw.policy) == [1]


def test_an_unknown_role_is_not_a_field_and_cannot_sneak_into_the_rules(rw):
    data = rules(role_wizard="3", required_roles='{"wizard": 3}')
    client = client_for(rw.cast.compliance)
    assert client.post(url(rw), {**data, "step": "save", "previewed": digest_of(data)}).status_code == 302
    assert ReleasePolicyVersion.objects.get(policy=rw.policy, number=2).required_roles == {"legal": 1, "technical": 1}


# --- A new policy -------------------------------------------------------------------------------------------------


def create(**overrides: Any) -> dict[str, Any]:
    return rules(name="Limited production", team="team-a", environment="production", risk_tier="limited") | overrides


def test_a_compliance_officer_creates_a_policy_with_its_first_version(rw):
    client = client_for(rw.cast.compliance)
    assert 'id="new-policy"' in client.get("/policies/").content.decode()
    data = create(board=str(rw.board.pk))
    preview = client.post("/policies/new/", {**data, "step": "preview"})
    assert preview.status_code == 200
    assert preview.context["impact"].releases == []  # the open release is of a high-risk use case
    assert 'id="no-affected"' in preview.content.decode()
    previewed = preview.context["digest"]
    assert not ReleasePolicy.objects.filter(name="Limited production").exists()
    saved = client.post("/policies/new/", {**data, "step": "save", "previewed": previewed})
    policy = ReleasePolicy.objects.get(name="Limited production")
    assert saved.status_code == 302
    assert saved["Location"] == f"/policies/{policy.pk}/"
    assert (policy.team, policy.environment, policy.risk_tier, policy.board) == (
        rw.cast.team_a,
        rw.environment,
        "limited",
        rw.board,
    )
    assert versions(policy) == [1]
    assert AuditEvent.objects.filter(event_type=AuditEventType.POLICY_CREATED).count() == 2


def test_a_duplicate_is_refused_and_an_organisation_policy_under_a_team_policy_affects_nothing(rw):
    """GIVEN team A's open release under team A's policy WHEN the platform administrator previews team A's policy
    again (a duplicate) THEN it is refused on the risk tier; WHEN she previews an organisation policy for the same
    environment and tier THEN no release is affected (team A's own policy still beats it)."""
    client = client_for(rw.cast.superuser)
    duplicate = client.post("/policies/new/", {**create(risk_tier="high", board=str(rw.board.pk)), "step": "preview"})
    assert duplicate.status_code == 400
    assert "already has policy" in duplicate.context["form"].errors["risk_tier"][0]
    org_board = client.post("/boards/new/", {"team": "-", "slug": "org", "name": "Org"})
    assert org_board.status_code == 302
    board_pk = org_board["Location"].rstrip("/").rsplit("/", 1)[1]
    for role, user in rw.cast.reviewers.items():
        client.post(f"/boards/{board_pk}/members/", {"username": user.username, "board_role": role})
    org = create(team="-", risk_tier="high", board=board_pk)
    preview = client.post("/policies/new/", {**org, "step": "preview"})
    assert preview.status_code == 200, preview.context["form"].errors
    assert preview.context["impact"].releases == []


def test_a_team_policy_cannot_name_another_teams_board(rw):
    other = client_for(rw.cast.superuser).post("/boards/new/", {"team": "team-b", "slug": "b-board", "name": "B"})
    assert other.status_code == 302
    board_pk = other["Location"].rstrip("/").rsplit("/", 1)[1]
    # The compliance officer of team A does not see team B's board: it is not a choice.
    response = client_for(rw.cast.compliance).post("/policies/new/", {**create(board=board_pk), "step": "preview"})
    assert response.status_code == 400
    assert "board" in response.context["form"].errors
    # The platform administrator sees it; the action refuses it, on the board.
    response = client_for(rw.cast.superuser).post("/policies/new/", {**create(board=board_pk), "step": "preview"})
    assert response.status_code == 400
    assert "belongs to another team" in response.context["form"].errors["board"][0]
    assert not ReleasePolicy.objects.filter(name="Limited production").exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "n" * 129, "at most 128 characters"),
        ("risk_tier", "prohibited", "Select a valid choice"),
        ("environment", "mars", "Select a valid choice"),
        ("board", "999999", "Select a valid choice"),
        ("board", "x", "Select a valid choice"),
        ("team", "team-b", "Select a valid choice"),
    ],
)
def test_bad_policy_input_is_shown_on_its_field(rw, field, value, message):
    data = create(board=str(rw.board.pk)) | {field: value, "step": "preview"}
    response = client_for(rw.cast.compliance).post("/policies/new/", data)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert ReleasePolicy.objects.count() == 1


# --- Who reaches the forms ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["engineer_a", "auditor"])
def test_an_engineer_or_auditor_of_the_team_gets_a_403_and_no_button(rw, persona):
    client = client_for(getattr(rw.cast, persona))
    assert 'id="new-version"' not in client.get(f"/policies/{rw.policy.pk}/").content.decode()
    assert 'id="new-policy"' not in client.get("/policies/").content.decode()
    assert client.get(url(rw)).status_code == 403
    assert client.post(url(rw), rules(step="save", previewed=digest_of(rules()))).status_code == 403
    assert client.get("/policies/new/").status_code == 403
    assert client.post("/policies/new/", create(board=str(rw.board.pk), step="preview")).status_code == 403
    assert versions(rw.policy) == [1]
    assert ReleasePolicy.objects.count() == 1


def test_an_engineer_of_another_team_gets_a_404(rw):
    client = client_for(rw.cast.engineer_b)
    assert client.get(url(rw)).status_code == 404
    assert client.post(url(rw), rules(step="preview")).status_code == 404
    assert versions(rw.policy) == [1]


def test_the_manager_sees_the_buttons(rw):
    page = client_for(rw.cast.admin_a).get(f"/policies/{rw.policy.pk}/").content.decode()
    assert 'id="new-version"' in page


# --- A team policy over the organisation's ------------------------------------------------------------------------


def test_a_team_policy_lists_the_releases_it_takes_over_from_the_organisations(cast, artifact_root, onnx_path):
    """GIVEN team A's open release judged by the organisation's policy (team A has none of its own) WHEN team A's
    compliance officer previews a team policy for the same environment and tier THEN the release is listed as
    taken over, with the policy and rules that change for it; nothing is saved until she confirms."""
    environment = make_environment(cast.superuser)
    org_board = make_board(cast.superuser, None, dict(cast.reviewers), slug="org-board")
    make_policy(cast.superuser, None, environment, org_board, name="Organisation high-risk")
    release = actions.do_request_release(
        make_ready_version(cast, onnx_path), actor=cast.engineer_a, environment=environment
    )
    team_board = make_board(cast.compliance, cast.team_a, {"legal": cast.reviewers["legal"]}, slug="team-board")
    client = client_for(cast.compliance)
    data = rules(role_technical="0", min_total="1") | {
        "name": "Team A high-risk",
        "team": "team-a",
        "environment": environment.slug,
        "risk_tier": "high",
        "board": str(team_board.pk),
    }

    preview = client.post("/policies/new/", {**data, "step": "preview"})

    assert preview.status_code == 200, preview.context["form"].errors
    [row] = preview.context["impact"].releases
    assert row.release.pk == release.pk
    assert row.was_current
    changes = {change.rule: (change.before, change.after) for change in row.changes}
    assert changes["Policy"] == ("Organisation high-risk", "Team A high-risk")
    assert changes["Roles"] == (f"1 {X} Legal, 1 {X} Technical", f"1 {X} Legal")
    assert not ReleasePolicy.objects.filter(name="Team A high-risk").exists()
    saved = client.post("/policies/new/", {**data, "step": "save", "previewed": preview.context["digest"]})
    assert saved.status_code == 302
    assert ReleasePolicy.objects.get(name="Team A high-risk").team == cast.team_a
