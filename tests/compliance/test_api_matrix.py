"""Every retention and legal-hold endpoint, tried by every persona of the cast and by an anonymous client
(tests/api_cases.py).

Team A's compliance officer (and platform administrators) write policies and holds and run retention; everyone in
team A reads them; team B's engineer sees none of it (404, or a 400 naming a team that "does not exist"). A
dataset version's files and a retired model version's artifact are deleted by the owner (the engineer), a team
admin or a superuser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from compliance import actions
from compliance.models import LegalHold, Purge, RetentionPolicy, RetentionPolicyVersion
from core.choices import AuditEventType
from core.models import Job
from tests.api_cases import PERSONAS, TEAM_A, ApiCase, World, matrix, run_case
from tests.compliance.conftest import make_estate
from tests.conftest import make_user

EVERYONE = dict.fromkeys(PERSONAS, 200)
TEAM_A_AND_ROOT = ("superuser", *TEAM_A)
OFFICERS = ("superuser", "compliance")
DELETERS = ("superuser", "admin_a", "engineer_a")
ONNX: list[Path] = []


@pytest.fixture(autouse=True)
def _onnx(onnx_path: Path) -> None:
    ONNX[:] = [onnx_path]


def only(status: int, personas: tuple[str, ...]) -> dict[str, int]:
    return dict.fromkeys(personas, status)


def reads() -> dict[str, int]:
    return {**only(200, TEAM_A_AND_ROOT), "engineer_b": 404}


def team_a(status: int, allowed: tuple[str, ...], *, others: int = 403, outsider: int = 404) -> dict[str, int]:
    return {**only(others, TEAM_A), **only(status, allowed), "engineer_b": outsider}


def _estate(world: World) -> dict[str, Any]:
    estate = make_estate(world.cast, Path(settings.DATA_LAKE_ROOT), ONNX[0])
    return {"estate": estate}


def _policy(world: World) -> dict[str, Any]:
    cast = world.cast
    policy = actions.do_create_retention_policy(
        cast.team_a,
        actor=cast.compliance,
        target_kind="dataset_version_files",
        classification="confidential",
        keep_days=30,
        counted_from="created",
    )
    return {**_estate(world), "policy": policy}


def _purged(world: World) -> dict[str, Any]:
    objects = _estate(world)
    purge = actions.do_delete_record_bytes(objects["estate"].version, actor=world.cast.admin_a, reason="Old.")
    return {**objects, "purge": purge}


def _hold(world: World) -> dict[str, Any]:
    objects = _estate(world)
    hold = actions.do_place_hold(
        world.cast.team_a,
        actor=world.cast.compliance,
        scope="dataset",
        dataset=objects["estate"].dataset,
        case_reference="CASE-MATRIX",
        reason="Litigation.",
    )
    return {**objects, "hold": hold}


def _release_requested(world: World) -> dict[str, Any]:
    from core import actions as core_actions
    from core.choices import Role

    objects = _hold(world)
    other = make_user("olga-compliance")
    core_actions.do_grant_membership(
        world.cast.team_a, actor=world.cast.superuser, user=other, role=Role.COMPLIANCE_OFFICER
    )
    actions.do_request_hold_release(objects["hold"], actor=other, note="Settled.")
    return objects


CASES = [
    # --- retention policies ----------------------------------------------------------------------------------------
    ApiCase(
        "retention.policies.list",
        "get",
        lambda w: "/api/v1/compliance/retention/policies/",
        statuses=EVERYONE,
        setup=_policy,
        listed=lambda w: '"target_kind":"dataset_version_files"',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "retention.policies.detail",
        "get",
        lambda w: f"/api/v1/compliance/retention/policies/{w.policy.pk}/",
        statuses=reads(),
        setup=_policy,
    ),
    ApiCase(
        "retention.policies.create",
        "post",
        lambda w: "/api/v1/compliance/retention/policies/",
        data=lambda w: {
            "team": "team-a",
            "target_kind": "model_artifacts",
            "classification": "internal",
            "keep_days": 365,
            "counted_from": "retired",
        },
        statuses=team_a(201, OFFICERS, outsider=400),
        event=AuditEventType.RETENTION_POLICY_CREATED,
        counted=(RetentionPolicy, RetentionPolicyVersion),
    ),
    ApiCase(
        "retention.policies.create_negative_duration",
        "post",
        lambda w: "/api/v1/compliance/retention/policies/",
        data=lambda w: {
            "team": "team-a",
            "target_kind": "job_logs",
            "classification": "internal",
            "keep_days": -30,
            "counted_from": "finished",
        },
        statuses=team_a(400, OFFICERS, outsider=400),
        counted=(RetentionPolicy, RetentionPolicyVersion),
    ),
    ApiCase(
        "retention.policies.new_version",
        "post",
        lambda w: f"/api/v1/compliance/retention/policies/{w.policy.pk}/versions/",
        data=lambda w: {"keep_days": 60, "note": "Longer, for the audit."},
        setup=_policy,
        statuses=team_a(201, OFFICERS),
        event=AuditEventType.RETENTION_POLICY_CHANGED,
        counted=(RetentionPolicyVersion,),
    ),
    ApiCase(
        "retention.policies.patch_is_not_allowed",
        "patch",
        lambda w: f"/api/v1/compliance/retention/policies/{w.policy.pk}/",
        data=lambda w: {"classification": "public"},
        setup=_policy,
        statuses={"engineer_b": 405},
        default=405,
        counted=(RetentionPolicyVersion,),
    ),
    # --- targets, expiring, runs, tombstones -----------------------------------------------------------------------
    ApiCase("retention.targets", "get", lambda w: "/api/v1/compliance/retention/targets/", statuses=EVERYONE),
    ApiCase(
        "retention.expiring",
        "get",
        lambda w: "/api/v1/compliance/retention/expiring/?within=90",
        statuses=EVERYONE,
        setup=_policy,
        listed=lambda w: str(w.estate.version),
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "retention.runs.dry",
        "post",
        lambda w: "/api/v1/compliance/retention/runs/",
        data=lambda w: {"team": "team-a", "dry_run": True},
        setup=_policy,
        statuses=team_a(202, OFFICERS, outsider=400),
        event=AuditEventType.JOB_REQUESTED,
        counted=(Job, Purge),
    ),
    ApiCase(
        "retention.runs.every_team",
        "post",
        lambda w: "/api/v1/compliance/retention/runs/",
        data=lambda w: {"team": None, "dry_run": False},
        statuses={"superuser": 202},
        event=AuditEventType.JOB_REQUESTED,
        counted=(Job,),
    ),
    ApiCase(
        "retention.purges.list",
        "get",
        lambda w: "/api/v1/compliance/retention/purges/",
        statuses=EVERYONE,
        setup=_purged,
        listed=lambda w: '"target_kind":"dataset_version_files"',
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase(
        "retention.purges.detail",
        "get",
        lambda w: f"/api/v1/compliance/retention/purges/{w.purge.pk}/",
        statuses=reads(),
        setup=_purged,
    ),
    # --- manual deletion -------------------------------------------------------------------------------------------
    ApiCase(
        "deletions.dataset_version_files",
        "post",
        lambda w: f"/api/v1/compliance/dataset-versions/{w.estate.version.pk}/delete-files/",
        data=lambda w: {"reason": "Consent withdrawn."},
        setup=_estate,
        statuses=team_a(200, DELETERS),
        event=AuditEventType.RETENTION_PURGED,
        counted=(Purge,),
    ),
    ApiCase(
        "deletions.model_version_artifact",
        "post",
        lambda w: f"/api/v1/compliance/model-versions/{w.estate.model_version.pk}/delete-artifact/",
        data=lambda w: {"reason": "Retired long ago."},
        setup=_estate,
        statuses=team_a(200, DELETERS),
        event=AuditEventType.RETENTION_PURGED,
        counted=(Purge,),
    ),
    ApiCase(
        "deletions.without_reason",
        "post",
        lambda w: f"/api/v1/compliance/dataset-versions/{w.estate.version.pk}/delete-files/",
        data=lambda w: {},
        setup=_estate,
        statuses=team_a(400, DELETERS),
        counted=(Purge,),
    ),
    # --- legal holds -----------------------------------------------------------------------------------------------
    ApiCase(
        "holds.list",
        "get",
        lambda w: "/api/v1/compliance/holds/",
        statuses=EVERYONE,
        setup=_hold,
        listed=lambda w: "CASE-MATRIX",
        visible_to=TEAM_A_AND_ROOT,
    ),
    ApiCase("holds.detail", "get", lambda w: f"/api/v1/compliance/holds/{w.hold.pk}/", statuses=reads(), setup=_hold),
    ApiCase(
        "holds.place",
        "post",
        lambda w: "/api/v1/compliance/holds/",
        data=lambda w: {
            "team": "team-a",
            "scope": "dataset",
            "dataset": w.estate.dataset.pk,
            "case_reference": "CASE-1",
            "reason": "Regulator's inquiry.",
        },
        setup=_estate,
        statuses=team_a(201, OFFICERS, outsider=400),
        event=AuditEventType.LEGAL_HOLD_PLACED,
        counted=(LegalHold,),
    ),
    ApiCase(
        "holds.request_release",
        "post",
        lambda w: f"/api/v1/compliance/holds/{w.hold.pk}/request-release/",
        data=lambda w: {"note": "The case settled."},
        setup=_hold,
        statuses=team_a(200, OFFICERS),
        event=AuditEventType.LEGAL_HOLD_RELEASE_REQUESTED,
        counted=(LegalHold,),
    ),
    ApiCase(
        "holds.confirm_release",
        "post",
        lambda w: f"/api/v1/compliance/holds/{w.hold.pk}/confirm-release/",
        data=lambda w: {"note": "Checked."},
        setup=_release_requested,
        statuses=team_a(200, OFFICERS),
        event=AuditEventType.LEGAL_HOLD_RELEASED,
        counted=(LegalHold,),
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)
