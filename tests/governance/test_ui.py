"""The release pages through Django's test client: who reads which page, the review queue, the signing form and
its errors (wrong passphrase, conflict of interest, a role not held, signing twice, no CSRF token), signing keys
(create, revoke, compliance officers' view), boards, policies, the release list's filters, deployment history,
and that list pages cost the same number of queries whatever the number of rows.

Everything is made by the real actions (governance.actions, serving.actions) over a real ONNX artifact."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from governance import actions
from governance.manifest import build_manifest
from governance.models import Approval, Environment, SigningKey
from registry import actions as registry_actions
from serving.actions import do_deploy, do_rollback
from tests.governance.factories import ReleaseWorld, make_environment, make_policy, sign
from tests.registry.factories import chunks_of
from tests.registry.test_ui import row_of, text

PASSPHRASE = "a long signing passphrase"
X = "\N{MULTIPLICATION SIGN}"  # the pages write "2 <times> Legal"


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def web_key(user: Any) -> Any:
    return actions.do_create_web_signing_key(actor=user, passphrase=PASSPHRASE, name="web")


def sign_form(role: str, decision: str = "approve", passphrase: str = PASSPHRASE, comment: str = "") -> dict[str, str]:
    return {"board_role": role, "decision": decision, "comment": comment, "passphrase": passphrase}


def approve_with_client_keys(rw: ReleaseWorld, release: Any, roles: tuple[str, ...] = ("legal", "technical")) -> None:
    """Quorum by the CLI's way: each reviewer signs with a key held on their machine."""
    for role in roles:
        user = rw.cast.reviewers[role]
        private, _ = rw.key_of(user)
        actions.do_submit_approval(release, actor=user, envelope=sign(release, user, private, board_role=role))


def pages(rw: ReleaseWorld) -> list[str]:
    return [
        f"/releases/{rw.release.pk}/",
        f"/boards/{rw.board.pk}/",
        f"/policies/{rw.policy.pk}/",
    ]


