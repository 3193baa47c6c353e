"""Every governance endpoint, tried by every persona of the cast and by an anonymous client (tests/api_cases.py).

Team A's board seats every reviewer of the cast in their role. Compliance officers and admins of team A manage its
boards and policies; the organisation's are the platform administrators'. Engineers and admins request and
withdraw releases; only board members sign; everyone signed in reads public keys and environments. The engineer of
team B sees none of team A's governance (404, or a 400 naming something that "does not exist").
"""

from __future__ import annotations

from typing import Any

import pytest

from assay_trust import keys as trust_keys
from core.choices import AuditEventType
from governance import actions
from governance.models import (
    Approval,
    BoardMember,
    Environment,
    Release,
    ReleasePolicy,
    ReleasePolicyVersion,
    ReviewBoard,
    SigningKey,
)
from tests.api_cases import PERSONAS, REVIEWERS, TEAM_A, ApiCase, World, matrix, run_case
from tests.governance.factories import (
    make_board,
    make_client_key,
    make_environment,
    make_policy,
    make_ready_version,
    make_release_world,
)

EVERYONE = dict.fromkeys(PERSONAS, 200)
TEAM_A_AND_ROOT = ("superuser", *TEAM_A)
MANAGERS = ("superuser", "admin_a", "compliance")
WRITERS = ("superuser", "admin_a", "engineer_a")
ONNX: list[Any] = []


@pytest.fixture(autouse=True)
def _onnx(onnx_path: Any) -> None:
    ONNX[:] = [onnx_path]


def only(status: int, personas: tuple[str, ...]) -> dict[str, int]:
    return dict.fromkeys(personas, status)


def reads(status: int = 200) -> dict[str, int]:
    return {**only(status, TEAM_A_AND_ROOT), "engineer_b": 404}


def team_a(status: int, allowed: tuple[str, ...], *, others: int = 403, outsider: int = 404) -> dict[str, int]:
    """``status`` for ``allowed``, ``others`` for the rest of team A, ``outsider`` for team B's engineer."""
    return {**only(others, TEAM_A), **only(status, allowed), "engineer_b": outsider}


def _environment(world: World) -> dict[str, Any]:
    return {"environment": make_environment(world.cast.superuser)}


def _board(world: World) -> dict[str, Any]:
    cast = world.cast
    return {**_environment(world), "board": make_board(cast.compliance, cast.team_a, dict(cast.reviewers))}


def _policy(world: World) -> dict[str, Any]:
    objects = _board(world)
    cast = world.cast
    objects["policy"] = make_policy(cast.compliance, cast.team_a, objects["environment"], objects["board"])
    return objects


def _ready(world: World) -> dict[str, Any]:
    objects = _policy(world)
    objects["version"] = make_ready_version(world.cast, ONNX[0])
    return objects


def _release(world: World) -> dict[str, Any]:
    rw = make_release_world(world.cast, ONNX[0])
    return {"release": rw.release, "board": rw.board, "policy": rw.policy, "environment": rw.environment}


def _legal_key(world: World) -> dict[str, Any]:
    _, key = make_client_key(world.cast.reviewers["legal"])
    return {"key": key}


def _new_public_key(world: World) -> dict[str, Any]:
    return {"public_key": trust_keys.public_key_pem(trust_keys.generate_private_key().public_key()), "name": "ci"}


POLICY_BODY = {
    "name": "Limited-risk production",
    "environment": "production",
    "risk_tier": "limited",
    "required_roles": {"technical": 1},
    "min_total": 1,
    "approval_valid_days": 14,
}

