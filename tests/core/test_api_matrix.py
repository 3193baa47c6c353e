"""Every core endpoint, tried by every persona of the cast and by an anonymous client (see tests/api_cases.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from core import actions
from core.choices import AuditEventType, Role
from core.jobs import dispatch_job
from core.models import ApiToken, AuditCheckpoint, AuditEvent, GroupMapping, Job, Membership, ServiceAccount, Team
from tests.api_cases import PERSONAS, REVIEWERS, TEAM_A, ApiCase, World, matrix, run_case
from tests.core.test_api_notifications import CASES as NOTIFICATION_CASES

User = get_user_model()

EVERYONE = {persona: 200 for persona in PERSONAS}
TEAM_A_AND_ROOT = ("superuser", *TEAM_A)
AUDIT_READERS_A = ("superuser", "admin_a", "compliance", "auditor")
NOT_AUDIT_READERS = ("engineer_a", "engineer_b", *REVIEWERS)


def only(status: int, personas: tuple[str, ...] | list[str]) -> dict[str, int]:
    return dict.fromkeys(personas, status)


def _group_mapping(world: World) -> dict[str, Any]:
    mapping = actions.do_create_group_mapping(
        actor=world.cast.superuser, idp_group="ml-engineers", team=world.cast.team_a, role=Role.ENGINEER
    )
    return {"mapping": mapping}


def _engineer_a_membership(world: World) -> dict[str, Any]:
    return {"membership": Membership.objects.get(user=world.cast.engineer_a, team=world.cast.team_a)}


def _service_account(world: World) -> dict[str, Any]:
    account = actions.do_create_service_account(world.cast.team_a, actor=world.cast.admin_a, username="svc-matrix")
    return {"account": account}


def _personal_token(world: World) -> dict[str, Any]:
    token, _ = actions.do_create_token(actor=world.cast.engineer_a, name="matrix-token")
    return {"token": token}


def _service_token(world: World) -> dict[str, Any]:
    account = _service_account(world)["account"]
    token, _ = actions.do_create_token(actor=world.cast.admin_a, owner=account.user, name="matrix-service-token")
    return {"account": account, "token": token}


def _events(world: World) -> dict[str, Any]:
    granted = AuditEvent.objects.filter(event_type=AuditEventType.MEMBERSHIP_GRANTED)
    return {
        "event_a": granted.get(team_slug="team-a", target_repr__startswith="erin-engineer"),
        "event_b": granted.get(team_slug="team-b"),
    }


def _jobs(world: World) -> dict[str, Any]:
    team_job, _ = dispatch_job("audit.verify", actor=world.cast.engineer_a, team=world.cast.team_a)
    own_job, _ = dispatch_job("audit.verify", actor=world.cast.engineer_b)
    return {"team_job": team_job, "own_job": own_job}


CASES = [
    # --- me --------------------------------------------------------------------------------------------------------
    ApiCase("me.get", "get", lambda w: "/api/v1/me/", statuses=EVERYONE),
    ApiCase("me.patch_empty", "patch", lambda w: "/api/v1/me/", data=lambda w: {}, statuses=EVERYONE),
    # --- teams -----------------------------------------------------------------------------------------------------
    ApiCase(
        "teams.list_a",
        "get",
        lambda w: "/api/v1/teams/",
        statuses=EVERYONE,
        listed=lambda w: '"slug":"team-a"',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "teams.list_b",
        "get",
        lambda w: "/api/v1/teams/",
        statuses=EVERYONE,
        listed=lambda w: '"slug":"team-b"',
        visible_to=("superuser", "engineer_b"),
    ),
    ApiCase("teams.detail", "get", lambda w: "/api/v1/teams/team-a/", statuses=only(200, TEAM_A_AND_ROOT), default=404),
    ApiCase(
        "teams.create",
        "post",
        lambda w: "/api/v1/teams/",
        data=lambda w: {"slug": "team-new", "name": "New team"},
        statuses={"superuser": 201},
        default=403,
        event=AuditEventType.TEAM_CREATED,
        counted=(Team,),
    ),
    ApiCase(
        "teams.update",
        "patch",
        lambda w: "/api/v1/teams/team-a/",
        data=lambda w: {"description": "Changed."},
        statuses={**only(403, TEAM_A), "superuser": 200, "admin_a": 200},
        default=404,
        event=AuditEventType.TEAM_UPDATED,
        counted=(Team,),
    ),
    ApiCase(
        "teams.delete",
        "delete",
        lambda w: "/api/v1/teams/team-a/",
        statuses=only(405, PERSONAS),
        counted=(Team,),
    ),
    # --- memberships -----------------------------------------------------------------------------------------------
    ApiCase(
        "memberships.list_a",
        "get",
        lambda w: "/api/v1/memberships/",
        statuses=EVERYONE,
        listed=lambda w: '"user":"erin-engineer"',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "memberships.list_b",
        "get",
        lambda w: "/api/v1/memberships/",
        statuses=EVERYONE,
        listed=lambda w: '"user":"bob-engineer"',
        visible_to=("superuser", "engineer_b"),
    ),
    ApiCase(
        "memberships.detail",
        "get",
        lambda w: f"/api/v1/memberships/{w.membership.pk}/",
        setup=_engineer_a_membership,
        statuses=only(200, TEAM_A_AND_ROOT),
        default=404,
    ),
    ApiCase(
        "memberships.grant",
        "post",
        lambda w: "/api/v1/memberships/",
        data=lambda w: {"team": "team-a", "user": "bob-engineer", "role": Role.AUDITOR},
        # engineer_b cannot see team A: to them it does not exist (400 naming "team"), like a missing slug.
        statuses={**only(403, TEAM_A), "superuser": 201, "admin_a": 201, "engineer_b": 400},
        event=AuditEventType.MEMBERSHIP_GRANTED,
        counted=(Membership,),
    ),
    ApiCase(
        "memberships.revoke",
        "delete",
        lambda w: f"/api/v1/memberships/{w.membership.pk}/",
        setup=_engineer_a_membership,
        statuses={**only(403, TEAM_A), "superuser": 204, "admin_a": 204},
        default=404,
        event=AuditEventType.MEMBERSHIP_REVOKED,
        counted=(Membership,),
    ),
    ApiCase(
        "memberships.update",
        "patch",
        lambda w: f"/api/v1/memberships/{w.membership.pk}/",
        setup=_engineer_a_membership,
        data=lambda w: {"role": Role.ADMIN},
        # Memberships are granted and revoked, never edited. 405 says nothing about the id, so it comes first.
        statuses=only(405, PERSONAS),
        counted=(Membership,),
    ),
    # --- service accounts ------------------------------------------------------------------------------------------
    ApiCase(
        "service_accounts.list",
        "get",
        lambda w: "/api/v1/service-accounts/",
        setup=_service_account,
        statuses=EVERYONE,
        listed=lambda w: '"username":"svc-matrix"',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "service_accounts.detail",
        "get",
        lambda w: f"/api/v1/service-accounts/{w.account.pk}/",
        setup=_service_account,
        statuses=only(200, TEAM_A_AND_ROOT),
        default=404,
    ),
    ApiCase(
        "service_accounts.create",
        "post",
        lambda w: "/api/v1/service-accounts/",
        data=lambda w: {"username": "svc-new", "team": "team-a", "description": "deploys"},
        statuses={**only(403, TEAM_A), "superuser": 201, "admin_a": 201, "engineer_b": 400},
        event=AuditEventType.SERVICE_ACCOUNT_CREATED,
        counted=(ServiceAccount, User, Membership),
    ),
    # --- tokens ----------------------------------------------------------------------------------------------------
    ApiCase(
        "tokens.list",
        "get",
        lambda w: "/api/v1/tokens/",
        setup=_personal_token,
        statuses=EVERYONE,
        listed=lambda w: '"name":"matrix-token"',
        visible_to=("superuser", "engineer_a"),
    ),
    ApiCase(
        "tokens.detail",
        "get",
        lambda w: f"/api/v1/tokens/{w.token.pk}/",
        setup=_personal_token,
        statuses={"superuser": 200, "engineer_a": 200},
        default=404,
    ),
    ApiCase(
        "tokens.create_personal",
        "post",
        lambda w: "/api/v1/tokens/",
        data=lambda w: {"name": "laptop", "ttl_days": 7},
        statuses={persona: 201 for persona in PERSONAS},
        event=AuditEventType.TOKEN_CREATED,
        counted=(ApiToken,),
    ),
    ApiCase(
        "tokens.create_for_service_account",
        "post",
        lambda w: "/api/v1/tokens/",
        setup=_service_account,
        data=lambda w: {"name": "deploy", "service_account": "svc-matrix"},
        # Out of reach reads as absent: 400 naming service_account, exactly as for a name that does not exist.
        statuses={"superuser": 201, "admin_a": 201},
        default=400,
        event=AuditEventType.TOKEN_CREATED,
        counted=(ApiToken,),
    ),
    ApiCase(
        "tokens.revoke",
        "post",
        lambda w: f"/api/v1/tokens/{w.token.pk}/revoke/",
        setup=_personal_token,
        statuses={"superuser": 200, "engineer_a": 200},
        default=404,
        event=AuditEventType.TOKEN_REVOKED,
    ),
    ApiCase(
        "tokens.delete",
        "delete",
        lambda w: f"/api/v1/tokens/{w.token.pk}/",
        setup=_personal_token,
        statuses={"superuser": 204, "engineer_a": 204},
        default=404,
        event=AuditEventType.TOKEN_REVOKED,
    ),
    ApiCase(
        "tokens.revoke_service_token",
        "post",
        lambda w: f"/api/v1/tokens/{w.token.pk}/revoke/",
        setup=_service_token,
        statuses={"superuser": 200, "admin_a": 200},
        default=404,
        event=AuditEventType.TOKEN_REVOKED,
    ),
    ApiCase(
        "tokens.update",
        "patch",
        lambda w: f"/api/v1/tokens/{w.token.pk}/",
        setup=_personal_token,
        data=lambda w: {"name": "renamed"},
        statuses=only(405, PERSONAS),
    ),
    # --- audit events ----------------------------------------------------------------------------------------------
    ApiCase(
        "audit_events.list_a",
        "get",
        lambda w: "/api/v1/audit-events/?page_size=200",
        statuses=only(200, AUDIT_READERS_A),
        listed=lambda w: '"team_slug":"team-a"',
        visible_to=AUDIT_READERS_A,
    ),
    ApiCase(
        "audit_events.list_b",
        "get",
        lambda w: "/api/v1/audit-events/?page_size=200",
        statuses=only(200, AUDIT_READERS_A),
        listed=lambda w: '"team_slug":"team-b"',
        visible_to=("superuser",),
    ),
    ApiCase(
        "audit_events.detail_a",
        "get",
        lambda w: f"/api/v1/audit-events/{w.event_a.seq}/",
        setup=_events,
        statuses=only(200, AUDIT_READERS_A),
    ),
    ApiCase(
        "audit_events.detail_b",
        "get",
        lambda w: f"/api/v1/audit-events/{w.event_b.seq}/",
        setup=_events,
        statuses={**only(404, AUDIT_READERS_A), "superuser": 200},
    ),
    ApiCase(
        "audit_events.create",
        "post",
        lambda w: "/api/v1/audit-events/",
        data=lambda w: {"event_type": "team.created"},
        statuses=only(405, AUDIT_READERS_A),
        counted=(AuditEvent,),
    ),
    ApiCase(
        "audit_events.delete",
        "delete",
        lambda w: f"/api/v1/audit-events/{w.event_a.seq}/",
        setup=_events,
        statuses=only(405, AUDIT_READERS_A),
        counted=(AuditEvent,),
    ),
    ApiCase(
        "audit_events.verify", "get", lambda w: "/api/v1/audit-events/verify/", statuses=only(200, AUDIT_READERS_A)
    ),
    # --- audit checkpoints and verifications -----------------------------------------------------------------------
    ApiCase(
        "audit_checkpoints.list", "get", lambda w: "/api/v1/audit-checkpoints/", statuses=only(200, AUDIT_READERS_A)
    ),
    ApiCase(
        "audit_checkpoints.request",
        "post",
        lambda w: "/api/v1/audit-checkpoints/",
        data=lambda w: {},
        statuses=only(202, AUDIT_READERS_A),
        event=AuditEventType.JOB_REQUESTED,
        counted=(Job, AuditCheckpoint),
    ),
    ApiCase(
        "audit_verifications.request",
        "post",
        lambda w: "/api/v1/audit-verifications/",
        data=lambda w: {"idempotency_key": "nightly-1"},
        statuses=only(202, AUDIT_READERS_A),
        event=AuditEventType.JOB_REQUESTED,
        counted=(Job,),
    ),
    # --- jobs ------------------------------------------------------------------------------------------------------
    ApiCase(
        "jobs.list_team",
        "get",
        lambda w: "/api/v1/jobs/",
        setup=_jobs,
        statuses=EVERYONE,
        listed=lambda w: str(w.team_job.public_id),
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "jobs.list_own",
        "get",
        lambda w: "/api/v1/jobs/",
        setup=_jobs,
        statuses=EVERYONE,
        listed=lambda w: str(w.own_job.public_id),
        visible_to=("superuser", "engineer_b"),
    ),
    ApiCase(
        "jobs.detail",
        "get",
        lambda w: f"/api/v1/jobs/{w.team_job.public_id}/",
        setup=_jobs,
        statuses=only(200, TEAM_A_AND_ROOT),
        default=404,
    ),
    ApiCase(
        "jobs.cancel",
        "post",
        lambda w: f"/api/v1/jobs/{w.team_job.public_id}/cancel/",
        setup=_jobs,
        # The requester (engineer_a) and the team's admin; other members see it but may not stop it.
        statuses={**only(403, TEAM_A), "superuser": 200, "admin_a": 200, "engineer_a": 200},
        default=404,
        event=AuditEventType.JOB_CANCEL_REQUESTED,
        counted=(Job,),
    ),
    ApiCase(
        "jobs.cancel_own_teamless",
        "post",
        lambda w: f"/api/v1/jobs/{w.own_job.public_id}/cancel/",
        setup=_jobs,
        statuses={"superuser": 200, "engineer_b": 200},
        default=404,
        event=AuditEventType.JOB_CANCEL_REQUESTED,
    ),
    # --- group mappings (single sign-on) ---------------------------------------------------------------------------
    ApiCase(
        "group_mappings.list",
        "get",
        lambda w: "/api/v1/group-mappings/",
        setup=_group_mapping,
        statuses={"superuser": 200},
        listed=lambda w: '"idp_group":"ml-engineers"',
        visible_to=("superuser",),
    ),
    ApiCase(
        "group_mappings.create",
        "post",
        lambda w: "/api/v1/group-mappings/",
        data=lambda w: {"idp_group": "auditors", "team": "team-a", "role": Role.AUDITOR},
        statuses={"superuser": 201},
        event=AuditEventType.SSO_MAPPING_CREATED,
        counted=(GroupMapping,),
    ),
    ApiCase(
        "group_mappings.create_reserved_group",
        "post",
        lambda w: "/api/v1/group-mappings/",
        data=lambda w: {"idp_group": "Superuser", "team": "team-a", "role": Role.ADMIN},
        statuses={"superuser": 400},
        counted=(GroupMapping,),
    ),
    ApiCase(
        "group_mappings.create_superuser_role",
        "post",
        lambda w: "/api/v1/group-mappings/",
        data=lambda w: {"idp_group": "it", "team": "team-a", "role": "superuser"},
        statuses={"superuser": 400},
        counted=(GroupMapping,),
    ),
    ApiCase(
        "group_mappings.create_is_superuser",
        "post",
        lambda w: "/api/v1/group-mappings/",
        data=lambda w: {"idp_group": "it", "team": "team-a", "role": Role.ADMIN, "is_superuser": True},
        statuses={"superuser": 400},
        counted=(GroupMapping,),
    ),
    ApiCase(
        "group_mappings.delete",
        "delete",
        lambda w: f"/api/v1/group-mappings/{w.mapping.pk}/",
        setup=_group_mapping,
        statuses={"superuser": 204},
        event=AuditEventType.SSO_MAPPING_DELETED,
        counted=(GroupMapping,),
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES))
def test_permission_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)


def test_every_core_route_is_in_the_matrix() -> None:
    """A route added to core's API without a row in CASES fails here, so the matrix cannot quietly fall behind."""
    from core.api.urls import router

    # The notification routes have their matrix beside their other tests (tests/core/test_api_notifications.py).
    covered = {case.name.split(".")[0] for case in [*CASES, *NOTIFICATION_CASES]}
    registered = {prefix.replace("-", "_") for prefix, _, _ in router.registry}
    assert registered, "no routes found in core's router"
    assert registered <= covered, f"no matrix rows for: {sorted(registered - covered)}"