# --- Who reads what -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/reviews/", "/releases/", "/releases/1/", "/keys/", "/boards/", "/boards/1/", "/policies/", "/policies/1/",
     "/environments/", "/environments/production/"],
)  # fmt: skip
def test_anonymous_is_sent_to_login(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


@pytest.mark.django_db
def test_anonymous_post_signs_nothing(client: Client, rw: ReleaseWorld) -> None:
    response = client.post(f"/releases/{rw.release.pk}/sign/", sign_form("legal"))
    assert response.status_code == 302
    assert not Approval.objects.exists()


def test_team_a_and_its_board_read_the_release_pages_team_b_gets_404(cast: Any, rw: ReleaseWorld) -> None:
    for name, user in cast.all().items():
        client = client_for(user)
        for path in pages(rw):
            expected = 404 if name == "engineer_b" else 200
            assert client.get(path).status_code == expected, (name, path)
        for path in ["/reviews/", "/releases/", "/keys/", "/boards/", "/policies/", "/environments/"]:
            assert client.get(path).status_code == 200, (name, path)
    b_releases = client_for(cast.engineer_b).get("/releases/")
    assert "#1" not in text(b_releases)
    assert "No release you can see." in text(b_releases)
    assert "Release Board" not in text(client_for(cast.engineer_b).get("/boards/"))


def test_missing_objects_are_404(cast: Any, rw: ReleaseWorld) -> None:
    client = client_for(cast.superuser)
    for path in ["/releases/999/", "/boards/999/", "/policies/999/", "/environments/nowhere/"]:
        assert client.get(path).status_code == 404, path


# --- The release page ---------------------------------------------------------------------------------------------


def test_release_page_shows_the_manifest_requirements_and_gate(cast: Any, rw: ReleaseWorld) -> None:
    response = client_for(cast.reviewers["legal"]).get(f"/releases/{rw.release.pk}/")
    page = text(response)
    version = rw.release.model_version
    assert f"Limit scorer v{version.number} → Production Open Awaiting signatures" in page
    assert version.artifact_sha256 in page
    assert rw.release.manifest_digest in page
    assert rw.release.nonce in page
    assert "Requested" in page
    assert "by erin-engineer" in page
    assert f"Required roles 1 {X} Legal 1 {X} Technical Min. approvers 2 distinct people" in page
    assert f"Still needed: 1 more {X} Legal 1 more {X} Technical 2 more approvers in all" in page
    # The dataset with its classification and the columns marked personal data and protected
    row = row_of(response, 'data-dataset="Loan applications"')
    assert "Confidential" in row
    assert "Personal data age , income" in row
    assert "Protected attribute age" in row
    # The gate, judged now: the quorum fails with its reason
    body = response.content.decode()
    assert 'class="check check--fail" data-check="quorum"' in body
    assert 'class="check check--pass" data-check="artifact_integrity"' in body
    assert "missing 1 legal, 1 technical" in page
    assert "No earlier release of this model was approved or deployed" in page
    assert "Nobody has signed yet." in page


def test_release_page_without_a_web_key_says_how_to_sign(cast: Any, rw: ReleaseWorld) -> None:
    page = text(client_for(cast.reviewers["legal"]).get(f"/releases/{rw.release.pk}/"))
    assert "You have no web-signing key" in page
    assert "signing keys page" in page
    assert f"assay release sign {rw.release.pk}" in page


def test_the_own_key_commands_leave_once_the_reviewer_signed(cast: Any, rw: ReleaseWorld) -> None:
    # GIVEN the legal reviewer signed the current manifest with a key of her own
    legal = cast.reviewers["legal"]
    private, _ = rw.key_of(legal)
    actions.do_submit_approval(rw.release, actor=legal, envelope=sign(rw.release, legal, private, board_role="legal"))
    # WHEN she opens the release again THEN it says she signed and no longer shows how to sign
    page = text(client_for(legal).get(f"/releases/{rw.release.pk}/"))
    assert "You signed this manifest" in page
    assert "Sign with your own key" not in page
    assert "assay release sign" not in page
    # while the technical reviewer, who has not signed, still gets the commands
    assert f"assay release sign {rw.release.pk}" in text(
        client_for(cast.reviewers["technical"]).get(f"/releases/{rw.release.pk}/")
    )


def test_release_page_for_someone_off_the_board_has_no_form(cast: Any, rw: ReleaseWorld) -> None:
    response = client_for(cast.compliance).get(f"/releases/{rw.release.pk}/")
    assert "You do not sit on Release Board" in text(response)
    assert 'id="sign-form"' not in response.content.decode()


# --- Signing in the browser ---------------------------------------------------------------------------------------


def test_reviewer_signs_and_the_approval_counts_and_leaves_the_queue(cast: Any, rw: ReleaseWorld) -> None:
    legal, technical = cast.reviewers["legal"], cast.reviewers["technical"]
    web_key(legal)
    client = client_for(legal)
    queue = client.get("/reviews/")
    assert "Legal" in row_of(queue, f'data-release="{rw.release.pk}"')

    form = client.get(f"/releases/{rw.release.pk}/")
    assert 'id="sign-form"' in form.content.decode()
    response = client.post(f"/releases/{rw.release.pk}/sign/", sign_form("legal", comment="Contract terms fine."))
    assert response.status_code == 302
    assert response["Location"] == f"/releases/{rw.release.pk}/#signatures"

    approval = Approval.objects.get()
    assert (approval.signer, approval.board_role, approval.decision, approval.signed_via) == (
        legal,
        "legal",
        "approve",
        "web",
    )
    page = client.get(f"/releases/{rw.release.pk}/")
    row = row_of(page, f'data-approval="{approval.pk}"')
    assert "rita-legal Legal Approve Contract terms fine." in row
    assert "Counts" in row
    assert "Web form" in row
    assert "You signed this manifest" in text(page)
    assert f"Still needed: 1 more {X} Technical 1 more approver in all" in text(page)

    # The queue of the signer empties; the technical reviewer still has it, for their role only
    assert "Nothing awaits your signature." in text(client.get("/reviews/"))
    assert "You signed its current manifest." in text(client.get("/reviews/"))
    other = row_of(client_for(technical).get("/reviews/"), f'data-release="{rw.release.pk}"')
    assert "Technical" in other
    assert "Legal" not in other


def test_wrong_passphrase_is_shown_on_its_field_and_signs_nothing(cast: Any, rw: ReleaseWorld) -> None:
    web_key(cast.reviewers["legal"])
    client = client_for(cast.reviewers["legal"])
    response = client.post(f"/releases/{rw.release.pk}/sign/", sign_form("legal", passphrase="not the passphrase"))
    assert response.status_code == 400
    body = response.content.decode()
    assert '<p class="field__error" id="id_passphrase_error">Wrong signing passphrase.</p>' in body
    assert PASSPHRASE not in body
    assert "not the passphrase" not in body
    assert not Approval.objects.exists()


def test_signing_twice_is_refused_with_the_reason(cast: Any, rw: ReleaseWorld) -> None:
    web_key(cast.reviewers["legal"])
    client = client_for(cast.reviewers["legal"])
    assert client.post(f"/releases/{rw.release.pk}/sign/", sign_form("legal")).status_code == 302
    again = client.post(f"/releases/{rw.release.pk}/sign/", sign_form("legal", decision="reject"))
    assert again.status_code == 400
    assert "You already signed this manifest of this release: one signature per person." in text(again)
    assert Approval.objects.count() == 1


def test_a_conflicted_member_may_not_approve(cast: Any, rw: ReleaseWorld) -> None:
    # GIVEN the engineer who requested the release also sits on the board
    actions.do_add_board_member(rw.board, actor=cast.compliance, user=cast.engineer_a, board_role="technical")
    web_key(cast.engineer_a)
    client = client_for(cast.engineer_a)
    # THEN the page warns before they try
    assert "Separation of duties: you may not approve this release (requested this release)" in text(
        client.get(f"/releases/{rw.release.pk}/")
    )
    # WHEN they approve THEN the form says why, and nothing is stored
    response = client.post(f"/releases/{rw.release.pk}/sign/", sign_form("technical"))
    assert response.status_code == 400
    assert "Separation of duties: you requested this release, so you may not approve this release" in text(response)
    assert not Approval.objects.exists()


def test_a_role_the_reviewer_does_not_hold_is_not_offered_or_accepted(cast: Any, rw: ReleaseWorld) -> None:
    web_key(cast.reviewers["legal"])
    client = client_for(cast.reviewers["legal"])
    body = client.get(f"/releases/{rw.release.pk}/").content.decode()
    assert '<option value="legal" selected>Legal</option>' in body
    assert 'value="technical"' not in body
    response = client.post(f"/releases/{rw.release.pk}/sign/", sign_form("technical"))
    assert response.status_code == 400
    assert "Select a valid choice. technical is not one of the available choices." in text(response)
    assert not Approval.objects.exists()


def test_missing_fields_are_named(cast: Any, rw: ReleaseWorld) -> None:
    web_key(cast.reviewers["legal"])
    response = client_for(cast.reviewers["legal"]).post(f"/releases/{rw.release.pk}/sign/", {"board_role": "legal"})
    assert response.status_code == 400
    body = response.content.decode()
    assert body.count("This field is required.") == 2  # decision and passphrase
    assert not Approval.objects.exists()


def test_only_board_members_sign_and_other_teams_get_404(cast: Any, rw: ReleaseWorld) -> None:
    # Neither may hold a signing key (only board members do: tests/governance/test_keys_board_only.py)
    assert client_for(cast.compliance).post(f"/releases/{rw.release.pk}/sign/", sign_form("legal")).status_code == 403
    assert client_for(cast.engineer_b).post(f"/releases/{rw.release.pk}/sign/", sign_form("legal")).status_code == 404
    assert client_for(cast.reviewers["legal"]).get(f"/releases/{rw.release.pk}/sign/").status_code == 405
    assert not Approval.objects.exists()


def test_signing_without_a_csrf_token_is_refused(cast: Any, rw: ReleaseWorld) -> None:
    web_key(cast.reviewers["legal"])
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.reviewers["legal"])
    response = client.post(f"/releases/{rw.release.pk}/sign/", sign_form("legal"))
    assert response.status_code == 403
    assert not Approval.objects.exists()
    # The same client with the page's token signs
    page = client.get(f"/releases/{rw.release.pk}/")
    token = page.cookies["csrftoken"].value
    signed = client.post(f"/releases/{rw.release.pk}/sign/", {**sign_form("legal"), "csrfmiddlewaretoken": token})
    assert signed.status_code == 302
    # Key creation and revocation are protected the same way
    assert client_for_csrf(cast.reviewers["risk"]).post("/keys/", {"passphrase": PASSPHRASE}).status_code == 403
    key = SigningKey.objects.get(owner=cast.reviewers["legal"])
    assert client_for_csrf(cast.reviewers["legal"]).post(f"/keys/{key.pk}/revoke/", {"reason": "x"}).status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None