CASES = [
    # --- environments ----------------------------------------------------------------------------------------------
    ApiCase(
        "environments.list",
        "get",
        lambda w: "/api/v1/environments/",
        statuses=EVERYONE,
        setup=_environment,
        listed=lambda w: '"slug":"production"',
        visible_to=PERSONAS,
    ),
    ApiCase(
        "environments.detail",
        "get",
        lambda w: "/api/v1/environments/production/",
        statuses=EVERYONE,
        setup=_environment,
    ),
    ApiCase(
        "environments.create",
        "post",
        lambda w: "/api/v1/environments/",
        data=lambda w: {"slug": "staging", "name": "Staging", "rank": 1},
        statuses={"superuser": 201},
        event=AuditEventType.ENVIRONMENT_CREATED,
        counted=(Environment,),
    ),
    # --- boards ----------------------------------------------------------------------------------------------------
    ApiCase(
        "boards.list",
        "get",
        lambda w: "/api/v1/boards/",
        statuses=EVERYONE,
        setup=_board,
        listed=lambda w: '"slug":"release-board"',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase("boards.detail", "get", lambda w: f"/api/v1/boards/{w.board.pk}/", statuses=reads(), setup=_board),
    ApiCase(
        "boards.create",
        "post",
        lambda w: "/api/v1/boards/",
        data=lambda w: {"team": "team-a", "slug": "model-risk", "name": "Model risk board"},
        statuses=team_a(201, MANAGERS, outsider=400),
        event=AuditEventType.BOARD_CREATED,
        counted=(ReviewBoard,),
    ),
    ApiCase(
        "boards.create_organisation_board",
        "post",
        lambda w: "/api/v1/boards/",
        data=lambda w: {"team": None, "slug": "group-risk", "name": "Group risk board"},
        statuses={"superuser": 201},
        event=AuditEventType.BOARD_CREATED,
        counted=(ReviewBoard,),
    ),
    ApiCase(
        "boards.patch_is_not_allowed",
        "patch",
        lambda w: f"/api/v1/boards/{w.board.pk}/",
        data=lambda w: {"name": "Renamed"},
        setup=_board,
        statuses={"engineer_b": 405},
        default=405,
        counted=(ReviewBoard,),
    ),
    ApiCase(
        "boards.members.list",
        "get",
        lambda w: f"/api/v1/boards/{w.board.pk}/members/",
        statuses=reads(),
        setup=_board,
    ),
    ApiCase(
        "boards.members.add",
        "post",
        lambda w: f"/api/v1/boards/{w.board.pk}/members/",
        data=lambda w: {"user": "dave-auditor", "board_role": "risk"},
        setup=_board,
        statuses=team_a(201, MANAGERS),
        event=AuditEventType.BOARD_MEMBER_ADDED,
        counted=(BoardMember,),
    ),
    ApiCase(
        "boards.members.remove",
        "delete",
        lambda w: f"/api/v1/boards/{w.board.pk}/members/{w.board.members.get(board_role='risk').pk}/",
        setup=_board,
        statuses=team_a(204, MANAGERS),
        event=AuditEventType.BOARD_MEMBER_REMOVED,
        counted=(BoardMember,),
    ),
    # --- release policies ------------------------------------------------------------------------------------------
    ApiCase(
        "policies.list",
        "get",
        lambda w: "/api/v1/release-policies/",
        statuses=EVERYONE,
        setup=_policy,
        listed=lambda w: '"name":"High-risk production"',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "policies.detail", "get", lambda w: f"/api/v1/release-policies/{w.policy.pk}/", statuses=reads(), setup=_policy
    ),
    ApiCase(
        "policies.create",
        "post",
        lambda w: "/api/v1/release-policies/",
        data=lambda w: {**POLICY_BODY, "team": "team-a", "board": w.board.pk},
        setup=_board,
        statuses=team_a(201, MANAGERS, outsider=400),
        event=AuditEventType.POLICY_CREATED,
        counted=(ReleasePolicy, ReleasePolicyVersion),
    ),
    ApiCase(
        "policies.versions.list",
        "get",
        lambda w: f"/api/v1/release-policies/{w.policy.pk}/versions/",
        statuses=reads(),
        setup=_policy,
    ),
    ApiCase(
        "policies.versions.create",
        "post",
        lambda w: f"/api/v1/release-policies/{w.policy.pk}/versions/",
        data=lambda w: {"required_roles": {"legal": 1, "privacy": 1}, "min_total": 3, "approval_valid_days": 7},
        setup=_policy,
        statuses=team_a(201, MANAGERS),
        event=AuditEventType.POLICY_VERSION_CREATED,
        counted=(ReleasePolicyVersion,),
    ),
    # --- signing keys ----------------------------------------------------------------------------------------------
    ApiCase(
        "signing_keys.list",
        "get",
        lambda w: "/api/v1/signing-keys/",
        statuses=EVERYONE,
        setup=_legal_key,
        listed=lambda w: w.key.fingerprint,
        visible_to=PERSONAS,
    ),
    ApiCase(
        "signing_keys.detail", "get", lambda w: f"/api/v1/signing-keys/{w.key.pk}/", statuses=EVERYONE, setup=_legal_key
    ),
    ApiCase(
        "signing_keys.create",
        "post",
        lambda w: "/api/v1/signing-keys/",
        data=lambda w: _new_public_key(w),
        # Only board members hold signing keys: the reviewers, each in a board role; the rest a 403.
        statuses=only(201, REVIEWERS),
        event=AuditEventType.SIGNING_KEY_REGISTERED,
        refusal_event=AuditEventType.SIGNING_KEY_REFUSED,
        counted=(SigningKey,),
    ),
    ApiCase(
        "signing_keys.revoke",
        "post",
        lambda w: f"/api/v1/signing-keys/{w.key.pk}/revoke/",
        data=lambda w: {"reason": "Laptop stolen"},
        setup=_legal_key,
        statuses={"superuser": 200, "compliance": 200, "reviewer_legal": 200},
        event=AuditEventType.SIGNING_KEY_REVOKED,
    ),
    ApiCase(
        "signing_keys.delete_is_not_allowed",
        "delete",
        lambda w: f"/api/v1/signing-keys/{w.key.pk}/",
        setup=_legal_key,
        default=405,
        counted=(SigningKey,),
    ),
    # --- releases --------------------------------------------------------------------------------------------------
    ApiCase(
        "releases.list",
        "get",
        lambda w: "/api/v1/releases/",
        statuses=EVERYONE,
        setup=_release,
        listed=lambda w: str(w.release.uid),
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase("releases.detail", "get", lambda w: f"/api/v1/releases/{w.release.pk}/", statuses=reads(), setup=_release),
    ApiCase(
        "releases.manifest",
        "get",
        lambda w: f"/api/v1/releases/{w.release.pk}/manifest/",
        statuses=reads(),
        setup=_release,
    ),
    ApiCase(
        "releases.create",
        "post",
        lambda w: "/api/v1/releases/",
        data=lambda w: {"model_version": w.version.pk, "environment": "production", "justification": "Q3"},
        setup=_ready,
        statuses=team_a(201, WRITERS, outsider=400),
        event=AuditEventType.RELEASE_REQUESTED,
        counted=(Release,),
    ),
    ApiCase(
        "releases.withdraw",
        "post",
        lambda w: f"/api/v1/releases/{w.release.pk}/withdraw/",
        data=lambda w: {"reason": "Retraining first"},
        setup=_release,
        statuses=team_a(200, WRITERS),
        event=AuditEventType.RELEASE_WITHDRAWN,
    ),
    ApiCase(
        "releases.patch_is_not_allowed",
        "patch",
        lambda w: f"/api/v1/releases/{w.release.pk}/",
        data=lambda w: {"status": "deployed"},
        setup=_release,
        default=405,
        counted=(Release,),
    ),
    ApiCase(
        "releases.approvals.list",
        "get",
        lambda w: f"/api/v1/releases/{w.release.pk}/approvals/",
        statuses=reads(),
        setup=_release,
    ),
    ApiCase(
        # Board members (and platform administrators) get to the envelope's checks: an empty body is a 400 naming
        # the field. The rest of team A may read the release but not sign it; team B does not see it.
        "releases.approvals.create_is_for_board_members",
        "post",
        lambda w: f"/api/v1/releases/{w.release.pk}/approvals/",
        data=lambda w: {},
        setup=_release,
        statuses={**team_a(400, ("superuser", *REVIEWERS))},
        counted=(Approval,),
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)


def test_an_approval_through_the_api_is_written_by_the_signer(world: World, rw: Any) -> None:
    """The successful POST of the matrix's approvals row, which needs the persona's own key and envelope."""
    from tests.governance.factories import sign

    legal = rw.cast.reviewers["legal"]
    private, _ = rw.key_of(legal)
    response = world.client("reviewer_legal").post(
        f"/api/v1/releases/{rw.release.pk}/approvals/", {"envelope": sign(rw.release, legal, private)}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["signer"] == "rita-legal"
    assert body["signed_via"] == "api"
    assert Approval.objects.get().signer == legal


def test_signing_keys_create_refuses_service_accounts(world: World) -> None:
    from rest_framework.test import APIClient

    from core import actions as core_actions

    account = core_actions.do_create_service_account(world.cast.team_a, actor=world.cast.admin_a, username="ci-bot")
    _, token = core_actions.do_create_token(actor=world.cast.admin_a, owner=account.user, name="ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.post("/api/v1/signing-keys/", _new_public_key(world), format="json")
    assert response.status_code == 403
    assert not SigningKey.objects.exists()


_ = actions  # the actions are what the matrix exercises through the API
