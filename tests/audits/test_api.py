"""The audits' API: POST /audits/fairness/ (a job), GET /audit-reports/ and /audit-reports/{id}/.

Each persona of the cast tries each endpoint; then every bad input of a request is a 400 naming the field, with no
job. Nothing here runs Spark (tests/audits/test_audit_job.py does).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from audits.models import AuditReport
from core.choices import AuditEventType
from core.models import Job
from tests.api_cases import PERSONAS, TEAM_A, ApiCase, World, matrix, run_case
from tests.audits.factories import make_credit, make_report
from tests.registry import factories

_empty_cache = factories._empty_cache
artifact_root = factories.artifact_root
world = factories.world

WRITERS = ("superuser", "admin_a", "engineer_a")
READERS = ("superuser", *TEAM_A)


def _credit(world: World) -> dict[str, Any]:
    return make_credit(world.cast.team_a, world.cast.engineer_a, Path(settings.ARTIFACT_ROOT).parent / "models")


def _reported(world: World) -> dict[str, Any]:
    objects = _credit(world)
    report = make_report(objects["model_version"], objects["dataset_version"], world.cast.engineer_a)
    return {**objects, "report": report}


CASES = [
    ApiCase(
        "audits.fairness",
        "post",
        lambda w: "/api/v1/audits/fairness/",
        data=lambda w: {
            "model_version": w.model_version.pk,
            "dataset_version": w.dataset_version.pk,
            "label": "defaulted",
        },
        statuses={**dict.fromkeys(WRITERS, 202), "engineer_b": 400},
        setup=_credit,
        event=AuditEventType.JOB_REQUESTED,
        counted=(Job, AuditReport),
    ),
    ApiCase(
        "audit_reports.list",
        "get",
        lambda w: "/api/v1/audit-reports/",
        statuses=dict.fromkeys(PERSONAS, 200),
        setup=_reported,
        listed=lambda w: w.report.digest,
        visible_to=READERS,
    ),
    ApiCase(
        "audit_reports.detail",
        "get",
        lambda w: f"/api/v1/audit-reports/{w.report.pk}/",
        statuses=dict.fromkeys(READERS, 200),
        default=404,
        setup=_reported,
    ),
]


@pytest.mark.parametrize(("case", "persona"), matrix(CASES))
def test_matrix(case: ApiCase, persona: str, world: World) -> None:
    run_case(case, persona, world)