def client_for_csrf(user: Any) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_a_change_after_signing_makes_the_signature_stale_and_the_release_returns_to_the_queue(
    cast: Any, rw: ReleaseWorld
) -> None:
    legal = cast.reviewers["legal"]
    web_key(legal)
    client = client_for(legal)
    client.post(f"/releases/{rw.release.pk}/sign/", sign_form("legal"))
    # WHEN an engineer changes the classification of a dataset the model was trained on
    dataset = rw.release.model_version.dataset_versions.get().dataset
    registry_actions.do_update_dataset(dataset, actor=cast.engineer_a, classification="restricted")
    # THEN the signature stays visible, does not count, and says why
    page = client.get(f"/releases/{rw.release.pk}/")
    row = row_of(page, f'data-approval="{Approval.objects.get().pk}"')
    assert "Does not count" in row
    assert "stale: it signed manifest" in row
    assert "Changed since the request" in text(page)
    changes = row_of(page, 'data-change="datasets[id=')
    assert "confidential" in changes
    assert "restricted" in changes
    assert "Your earlier signature covers a manifest that has since changed" in text(page)
    # AND the release awaits the reviewer again
    queue = row_of(client.get("/reviews/"), f'data-release="{rw.release.pk}"')
    assert "Sign again: changed" in queue


# --- Signing keys -------------------------------------------------------------------------------------------------


def test_create_a_web_signing_key_and_its_errors(cast: Any, rw: ReleaseWorld) -> None:
    client = client_for(cast.reviewers["legal"])
    differ = client.post("/keys/", {"passphrase": PASSPHRASE, "passphrase_again": PASSPHRASE + "x"})
    assert differ.status_code == 400
    assert '<p class="field__error" id="id_passphrase_again_error">The two passphrases differ.</p>' in (
        differ.content.decode()
    )
    short = client.post("/keys/", {"passphrase": "short", "passphrase_again": "short"})
    assert short.status_code == 400
    # The rule is the action's (governance.keywrap); the page shows its message on the field
    error = re.search(r'<p class="field__error" id="id_passphrase_error">([^<]*)</p>', short.content.decode())
    assert error is not None, short.content.decode()
    assert "12" in error.group(1)
    assert not SigningKey.objects.exists()

    created = client.post("/keys/", {"name": "web 2026", "passphrase": PASSPHRASE, "passphrase_again": PASSPHRASE})
    assert created.status_code == 302
    key = SigningKey.objects.get()
    page = client.get("/keys/")
    row = row_of(page, f'data-key="{key.fingerprint}"')
    assert "web 2026 Web signing Active" in row
    assert f"Created web-signing key {key.fingerprint}." in text(page)
    assert 'id="web-key-form"' not in page.content.decode()
    assert "You have a live web-signing key" in text(page)
    # A second one while the first is live is refused by the action, with its reason
    again = client.post("/keys/", {"passphrase": PASSPHRASE, "passphrase_again": PASSPHRASE})
    assert again.status_code == 400
    assert "revoke it before making another" in text(again)
    assert SigningKey.objects.count() == 1


def test_revoke_my_key_needs_a_reason(cast: Any, rw: ReleaseWorld) -> None:
    key = web_key(cast.reviewers["legal"])
    client = client_for(cast.reviewers["legal"])
    refused = client.post(f"/keys/{key.pk}/revoke/", {"reason": ""})
    assert refused.status_code == 400
    assert f'<p class="field__error" id="revoke-{key.pk}-error">This field is required.</p>' in refused.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None
    done = client.post(f"/keys/{key.pk}/revoke/", {"reason": "laptop lost"})
    assert done.status_code == 302
    row = row_of(client.get("/keys/"), f'data-key="{key.fingerprint}"')
    assert "Revoked" in row
    assert "laptop lost" in row
    # Revoked once: a second revocation is refused with the date, not written twice
    twice = client.post(f"/keys/{key.pk}/revoke/", {"reason": "again"})
    assert twice.status_code == 400
    assert "The key was already revoked on" in text(twice)


def test_compliance_officers_see_and_revoke_their_members_keys(cast: Any, rw: ReleaseWorld) -> None:
    key = web_key(cast.reviewers["legal"])
    officer = client_for(cast.compliance)
    page = officer.get("/keys/")
    row = row_of(page, f'data-key="{key.fingerprint}"')
    assert "rita-legal" in row
    assert "Web signing Active" in row
    # An engineer of the same team sees no such section and may not revoke it: 404, as if it did not exist
    engineer = client_for(cast.engineer_a)
    assert "Keys of your teams' members" not in text(engineer.get("/keys/"))
    assert engineer.post(f"/keys/{key.pk}/revoke/", {"reason": "mine now"}).status_code == 404
    # Team B's engineer has no say over team A's keys
    assert client_for(cast.engineer_b).post(f"/keys/{key.pk}/revoke/", {"reason": "x"}).status_code == 404
    assert officer.post(f"/keys/{key.pk}/revoke/", {"reason": "left the board"}).status_code == 302
    key.refresh_from_db()
    assert (key.revoked_by, key.revocation_reason) == (cast.compliance, "left the board")
    assert "by carol-compliance" in row_of(client_for(cast.reviewers["legal"]).get("/keys/"), "data-key")


def test_a_revoked_key_makes_its_approval_stop_counting_on_the_release_page(cast: Any, rw: ReleaseWorld) -> None:
    key = web_key(cast.reviewers["legal"])
    client_for(cast.reviewers["legal"]).post(f"/releases/{rw.release.pk}/sign/", sign_form("legal"))
    actions.do_revoke_signing_key(key, actor=cast.compliance, reason="stolen laptop")
    row = row_of(client_for(cast.compliance).get(f"/releases/{rw.release.pk}/"), "data-approval")
    assert "Does not count" in row
    assert "revoked" in row
    assert "stolen laptop" in row


# --- Boards, policies, release list -------------------------------------------------------------------------------


def test_board_pages_list_members_and_roles(cast: Any, rw: ReleaseWorld) -> None:
    client = client_for(cast.compliance)
    row = row_of(client.get("/boards/"), 'data-board="release-board"')
    assert "team-a" in row
    assert f"1 {X} Legal" in row
    assert f"1 {X} Technical" in row
    detail = client.get(f"/boards/{rw.board.pk}/")
    assert "Legal" in row_of(detail, 'data-member="rita-legal"')
    assert "High-risk production" in text(detail)
    assert f"#{rw.release.pk}" in text(detail)


def test_policy_pages_show_versions_and_requirements(cast: Any, rw: ReleaseWorld) -> None:
    actions.do_add_policy_version(
        rw.policy, actor=cast.compliance, required_roles={"legal": 1, "risk": 1}, min_total=2,
        approval_valid_days=14, note="Risk joins after the audit.",
    )  # fmt: skip
    client = client_for(cast.compliance)
    row = row_of(client.get("/policies/"), f'data-policy="{rw.policy.pk}"')
    assert f"1 {X} Legal 1 {X} Risk" in row
    assert "14 days" in row
    assert "v2" in row
    detail = client.get(f"/policies/{rw.policy.pk}/")
    assert "v2 In force" in row_of(detail, 'data-policy-version="2"')
    assert "Risk joins after the audit." in row_of(detail, 'data-policy-version="2"')
    assert f"1 {X} Legal 1 {X} Technical" in row_of(detail, 'data-policy-version="1"')
    assert client.get("/policies/?risk_tier=prohibited").status_code == 400
    assert "No policy matches." in text(client.get("/policies/?environment=staging"))


def test_release_list_filters(cast: Any, rw: ReleaseWorld) -> None:
    client = client_for(cast.compliance)
    assert client.get("/releases/").context["page"].paginator.count == 1
    for query, count in [
        ("status=open", 1), ("status=deployed", 0), ("environment=production", 1), ("environment=staging", 0),
        ("team=team-a", 1), ("team=team-b", 0), ("model=limit", 1), ("model=nothing", 0),
    ]:  # fmt: skip
        response = client.get(f"/releases/?{query}")
        assert response.status_code == 200
        assert response.context["page"].paginator.count == count, query
    bad = client.get("/releases/?status=approved")
    assert bad.status_code == 400
    assert "The filter is not valid" in text(bad)


# --- Deployments --------------------------------------------------------------------------------------------------


def deploy_history(rw: ReleaseWorld, onnx_path: Path) -> tuple[Any, Any, Any]:
    """Release 1 deployed, then a second version's release, then a rollback to release 1: three deployments."""
    cast = rw.cast
    approve_with_client_keys(rw, rw.release)
    first = do_deploy(rw.release, actor=cast.engineer_a)
    version = rw.release.model_version
    second_version = registry_actions.do_register_model_version(
        version.model, actor=cast.engineer_a, chunks=chunks_of(onnx_path), filename="add.onnx",
        dataset_versions=list(version.dataset_versions.values_list("pk", flat=True)),
    )  # fmt: skip
    second = actions.do_request_release(second_version, actor=cast.engineer_a, environment=rw.environment)
    approve_with_client_keys(rw, second)
    do_deploy(second, actor=cast.engineer_a)
    back = do_rollback(version.model, rw.environment, actor=cast.engineer_a, to_release=rw.release)
    return first, second, back


def test_deployment_history_with_rollback_marker(cast: Any, rw: ReleaseWorld, onnx_path: Path) -> None:
    first, second, back = deploy_history(rw, onnx_path)
    version = rw.release.model_version
    client = client_for(cast.compliance)
    env_row = row_of(client.get("/environments/"), 'data-environment="production"')
    assert "Production" in env_row
    assert " 1 3 " in f" {env_row} "
    page = client.get("/environments/production/")
    current = row_of(page, 'data-current-model="Limit scorer"')
    assert f"v{version.number}" in current
    assert "Rollback" in current
    assert "erin-engineer" in current
    assert "Rollback" in row_of(page, f'data-deployment="{back.pk}"')
    assert "First" in row_of(page, f'data-deployment="{first.pk}"')
    assert page.context["page"].paginator.count == 3
    # The release page tells its deployment attempts
    assert "passed, deployed" in text(client.get(f"/releases/{second.pk}/"))
    # Team B sees nothing of it
    b_page = client_for(cast.engineer_b).get("/environments/production/")
    assert "Nothing you can see is deployed here." in text(b_page)
    assert b_page.context["page"].paginator.count == 0


# --- Query counts -------------------------------------------------------------------------------------------------


def count_queries(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200, path
    return len(queries)


def add_releases(rw: ReleaseWorld, n: int) -> list[Any]:
    """``n`` more open releases of the same version, each to an environment of its own under its own policy."""
    made = []
    for _ in range(n):
        index = Environment.objects.count()
        environment = make_environment(rw.cast.superuser, slug=f"env-{index}", rank=index)
        make_policy(rw.cast.compliance, rw.cast.team_a, environment, rw.board, name=f"Policy {index}")
        made.append(actions.do_request_release(rw.release.model_version, actor=rw.cast.engineer_a,
                                               environment=environment))  # fmt: skip
    return made


LIST_PAGES = ["/releases/", "/boards/", "/policies/", "/environments/", "/keys/"]


def test_list_pages_cost_the_same_number_of_queries_whatever_the_rows(cast: Any, rw: ReleaseWorld) -> None:
    client = client_for(cast.compliance)
    web_key(cast.reviewers["legal"])
    before = {path: count_queries(client, path) for path in LIST_PAGES}
    add_releases(rw, 3)
    for role in ("risk", "privacy", "technical"):
        web_key(cast.reviewers[role])
    for index in range(3):
        actions.do_create_board(actor=cast.compliance, team=cast.team_a, slug=f"board-{index}", name=f"Board {index}")
    after = {path: count_queries(client, path) for path in LIST_PAGES}
    assert after == before


def test_environment_page_queries_do_not_grow_with_deployments(cast: Any, rw: ReleaseWorld, onnx_path: Path) -> None:
    client = client_for(cast.compliance)
    approve_with_client_keys(rw, rw.release)
    do_deploy(rw.release, actor=cast.engineer_a)
    one = count_queries(client, "/environments/production/")
    # A second version deployed, then a rollback to the first: three rows of history, one serving
    version = rw.release.model_version
    second_version = registry_actions.do_register_model_version(
        version.model, actor=cast.engineer_a, chunks=chunks_of(onnx_path), filename="add.onnx",
        dataset_versions=list(version.dataset_versions.values_list("pk", flat=True)),
    )  # fmt: skip
    second = actions.do_request_release(second_version, actor=cast.engineer_a, environment=rw.environment)
    approve_with_client_keys(rw, second)
    do_deploy(second, actor=cast.engineer_a)
    do_rollback(version.model, rw.environment, actor=cast.engineer_a, to_release=rw.release)
    assert client.get("/environments/production/").context["page"].paginator.count == 3
    assert count_queries(client, "/environments/production/") == one


def test_review_queue_costs_a_fixed_number_of_queries_per_open_release(cast: Any, rw: ReleaseWorld) -> None:
    """The queue judges each open release of the reviewer's boards once (governance.evaluation): a fixed cost per
    release, whatever the number of signatures on it."""
    client = client_for(cast.reviewers["legal"])
    one = count_queries(client, "/reviews/")
    add_releases(rw, 1)
    two = count_queries(client, "/reviews/")
    add_releases(rw, 1)
    three = count_queries(client, "/reviews/")
    per_release = two - one
    assert three - two == per_release
    # More signatures on a release do not add queries
    approve_with_client_keys(rw, rw.release, roles=("technical",))
    signed_once = count_queries(client, "/reviews/")
    approve_with_client_keys(rw, rw.release, roles=("risk", "privacy"))
    assert count_queries(client, "/reviews/") == signed_once
    print(f"review queue: {one} queries for 1 open release, +{per_release} per further one")


def test_the_release_page_builds_its_manifest_once(cast: Any, rw: ReleaseWorld) -> None:
    """The page, its gate preview and its "changes since the last approved release" share one rebuilt manifest (they
    built it three times), and the page's cost does not grow with the signatures on the release."""
    client = client_for(cast.reviewers["legal"])
    path = f"/releases/{rw.release.pk}/"
    with CaptureQueriesContext(connection) as build:
        build_manifest(rw.release)
    building = [query["sql"] for query in build.captured_queries]
    approve_with_client_keys(rw, rw.release, roles=("technical",))
    with CaptureQueriesContext(connection) as page:
        assert client.get(path).status_code == 200
    made = [query["sql"] for query in page.captured_queries]
    assert {sql: made.count(sql) for sql in building} == {sql: 1 for sql in building}
    approve_with_client_keys(rw, rw.release, roles=("risk", "privacy"))
    assert count_queries(client, path) == len(made)


def test_the_release_page_shows_what_changed_since_the_last_approved_release(
    cast: Any, rw: ReleaseWorld, onnx_path: Path
) -> None:
    # GIVEN a release approved and deployed, then three requests nobody signed, then a change the manifest covers
    approve_with_client_keys(rw, rw.release)
    do_deploy(rw.release, actor=cast.engineer_a)
    add_releases(rw, 3)
    registry_actions.do_update_model(rw.release.model_version.model, actor=cast.admin_a, limitations="Not under 21.")
    (latest,) = add_releases(rw, 1)
    # THEN the newest release compares itself with the deployed one, naming the change
    client = client_for(cast.reviewers["legal"])
    page = client.get(f"/releases/{latest.pk}/")
    changes = text(page)
    assert f"Compared with what the approvers of release #{rw.release.pk}" in changes
    assert "Not under 21." in changes
    paths = [change["path"] for change in page.context["changes"]]
    assert "model.limitations" in paths  # (and the policy: these releases go to other environments)
    # AND the unsigned requests in between are not judged (each judgement would rebuild a manifest): one query
    from governance.evaluation import last_approved_release

    with CaptureQueriesContext(connection) as queries:
        assert last_approved_release(latest) == rw.release
    assert len(queries) == 1
